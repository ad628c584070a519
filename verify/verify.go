package verify

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"filippo.io/age"
	"github.com/jackc/pgx/v5"
	"github.com/klauspost/compress/gzip"

	"github.com/starmig/starmig/archive"
	"github.com/starmig/starmig/internal/parallel"
	"github.com/starmig/starmig/internal/pgsession"
	"github.com/starmig/starmig/internal/words"
	"github.com/starmig/starmig/mapping"
)

// Levels of verification (ARCHIVE.md, Verification).
const (
	List   = "list"   // catalogs, signatures, every object there with its size, locks
	Sample = "sample" // list, and a rotating random sample of payload objects hashed
	Full   = "full"   // list, and every object hashed, BagIt validity
)

// Options say what to verify and with what.
type Options struct {
	Store archive.Store
	Pub   archive.SigningKeys // the signing key in use and those it replaced
	Batch string              // empty: every batch
	Level string
	// Sample size: a percentage of the payload objects, or a byte budget.
	Percent float64
	Budget  int64
	// Seed picks the sample; the same seed gives the same sample. Callers
	// pass the day number by default, so daily runs rotate through
	// everything.
	Seed uint64
	// Identities, when set, make it a key holder's check: each bundle's
	// encrypted contents are decrypted and held against the catalog, at
	// every level, and the payloads read (sample, full) are decrypted,
	// their plaintext digests and row counts checked.
	Identities []age.Identity
	// Drill, when set, restores sampled bundles into a scratch schema of
	// this database and compares counts and money sums with the catalog.
	Drill    *pgx.Conn
	Parallel int
	Log      *slog.Logger
	Progress func(done, total int64) // bytes hashed so far
	// Grace: a run without a signed catalog whose newest object the store
	// wrote less than Grace before Now is taken to be still being written,
	// and noted rather than reported. Zero (or no Now) reports every such
	// run.
	Grace time.Duration
	Now   func() time.Time
	// LocksEndingBy, with Now, notes each run whose locks end before it
	// (and those that have ended): after that date the storage lets its
	// objects be deleted, and `starmig retain` can lengthen the locks
	// while there is time. Zero notes only locks that have ended.
	LocksEndingBy time.Time
	// OnRecord, with Identities, is called once before anything is
	// decrypted, at every level, with the catalogs of the runs whose
	// contents and payloads may be read. The archive's
	// promise is that every read is on record: an error stops the check
	// before anything is decrypted.
	OnRecord func(cats []*archive.Catalog) error
}

// Finding is one thing wrong, naming where.
type Finding struct {
	Batch   string `json:"batch,omitempty"`
	Run     string `json:"run,omitempty"`
	Bundle  string `json:"bundle,omitempty"`
	Object  string `json:"object,omitempty"`
	Problem string `json:"problem"`
}

func (f Finding) String() string {
	if where := f.Where(); where != "" {
		return where + ": " + f.Problem
	}
	return f.Problem
}

// Where names what the finding is about: the object's key, which names
// its batch, run and bundle, or the bundle, run or batch; "" for the store
// itself.
func (f Finding) Where() string {
	switch {
	case f.Object != "":
		return f.Object
	case f.Bundle != "":
		return "batch " + f.Batch + " run " + f.Run + " bundle " + f.Bundle
	case f.Run != "":
		return "batch " + f.Batch + " run " + f.Run
	case f.Batch != "":
		return "batch " + f.Batch
	}
	return ""
}

// Report is the result of a verification.
type Report struct {
	Store     string `json:"store"`
	Level     string `json:"level"`
	Seed      uint64 `json:"seed"`
	KeyHolder bool   `json:"key_holder"`
	Drill     bool   `json:"restore_drill"`
	Locks     bool   `json:"locks_checked"`
	Runs      int    `json:"runs"`
	Bundles   int    `json:"bundles"`
	Objects   int    `json:"objects"`
	Hashed    int    `json:"objects_hashed"`
	BytesRead int64  `json:"bytes_read"`
	// Sampled names the objects a sample read and hashed, so that a
	// finding can be reproduced and coverage followed over the runs.
	Sampled []string `json:"sampled_objects,omitempty"`
	// LocksEnding are the runs whose locks end before Options.LocksEndingBy
	// or have ended, each also a note: for a monitor, which should not
	// read notes' words.
	LocksEnding []LockEnd `json:"locks_ending,omitempty"`
	Notes       []string  `json:"notes"`
	Findings    []Finding `json:"findings"`
	mu          sync.Mutex
	sampled     map[string]bool // bundles whose payload was read
}

// OK reports whether nothing was found.
func (r *Report) OK() bool { return len(r.Findings) == 0 }

// note adds a note, which may quote a key of the store, as Printable
// text.
func (r *Report) note(n string) {
	r.mu.Lock()
	r.Notes = append(r.Notes, words.Printable(n))
	r.mu.Unlock()
}

func (r *Report) add(f Finding) {
	// A finding may quote what the archive holds (a key, a tag file's
	// value): as text a terminal shows, never as its control sequences.
	for _, s := range []*string{&f.Batch, &f.Run, &f.Bundle, &f.Object, &f.Problem} {
		*s = words.Printable(*s)
	}
	r.mu.Lock()
	r.Findings = append(r.Findings, f)
	r.mu.Unlock()
}

// ErrCannotRun wraps every error that stopped a verification from running
// (storage unreachable, credentials refused): not a finding about the
// archive.
var ErrCannotRun = errors.New("verification could not run")

func cannot(err error) error { return fmt.Errorf("%w: %v", ErrCannotRun, err) }

// run is what verification knows of one archive run.
type run struct {
	batch, run string
	cat        *archive.Catalog
}

// Verify checks the archive. It returns a report with every finding; an
// error only when verification itself could not run.
func Verify(ctx context.Context, o Options) (*Report, error) {
	if o.Level == "" {
		o.Level = List
	}
	if o.Level != List && o.Level != Sample && o.Level != Full {
		return nil, fmt.Errorf("verify: level %q: want list, sample or full", o.Level)
	}
	if o.Parallel <= 0 {
		o.Parallel = 8
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Level == Sample && o.Percent <= 0 && o.Budget <= 0 {
		o.Percent = 5
	}
	rep := &Report{Store: o.Store.String(), Level: o.Level, Seed: o.Seed, KeyHolder: len(o.Identities) > 0, Drill: o.Drill != nil, Locks: o.Store.Locks(), Notes: []string{}, Findings: []Finding{}}
	if !o.Store.Locks() {
		rep.note("the store is a local folder: it cannot lock objects, so retention and versions are not checked")
	} else if err := o.Store.CheckWritable(ctx); err != nil {
		if !errors.Is(err, archive.ErrNoLock) {
			return nil, cannot(err)
		}
		rep.add(Finding{Problem: "the bucket has no Object Lock: nothing stops a delete or an overwrite"})
	}

	// Everything stored, in one listing.
	objects := map[string]archive.ObjectInfo{}
	prefix := archive.BatchesPrefix
	if o.Batch != "" {
		prefix += o.Batch + "/"
	}
	if err := o.Store.List(ctx, prefix, func(info archive.ObjectInfo) error {
		objects[info.Key] = info
		return nil
	}); err != nil {
		return nil, cannot(err)
	}
	runs := archive.RunsOf(slices.Collect(maps.Keys(objects)))
	if len(runs) == 0 {
		problem := "no archive run in the store"
		var batches []string
		if o.Batch != "" {
			// Which batches there are tells a misspelt name from a lost batch.
			all, err := archive.ListRuns(ctx, o.Store, "")
			if err != nil {
				return nil, cannot(err)
			}
			batches = archive.BatchesOf(all, false)
		}
		if len(batches) > 0 {
			problem += " (it holds batch " + strings.Join(batches, ", ") + ")"
		} else {
			// An --archive a folder or two too high is no lost archive.
			where, err := archive.Elsewhere(ctx, o.Store, true)
			if err != nil {
				return nil, cannot(err)
			}
			if where != "" {
				problem += "; " + where
			}
		}
		rep.add(Finding{Batch: o.Batch, Problem: problem})
	}
	var good []run
	expected := map[string]int64{}   // key → size
	policy := map[string]time.Time{} // key → retain-until the catalog promises
	for _, r := range runs {
		if !r.Complete {
			continue
		}
		rep.Runs++
		cat, _, err := archive.ReadCatalog(ctx, o.Store, o.Pub, r.Batch, r.Run)
		prefix := archive.RunPrefix(r.Batch, r.Run)
		expected[prefix+archive.CatalogFile] = -1
		expected[prefix+archive.CatalogSig] = -1
		if err != nil {
			if isCannot(err) {
				return nil, cannot(err)
			}
			rep.add(Finding{Batch: r.Batch, Run: r.Run, Object: prefix + archive.CatalogFile, Problem: "catalog does not verify: " + errText(err)})
			// Its objects cannot be accounted for; they are not reported again as extra.
			for k := range objects {
				if strings.HasPrefix(k, prefix) {
					expected[k] = -1
				}
			}
			continue
		}
		policy[prefix+archive.CatalogFile] = cat.RetainUntil
		policy[prefix+archive.CatalogSig] = cat.RetainUntil
		for _, b := range cat.Bundles {
			rep.Bundles++
			for _, obj := range b.Objects {
				expected[b.Prefix+obj.Path] = obj.Size
				policy[b.Prefix+obj.Path] = cat.RetainUntil
			}
		}
		// Objects of an interrupted run were locked by that run, until a
		// date its catalog, never written, would have named: earlier than
		// this run's with a --retention counted from each run's start. They
		// are held to one version in COMPLIANCE mode, not to this date.
		for _, a := range cat.Abandoned {
			expected[a.Path] = a.Size
		}
		good = append(good, run{r.Batch, r.Run, cat})
	}
	// A catalog accounts for the interrupted runs of every batch; with
	// --batch, those of other batches are outside the listing above.
	listed := map[string]bool{}
	for _, r := range good {
		for _, a := range r.cat.Abandoned {
			batch, runName := splitRun(groupOf(a.Path))
			runPrefix := archive.RunPrefix(batch, runName)
			if strings.HasPrefix(a.Path, prefix) || listed[runPrefix] {
				continue
			}
			listed[runPrefix] = true
			if err := o.Store.List(ctx, runPrefix, func(info archive.ObjectInfo) error {
				objects[info.Key] = info
				return nil
			}); err != nil {
				return nil, cannot(err)
			}
		}
	}
	// Missing and wrong-sized objects, by bundle.
	for _, r := range good {
		for _, b := range r.cat.Bundles {
			missing := 0
			for _, obj := range b.Objects {
				if _, ok := objects[b.Prefix+obj.Path]; !ok {
					missing++
				}
			}
			if missing == len(b.Objects) {
				rep.add(Finding{Batch: r.batch, Run: r.run, Bundle: b.ID, Object: b.Prefix, Problem: "bundle missing: none of its objects is there"})
				continue
			}
			for _, obj := range b.Objects {
				key := b.Prefix + obj.Path
				info, ok := objects[key]
				switch {
				case !ok:
					rep.add(Finding{Batch: r.batch, Run: r.run, Bundle: b.ID, Object: key, Problem: "missing"})
				case info.Size != obj.Size:
					rep.add(Finding{Batch: r.batch, Run: r.run, Bundle: b.ID, Object: key, Problem: fmt.Sprintf("size %d, the catalog says %d", info.Size, obj.Size)})
				}
			}
		}
		for _, a := range r.cat.Abandoned {
			if info, ok := objects[a.Path]; !ok || info.Size != a.Size {
				rep.add(Finding{Batch: r.batch, Run: r.run, Object: a.Path, Problem: "object of an interrupted run, accounted for in the catalog, is missing or changed size"})
			}
		}
	}
	// The objects of runs without a signed catalog that no catalog
	// accounts for: a run being written now, or one interrupted.
	incomplete := map[string]bool{}
	for _, r := range runs {
		if !r.Complete {
			incomplete[archive.RunPrefix(r.Batch, r.Run)] = true
		}
	}
	type unsignedRun struct {
		newest time.Time // when the store last wrote to it
		keys   []string
	}
	unsigned := map[string]*unsignedRun{}
	for k, info := range objects {
		p := archive.RunPrefix(splitRun(groupOf(k)))
		if _, ok := expected[k]; ok || !incomplete[p] {
			continue
		}
		u := unsigned[p]
		if u == nil {
			u = &unsignedRun{newest: info.Modified}
			unsigned[p] = u
		}
		if info.Modified.After(u.newest) {
			u.newest = info.Modified
		}
		u.keys = append(u.keys, k)
	}
	for _, p := range sortedKeys(unsigned) {
		u := unsigned[p]
		if o.Now == nil || o.Grace <= 0 || o.Now().Sub(u.newest) > o.Grace {
			continue
		}
		for _, k := range u.keys {
			expected[k] = -1
		}
		rep.note(fmt.Sprintf("%s: %s without a signed catalog, the newest written %s: taken to be a run still being written. "+
			"If none is, it was interrupted: the next archive run of any batch accounts for it, and verification reports it once it is %s old",
			p, words.Count(len(u.keys), "object"), u.newest.UTC().Format(time.RFC3339), shortDuration(o.Grace)))
	}
	// Anything else is extra: reported once per unknown bundle or run.
	extra := map[string][]string{}
	for k := range objects {
		if _, ok := expected[k]; ok {
			continue
		}
		extra[groupOf(k)] = append(extra[groupOf(k)], k)
	}
	for _, g := range sortedKeys(extra) {
		keys := extra[g]
		slices.Sort(keys)
		batch, runName := splitRun(g)
		problem := "not in any signed catalog (" + words.Count(len(keys), "object") + ")"
		if len(keys) == 1 {
			g, problem = keys[0], "not in any signed catalog"
		}
		if u, ok := unsigned[archive.RunPrefix(batch, runName)]; ok {
			problem += fmt.Sprintf("; its run has no signed catalog and was last written %s: interrupted, and not yet accounted for by a later run", u.newest.UTC().Format(time.RFC3339))
		}
		rep.add(Finding{Batch: batch, Run: runName, Object: g, Problem: problem})
	}
	rep.Objects = len(objects)
	// Locks: one version, COMPLIANCE, retained at least as long as promised.
	if o.Store.Locks() {
		for _, k := range sortedKeys(objects) {
			info := objects[k]
			if info.Versions != 1 {
				rep.add(Finding{Object: k, Problem: fmt.Sprintf("%d versions of the key, want 1", info.Versions)})
			}
			if info.Mode != "COMPLIANCE" {
				rep.add(Finding{Object: k, Problem: fmt.Sprintf("retention mode %q, want COMPLIANCE", info.Mode)})
			}
			if want, ok := policy[k]; ok && info.RetainUntil.Before(want) {
				rep.add(Finding{Object: k, Problem: fmt.Sprintf("locked until %s, the policy says at least %s", when(info.RetainUntil, want), when(want, info.RetainUntil))})
			}
		}
		if err := checkAuditLocks(ctx, o.Store, rep); err != nil {
			return nil, cannot(err)
		}
		if o.Now != nil {
			noteLocksEnding(rep, good, objects, o.Now(), o.LocksEndingBy)
		}
	}
	// Signatures of every bundle's tag manifest, and the tag files.
	type job struct {
		r run
		b archive.BundleEntry
	}
	var jobs []job
	for _, r := range good {
		for _, b := range r.cat.Bundles {
			jobs = append(jobs, job{r, b})
		}
	}
	checked := make([]*bundleCheck, len(jobs))
	if err := parallel.Do(len(jobs), o.Parallel, func(i int) error {
		var err error
		checked[i], err = checkTags(ctx, o, jobs[i].r, jobs[i].b, objects, rep)
		return err
	}); err != nil {
		return nil, cannot(err)
	}
	bundles := map[string]*bundleCheck{}
	for i, bc := range checked {
		if bc != nil {
			bundles[jobs[i].b.ID] = bc
		}
	}
	// Key holders, at every level: each bundle's encrypted contents,
	// decrypted and held against the catalog.
	var contents map[string]*archive.Bundle
	if len(o.Identities) > 0 && len(good) > 0 {
		if o.OnRecord != nil {
			cats := make([]*archive.Catalog, len(good))
			for i, r := range good {
				cats[i] = r.cat
			}
			if err := o.OnRecord(cats); err != nil {
				return nil, cannot(err)
			}
		}
		var err error
		if contents, err = checkContents(ctx, o, good, bundles, rep); err != nil {
			return nil, err
		}
	}
	// Fixity: read and hash a sample, or everything.
	if o.Level != List {
		if err := fixity(ctx, o, good, bundles, objects, contents, rep); err != nil {
			return nil, err
		}
	}
	if o.Drill != nil {
		if err := drill(ctx, o, good, bundles, rep.sampled, rep); err != nil {
			return nil, err
		}
	}
	sort.SliceStable(rep.Findings, func(i, j int) bool { return rep.Findings[i].String() < rep.Findings[j].String() })
	return rep, nil
}

// when is t's day, or its time to the second when other falls on the same
// day, so that two different dates never print the same.
func when(t, other time.Time) string {
	t, other = t.UTC(), other.UTC()
	if t.Format(time.DateOnly) == other.Format(time.DateOnly) {
		return t.Format(time.RFC3339Nano)
	}
	return t.Format(time.DateOnly)
}

func errText(err error) string {
	s := err.Error()
	return strings.TrimPrefix(s, "archive: ")
}

// isCannot tells storage failures from what the archive holds: anything
// but a missing object, a bad signature or bad content is the store's.
func isCannot(err error) bool {
	// A run written by a later starmig is no fault of the archive's.
	var later *archive.FormatError
	if errors.As(err, &later) || errors.As(err, new(*archive.KeyError)) {
		return true
	}
	if errors.Is(err, archive.ErrNotExist) || errors.Is(err, archive.ErrBadSignature) {
		return false
	}
	s := err.Error()
	for _, content := range []string{"format", "names batch", "outside its run", "invalid character", "unexpected end of JSON", "cannot unmarshal", "larger than"} {
		if strings.Contains(s, content) {
			return false
		}
	}
	return true
}

// LockEnd is a run whose locks end soon, or have ended.
type LockEnd struct {
	Batch string    `json:"batch"`
	Run   string    `json:"run"`
	Ends  time.Time `json:"ends"` // the earliest end of its objects' locks
	Ended bool      `json:"ended"`
}

// noteLocksEnding notes each run whose objects' locks end before by, or
// have ended by now: the lock that keeps a run from being deleted lasts
// as long as the retention it was written with, and an archive that must
// be kept longer needs its locks lengthened before they end, which
// nothing else would tell.
func noteLocksEnding(rep *Report, good []run, objects map[string]archive.ObjectInfo, now, by time.Time) {
	ends := map[string]time.Time{} // run prefix → the earliest end of its objects' locks
	for k, info := range objects {
		batch, runName := splitRun(k)
		if runName == "" || info.RetainUntil.IsZero() {
			continue
		}
		prefix := archive.RunPrefix(batch, runName)
		if first, ok := ends[prefix]; !ok || info.RetainUntil.Before(first) {
			ends[prefix] = info.RetainUntil
		}
	}
	var ended, ending []LockEnd
	for _, r := range good {
		first := ends[archive.RunPrefix(r.batch, r.run)]
		switch {
		case first.IsZero():
		case !first.After(now):
			ended = append(ended, LockEnd{r.batch, r.run, first, true})
		case first.Before(by):
			ending = append(ending, LockEnd{r.batch, r.run, first, false})
		}
	}
	rep.LocksEnding = append(ended, ending...)
	noteLocks(rep, ended, "ended on %s: the storage now lets its objects be deleted; starmig retain locks them again for as long as the run must be kept",
		"ended between %s and %s: the storage now lets their objects be deleted; starmig retain locks them again for as long as the runs must be kept", now)
	noteLocks(rep, ending, "end on %s, in %s: the storage will then let its objects be deleted; if the run must be kept longer, lengthen them before then with starmig retain",
		"end between %s and %s: the storage will then let their objects be deleted; if the runs must be kept longer, lengthen them before then with starmig retain", now)
}

// noteLocks notes runs whose locks end (or ended): each in a note of its
// own, or, more than a few, in one note, so that the runs one retention
// locked, ending in the same weeks, do not fill the report; --json lists
// each. one words a run's note (its date, and for locks still in force
// the days left), many the note of several (the first and last date).
func noteLocks(rep *Report, runs []LockEnd, one, many string, now time.Time) {
	if len(runs) > 3 {
		first, last := runs[0].Ends, runs[0].Ends
		for _, r := range runs {
			if r.Ends.Before(first) {
				first = r.Ends
			}
			if r.Ends.After(last) {
				last = r.Ends
			}
		}
		rep.note(fmt.Sprintf("%d runs: their locks ", len(runs)) + fmt.Sprintf(many, first.Format(time.DateOnly), last.Format(time.DateOnly)) +
			" (each is under locks_ending in --json)")
		return
	}
	for _, r := range runs {
		args := []any{r.Ends.Format(time.DateOnly)}
		if !r.Ended {
			args = append(args, words.Count(int(r.Ends.Sub(now).Hours()/24), "day"))
		}
		rep.note(fmt.Sprintf("batch %s run %s: its locks ", r.Batch, r.Run) + fmt.Sprintf(one, args...))
	}
}

// groupOf is the bundle (or run) prefix an unexpected object belongs to.
func groupOf(key string) string {
	parts := strings.SplitN(strings.TrimPrefix(key, archive.BatchesPrefix), "/", 4)
	if len(parts) >= 4 {
		return archive.BatchesPrefix + strings.Join(parts[:3], "/") + "/"
	}
	return key
}

func splitRun(g string) (string, string) {
	parts := strings.SplitN(strings.TrimPrefix(g, archive.BatchesPrefix), "/", 3)
	if len(parts) >= 2 {
		return parts[0], parts[1]
	}
	return "", ""
}

// shortDuration is d as time.Duration writes it, without zero minutes
// and seconds: 24h, 1h30m.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func checkAuditLocks(ctx context.Context, st archive.Store, rep *Report) error {
	return st.List(ctx, archive.AuditPrefix, func(info archive.ObjectInfo) error {
		rep.Objects++
		var wrong []string
		if info.Mode != "COMPLIANCE" {
			wrong = append(wrong, fmt.Sprintf("retention mode %q, want COMPLIANCE", info.Mode))
		}
		if info.Versions != 1 {
			wrong = append(wrong, fmt.Sprintf("%d versions of the key, want 1", info.Versions))
		}
		if len(wrong) > 0 {
			rep.add(Finding{Object: info.Key, Problem: "audit entry not locked: " + strings.Join(wrong, "; ")})
		}
		return nil
	})
}

// bundleCheck is what the tag files of a bundle say, once verified.
type bundleCheck struct {
	run      run
	entry    archive.BundleEntry
	manifest map[string][2]string // payload path → sha256, sha512
	tags     map[string][2]string // tag path → sha256, sha512
}

func readSmall(ctx context.Context, st archive.Store, key string, rep *Report) ([]byte, error) {
	rc, err := st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	atomic.AddInt64(&rep.BytesRead, int64(len(b)))
	return b, err
}

// checkTags verifies a bundle's tag manifest against the catalog and its
// signature, and reads its manifests (checked against the tag manifest).
func checkTags(ctx context.Context, o Options, r run, b archive.BundleEntry, objects map[string]archive.ObjectInfo, rep *Report) (*bundleCheck, error) {
	f := func(obj, problem string) {
		rep.add(Finding{Batch: r.batch, Run: r.run, Bundle: b.ID, Object: b.Prefix + obj, Problem: problem})
	}
	get := func(name string) ([]byte, bool, error) {
		if _, ok := objects[b.Prefix+name]; !ok {
			return nil, false, nil // reported as missing
		}
		body, err := readSmall(ctx, o.Store, b.Prefix+name, rep)
		if err != nil {
			if errors.Is(err, archive.ErrNotExist) {
				return nil, false, nil
			}
			return nil, false, err
		}
		return body, true, nil
	}
	t512, ok, err := get(archive.TagManifest512)
	if err != nil || !ok {
		return nil, err
	}
	sig, ok, err := get(archive.TagSignature)
	if err != nil || !ok {
		return nil, err
	}
	if !o.Pub.Verify(t512, sig) {
		f(archive.TagSignature, "the tag manifest's signature does not verify with the signing keys given ("+o.Pub.IDs()+")")
		return nil, nil
	}
	if sum := sha512hex(t512); sum != b.TagManifest.SHA512 {
		f(archive.TagManifest512, "tag manifest is not the one the signed catalog names")
		return nil, nil
	}
	t256, ok, err := get(archive.TagManifest256)
	if err != nil {
		return nil, err
	}
	if ok && sha256hex(t256) != b.TagManifest.SHA256 {
		f(archive.TagManifest256, "tag manifest is not the one the signed catalog names")
	}
	tags512, err := archive.ParseManifest(t512)
	if err != nil {
		f(archive.TagManifest512, err.Error())
		return nil, nil
	}
	tags256, _ := archive.ParseManifest(t256)
	bc := &bundleCheck{run: r, entry: b, manifest: map[string][2]string{}, tags: map[string][2]string{}}
	for p, d := range tags512 {
		bc.tags[p] = [2]string{tags256[p], d}
	}
	for _, name := range []string{archive.Manifest256, archive.Manifest512} {
		body, ok, err := get(name)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, nil
		}
		if sha512hex(body) != tags512[name] {
			f(name, "manifest does not match the signed tag manifest")
			return nil, nil
		}
		m, err := archive.ParseManifest(body)
		if err != nil {
			f(name, err.Error())
			return nil, nil
		}
		for p, d := range m {
			x := bc.manifest[p]
			if name == archive.Manifest256 {
				x[0] = d
			} else {
				x[1] = d
			}
			bc.manifest[p] = x
		}
	}
	// Every payload object in the catalog is in the manifests, and back.
	for _, obj := range b.Objects {
		if strings.HasPrefix(obj.Path, "data/") {
			if _, ok := bc.manifest[obj.Path]; !ok {
				f(obj.Path, "payload file not in the manifests")
			}
		}
	}
	for p := range bc.manifest {
		if !slices.ContainsFunc(b.Objects, func(x archive.ObjectEntry) bool { return x.Path == p }) {
			f(p, "in the manifests but not in the catalog")
		}
	}
	return bc, nil
}

func sha512hex(b []byte) string {
	d := archive.NewDigester()
	d.Write(b)
	return d.Sum().SHA512
}

func sha256hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// item is one object to read and hash.
type item struct {
	bc   *bundleCheck
	path string
	size int64
}

// fixity reads the chosen objects in parallel, hashing each with SHA-256
// and SHA-512 against its manifest; with contents (key holders) it also
// decrypts the payload and checks plaintext digests and row counts.
func fixity(ctx context.Context, o Options, runs []run, bundles map[string]*bundleCheck, objects map[string]archive.ObjectInfo, contents map[string]*archive.Bundle, rep *Report) error {
	var all []item
	for _, r := range runs {
		for _, b := range r.cat.Bundles {
			bc := bundles[b.ID]
			if bc == nil {
				continue // its tag files failed: reported
			}
			for _, obj := range b.Objects {
				if _, ok := objects[b.Prefix+obj.Path]; !ok {
					continue
				}
				payload := strings.HasPrefix(obj.Path, "data/")
				if o.Level == Full || payload {
					all = append(all, item{bc, obj.Path, obj.Size})
				}
			}
		}
	}
	chosen := all
	if o.Level == Sample {
		chosen = sample(all, o)
		rep.note(fmt.Sprintf("sample of %d of %d payload objects, seed %d (rerun with --seed %d to repeat it)", len(chosen), len(all), o.Seed, o.Seed))
	}
	var total int64
	for _, it := range chosen {
		total += it.size
	}
	var done atomic.Int64
	work := make(chan item)
	errs := make(chan error, o.Parallel)
	var wg sync.WaitGroup
	for range o.Parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256<<10)
			for it := range work {
				if err := checkObject(ctx, o, it, contents[it.bc.entry.ID], buf, rep); err != nil {
					errs <- err
					return
				}
				n := done.Add(it.size)
				if o.Progress != nil {
					o.Progress(n, total)
				}
			}
		}()
	}
	var firstErr error
feed:
	for _, it := range chosen {
		select {
		case work <- it:
		case firstErr = <-errs:
			break feed
		case <-ctx.Done():
			firstErr = ctx.Err()
			break feed
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	if firstErr == nil {
		firstErr = <-errs
	}
	if firstErr != nil {
		return cannot(firstErr)
	}
	rep.Hashed = len(chosen)
	if o.Level == Sample {
		for _, it := range chosen {
			rep.Sampled = append(rep.Sampled, it.bc.entry.Prefix+it.path)
		}
		slices.Sort(rep.Sampled)
	}
	rep.sampled = map[string]bool{}
	for _, it := range chosen {
		rep.sampled[it.bc.entry.ID] = true
	}
	if o.Level == Full {
		ids := sortedKeys(bundles)
		if err := parallel.Do(len(ids), o.Parallel, func(i int) error {
			return bagChecks(ctx, o, bundles[ids[i]], objects, rep)
		}); err != nil {
			return cannot(err)
		}
	}
	return nil
}

// checkContents is the key holders' check of what a listing reads: each
// bundle's encrypted contents (data/contents.json.age, a few kilobytes),
// decrypted, must count the rows the catalog counts for each table, and
// the money of its blocks must add up to the catalog's. The operators
// cannot see a catalog signed over other figures than the bundle's own;
// a restore that leaves blocks out relies on them. It returns the
// contents of each bundle, nil for one that cannot be read, for fixity.
func checkContents(ctx context.Context, o Options, runs []run, bundles map[string]*bundleCheck, rep *Report) (map[string]*archive.Bundle, error) {
	var checks []*bundleCheck
	for _, r := range runs {
		for _, e := range r.cat.Bundles {
			if bc := bundles[e.ID]; bc != nil {
				checks = append(checks, bc)
			}
		}
	}
	opened := make([]*archive.Bundle, len(checks))
	r := archive.NewReader(o.Store, o.Pub, o.Identities, nil)
	if err := parallel.Do(len(checks), o.Parallel, func(i int) error {
		bc := checks[i]
		b, err := r.OpenBundle(ctx, bc.entry)
		if err != nil {
			if isCannot(err) && !strings.Contains(err.Error(), "does not match") {
				return err
			}
			rep.add(Finding{Batch: bc.run.batch, Run: bc.run.run, Bundle: bc.entry.ID, Problem: "contents cannot be read with the identity: " + errText(err)})
			return nil
		}
		opened[i] = b
		return nil
	}); err != nil {
		return nil, cannot(err)
	}
	contents := make(map[string]*archive.Bundle, len(checks))
	read := 0
	for i, bc := range checks {
		b := opened[i]
		contents[bc.entry.ID] = b
		if b == nil {
			continue
		}
		read++
		id, tables := bc.entry.ID, b.Tables()
		for _, table := range sortedKeys(bc.entry.Tables) {
			if _, ok := tables[table]; !ok && bc.entry.Tables[table].Rows != 0 {
				rep.add(Finding{Batch: bc.run.batch, Run: bc.run.run, Bundle: id, Problem: fmt.Sprintf("%s: the encrypted contents count no rows, the catalog %d", table, bc.entry.Tables[table].Rows)})
			}
		}
		for _, table := range sortedKeys(tables) {
			if want, got := bc.entry.Tables[table].Rows, tables[table].Rows; want != got {
				rep.add(Finding{Batch: bc.run.batch, Run: bc.run.run, Bundle: id, Problem: fmt.Sprintf("%s: the encrypted contents count %d rows, the catalog %d", table, got, want)})
			}
		}
		// The money of each block, which a restore that leaves blocks
		// out relies on, adds up to the catalog's.
		money := b.BlockMoney()
		for _, table := range sortedKeys(money) {
			blocks := money[table]
			for _, col := range sortedKeys(blocks) {
				if want := bc.entry.Tables[table].Money[col]; !sameMoney(blocks[col], want) {
					rep.add(Finding{Batch: bc.run.batch, Run: bc.run.run, Bundle: id, Problem: fmt.Sprintf("%s.%s: the money of its blocks in the encrypted contents sums to %s, the catalog says %s", table, col, blocks[col], orZero(want))})
				}
			}
		}
	}
	rep.note(fmt.Sprintf("key holder: the encrypted contents of %s decrypted and held against the catalog", words.Count(read, "bundle")))
	return contents, nil
}

// sameMoney says whether two money sums are the same amount, "" being
// none.
func sameMoney(a, b string) bool {
	x, err1 := mapping.ParseSum(orZero(a))
	y, err2 := mapping.ParseSum(orZero(b))
	return err1 == nil && err2 == nil && x == y
}

func orZero(sum string) string {
	if sum == "" {
		return "0.00"
	}
	return sum
}

// sample picks the objects of this run. The seed counts runs, in cycles
// of as many runs as there are windows of the sample's size in the payload
// objects. Each cycle has its own pseudo-random order of the objects (by
// the SHA-256 of the cycle and the object's key), and the run reads one
// window of it. So any whole cycle of consecutive seeds reads every object
// (2×windows−1 consecutive runs always hold one), and runs at a regular
// step other than one (weekly runs on the day number) still reach every
// object, since each cycle brings a new order.
func sample(all []item, o Options) []item {
	n := len(all)
	if n == 0 {
		return nil
	}
	var per int
	if o.Percent > 0 {
		per = int(math.Ceil(float64(n) * o.Percent / 100))
	} else {
		var sum int64
		for _, it := range all {
			sum += it.size
		}
		avg := max(sum/int64(n), 1)
		per = max(int(o.Budget/avg), 1)
	}
	per = min(per, n)
	windows := uint64((n + per - 1) / per)
	cycle, pos := o.Seed/windows, int(o.Seed%windows)
	type ranked struct {
		rank [sha256.Size]byte
		it   item
	}
	rs := make([]ranked, n)
	for i, it := range all {
		rs[i] = ranked{sha256.Sum256(fmt.Appendf(nil, "%d/%s%s", cycle, it.bc.entry.Prefix, it.path)), it}
	}
	slices.SortFunc(rs, func(a, b ranked) int { return bytes.Compare(a.rank[:], b.rank[:]) })
	var out []item
	var used int64
	for i := 0; i < per; i++ {
		it := rs[(pos*per+i)%n].it
		if o.Budget > 0 && o.Percent <= 0 && used+it.size > o.Budget && len(out) > 0 {
			break
		}
		used += it.size
		out = append(out, it)
	}
	return out
}

func checkObject(ctx context.Context, o Options, it item, b *archive.Bundle, buf []byte, rep *Report) error {
	key := it.bc.entry.Prefix + it.path
	finding := func(problem string) {
		rep.add(Finding{Batch: it.bc.run.batch, Run: it.bc.run.run, Bundle: it.bc.entry.ID, Object: key, Problem: problem})
	}
	rc, err := o.Store.Get(ctx, key)
	if errors.Is(err, archive.ErrNotExist) {
		return nil // reported by the listing
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	h := archive.NewDigester()
	var src io.Reader = io.TeeReader(rc, h)
	var plainCheck func() error
	var file archive.PayloadFile
	hasFile := false
	if b != nil && strings.HasSuffix(it.path, ".jsonl.gz.age") {
		file, hasFile = b.File(it.path)
	}
	if hasFile {
		dec, err := age.Decrypt(src, o.Identities...)
		if errors.As(err, new(*archive.KeyError)) {
			return err
		}
		if err != nil {
			finding("cannot be decrypted with the identity: " + err.Error())
		} else {
			plain := sha256.New()
			var lines int64
			// The gzip stream also goes through the digests of its blocks,
			// which retrievals check; it is read to its end whatever the
			// gzip reader makes of it.
			var stream io.Reader = dec
			blocks := b.BlockCheck(it.path)
			if blocks != nil {
				stream = io.TeeReader(dec, blocks)
			}
			checkBlocks := func() {
				if blocks == nil {
					return
				}
				if _, err := io.Copy(io.Discard, stream); err != nil {
					return // the ciphertext is found damaged by its digests
				}
				if bad := blocks.Bad(); len(bad) > 0 {
					what := "block " + joinInts(bad) + " does"
					if len(bad) > 1 {
						what = "blocks " + joinInts(bad) + " do"
					}
					finding(what + " not match the digests the encrypted contents keep: a retrieval of their rows will be refused")
				}
			}
			zr, err := gzip.NewReader(bufio.NewReaderSize(stream, 256<<10))
			if err != nil {
				finding("plaintext is not gzip: " + err.Error())
				checkBlocks()
			} else {
				plainCheck = func() error {
					defer checkBlocks()
					sc := bufio.NewReaderSize(io.TeeReader(zr, plain), 256<<10)
					for {
						line, err := sc.ReadSlice('\n')
						if len(line) > 0 && line[len(line)-1] == '\n' {
							lines++
						}
						if err == bufio.ErrBufferFull {
							continue
						}
						if err == io.EOF {
							break
						}
						if err != nil {
							finding("plaintext cannot be read: " + err.Error())
							return nil
						}
					}
					if got := hex.EncodeToString(plain.Sum(nil)); got != file.PlainSHA256 {
						finding(fmt.Sprintf("plaintext SHA-256 %s, the encrypted contents say %s: altered before encryption", got, file.PlainSHA256))
					} else if lines != file.Rows {
						finding(fmt.Sprintf("plaintext holds %d rows, the encrypted contents say %d", lines, file.Rows))
					}
					return nil
				}
			}
		}
	}
	if plainCheck != nil {
		plainCheck()
	}
	n, err := io.CopyBuffer(io.Discard, src, buf)
	_ = n
	if err != nil {
		if isCannot(err) {
			return fmt.Errorf("reading %s: %w", key, err)
		}
		finding("cannot be read: " + err.Error())
		return nil
	}
	atomic.AddInt64(&rep.BytesRead, h.Len())
	want, payload := it.bc.manifest[it.path]
	if !payload {
		want = it.bc.tags[it.path]
	}
	switch {
	case want[0] == "" && want[1] == "":
		if it.path != archive.TagManifest256 && it.path != archive.TagManifest512 && it.path != archive.TagSignature {
			finding("in no manifest")
		}
	case h.Sum().SHA256 != want[0] || h.Sum().SHA512 != want[1]:
		finding(fmt.Sprintf("content does not match the manifest (SHA-256 %s, SHA-512 %s…)", h.Sum().SHA256, h.Sum().SHA512[:16]))
	}
	if h.Len() != it.size {
		finding(fmt.Sprintf("read %d bytes, the catalog says %d", h.Len(), it.size))
	}
	return nil
}

// bagChecks are the BagIt rules (RFC 8493) a full verification checks
// beyond the digests: the required files, the declaration, Payload-Oxum.
func bagChecks(ctx context.Context, o Options, bc *bundleCheck, objects map[string]archive.ObjectInfo, rep *Report) error {
	f := func(obj, problem string) {
		rep.add(Finding{Batch: bc.run.batch, Run: bc.run.run, Bundle: bc.entry.ID, Object: bc.entry.Prefix + obj, Problem: "BagIt: " + problem})
	}
	var size int64
	count := 0
	for _, obj := range bc.entry.Objects {
		if strings.HasPrefix(obj.Path, "data/") {
			size += obj.Size
			count++
		}
	}
	for _, name := range []string{archive.BagitTxt, archive.BagInfoTxt, archive.Manifest256, archive.Manifest512, archive.TagManifest256, archive.TagManifest512} {
		if _, ok := objects[bc.entry.Prefix+name]; !ok {
			f(name, "required file missing")
		}
	}
	decl, err := readSmall(ctx, o.Store, bc.entry.Prefix+archive.BagitTxt, rep)
	if err == nil {
		info, perr := archive.ParseBagInfo(decl)
		if perr != nil || len(info["BagIt-Version"]) != 1 || info["BagIt-Version"][0] != "1.0" || len(info["Tag-File-Character-Encoding"]) != 1 {
			f(archive.BagitTxt, "not a BagIt 1.0 declaration")
		}
	} else if isCannot(err) {
		return err
	}
	bi, err := readSmall(ctx, o.Store, bc.entry.Prefix+archive.BagInfoTxt, rep)
	if err == nil {
		info, perr := archive.ParseBagInfo(bi)
		// One finding for a file that is not "Label: value" lines, not
		// one for each label it then seems to lack.
		if perr != nil {
			f(archive.BagInfoTxt, "not a BagIt tag file: "+strings.TrimPrefix(perr.Error(), archive.BagInfoTxt+" "))
			return nil
		}
		want := fmt.Sprintf("%d.%d", size, count)
		switch oxum := info["Payload-Oxum"]; {
		case len(oxum) > 1:
			f(archive.BagInfoTxt, fmt.Sprintf("Payload-Oxum given %d times (%s), the payload is %s", len(oxum), strings.Join(oxum, ", "), want))
		case len(oxum) == 1 && oxum[0] != want:
			f(archive.BagInfoTxt, fmt.Sprintf("Payload-Oxum %s, the payload is %s", oxum[0], want))
		}
		for _, label := range []string{"Payload-Oxum", "Bagging-Date", "External-Identifier", "Bag-Group-Identifier"} {
			if len(info[label]) == 0 {
				f(archive.BagInfoTxt, "no "+label)
			}
		}
		if ids := info["External-Identifier"]; len(ids) == 1 && ids[0] != bc.entry.ID {
			f(archive.BagInfoTxt, fmt.Sprintf("External-Identifier %s, the catalog says %s", ids[0], bc.entry.ID))
		}
	} else if isCannot(err) {
		return err
	}
	return nil
}

// drill restores the bundles of the sample (or, at list level, one bundle
// the seed picks) of each run into a scratch schema, which Restore checks
// against the catalog's counts and money sums, and drops it.
func drill(ctx context.Context, o Options, runs []run, bundles map[string]*bundleCheck, sampled map[string]bool, rep *Report) error {
	r := archive.NewReader(o.Store, o.Pub, o.Identities, nil)
	for _, ru := range runs {
		var ids []string
		for _, b := range ru.cat.Bundles {
			if sampled[b.ID] && bundles[b.ID] != nil {
				ids = append(ids, b.ID)
			}
		}
		if len(ids) == 0 && len(ru.cat.Bundles) > 0 {
			b := ru.cat.Bundles[o.Seed%uint64(len(ru.cat.Bundles))]
			if bundles[b.ID] == nil {
				continue
			}
			ids = []string{b.ID}
		}
		if len(ids) == 0 {
			continue
		}
		suffix := make([]byte, 6)
		rand.Read(suffix)
		schema := "starmig_drill_" + hex.EncodeToString(suffix)
		_, err := r.Restore(ctx, o.Drill, ru.cat, archive.RestoreOptions{Schema: schema, Bundles: ids, Log: o.Log})
		if err != nil && (ctx.Err() != nil || archive.StorageFault(err) || pgsession.ServerFault(o.Drill, err)) {
			// A restore that failed is rolled back: there is no schema
			// to drop, and a lost connection could not drop it.
			return cannot(err)
		}
		if _, derr := o.Drill.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); derr != nil {
			return cannot(derr)
		}
		if err != nil {
			rep.add(Finding{Batch: ru.batch, Run: ru.run, Bundle: strings.Join(ids, ","), Problem: "restore drill failed: " + strings.TrimPrefix(err.Error(), "restore: ")})
			continue
		}
		rep.note(fmt.Sprintf("restore drill of batch %s run %s: bundles %s restored and matched the catalog", ru.batch, ru.run, strings.Join(ids, ", ")))
	}
	return nil
}

// joinInts lists numbers for a finding: "1, 4, 7", or the first ten and
// how many more.
func joinInts(ns []int) string {
	var b strings.Builder
	for i, n := range ns {
		if i == 10 {
			fmt.Fprintf(&b, " and %d more", len(ns)-10)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}
