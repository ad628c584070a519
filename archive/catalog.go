package archive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/parallel"
	"github.com/starmig/starmig/internal/version"
)

// Keys of the archive in a store.
const (
	BatchesPrefix = "batches/"
	AuditPrefix   = "audit/"
	CatalogFile   = "catalog.json"
	CatalogSig    = CatalogFile + ".sig"
)

// RunPrefix is where one archive run of a batch lives.
func RunPrefix(batch, run string) string { return BatchesPrefix + batch + "/" + run + "/" }

// Catalog is the signed list of one archive run's bundles. It names every
// object of every bundle with its size, so that a missing, extra, altered
// or replayed object or bundle is found without any key but the signing
// key's public half. Row counts and money sums per table are in clear:
// aggregates of a whole batch, which the restore drill checks; what is
// known per payload file stays inside the encryption.
type Catalog struct {
	Format      string    `json:"format"`
	Batch       string    `json:"batch"`
	Run         string    `json:"run"`
	Created     time.Time `json:"created"`
	Source      string    `json:"source"`
	RetainUntil time.Time `json:"retain_until"`
	Locked      bool      `json:"locked"` // written to a store that locks (S3 Object Lock)
	Recipients  []string  `json:"recipients"`
	// IndexKeyID is IndexKeyID of the index key of the run's bundles.
	IndexKeyID string `json:"index_key_id,omitempty"`
	// SigningKeyID is SigningKeyID of the key that signed the catalog and
	// the run's tag manifests.
	SigningKeyID string         `json:"signing_key_id,omitempty"`
	Tables       map[string]Sum `json:"tables"`
	Bundles      []BundleEntry  `json:"bundles"`
	// Abandoned lists the objects of earlier runs, of any batch, that were
	// interrupted before their catalog: locked, so never deleted, and
	// accounted for here instead.
	Abandoned []ObjectEntry `json:"abandoned,omitempty"`
	// LeftOut lists the tables of STAR1 that STAR1.md does not describe,
	// with their rows when the run read STAR1: the run does not hold them
	// (empty ones, or ones named by --skip-table).
	LeftOut []extract.TableRows `json:"left_out,omitempty"`
	// Writer names the build of starmig that wrote the run ("starmig
	// (devel), commit 0123456789ab, go1.26.0"); runs written before it was
	// recorded have none.
	Writer string `json:"writer,omitempty"`
}

// BundleEntry is one bundle in a catalog.
type BundleEntry struct {
	ID          string         `json:"id"`     // External-Identifier
	Prefix      string         `json:"prefix"` // key prefix in the store, ending in /
	TagManifest Digests        `json:"tagmanifest"`
	Objects     []ObjectEntry  `json:"objects"`
	Tables      map[string]Sum `json:"tables"`
}

// ObjectEntry is one object with its size; Path is relative to the bundle
// prefix in a bundle, the store key in Abandoned.
type ObjectEntry struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
}

// Sum is the row count of a table, and the sum of its money columns as
// decimal text, as STAR1 holds them.
type Sum struct {
	Rows  int64             `json:"rows"`
	Money map[string]string `json:"money,omitempty"`
}

// catalogFormat is the format of the whole archive run: a change to the
// layout of its bundles, their contents or their index comes with a new
// catalog format, so that a reader tells a run it cannot read from one
// that is damaged.
const catalogFormat = "starmig-catalog/1"

// FormatError is a catalog, signed by a key the reader was given, in a
// format this build of starmig does not read: one written by a later
// starmig. Nothing is wrong with the archive: the reader is older than
// the writer, and a reader of the writer's version or later reads it.
type FormatError struct {
	Key    string // the catalog
	Format string // its format
	Writer string // the build that wrote it, as the catalog names it
}

func (e *FormatError) Error() string {
	by := "a build of starmig that did not name itself"
	if e.Writer != "" {
		by = e.Writer
	}
	return fmt.Sprintf("archive: %s is in format %q, written by %s; this starmig (%s) reads only %q: read the archive with the writer's version or a later one (the archive is not at fault)",
		e.Key, e.Format, by, version.String(), catalogFormat)
}

// RunRef names one archive run.
type RunRef struct {
	Batch, Run string
	Complete   bool // its catalog and the catalog's signature are there
}

// BatchesOf names the batches of runs, once each, in their order; only
// those with a complete run when complete is set.
func BatchesOf(runs []RunRef, complete bool) []string {
	var batches []string
	for _, r := range runs {
		if (r.Complete || !complete) && !slices.Contains(batches, r.Batch) {
			batches = append(batches, r.Batch)
		}
	}
	return batches
}

// ListRuns lists every run of every batch in the store (of one batch when
// batch is not empty), oldest first within a batch. It lists folders, not
// objects: the batches, each batch's runs, and each run's catalog files,
// whose signature makes the run complete. Its cost grows with the number
// of runs, not with the objects they hold, and over a long link it is a
// few round trips (the runs are asked about many at a time).
// Its errors are the storage's (StorageFault).
func ListRuns(ctx context.Context, st Store, batch string) ([]RunRef, error) {
	batches := []string{batch}
	if batch == "" {
		batches = nil
		if err := st.Dirs(ctx, BatchesPrefix, func(name string) error {
			batches = append(batches, name)
			return nil
		}); err != nil {
			return nil, fromStore(err)
		}
	}
	perBatch := make([][]RunRef, len(batches))
	if err := parallel.Do(len(batches), runLookups, func(i int) error {
		return st.Dirs(ctx, BatchesPrefix+batches[i]+"/", func(run string) error {
			perBatch[i] = append(perBatch[i], RunRef{Batch: batches[i], Run: run})
			return nil
		})
	}); err != nil {
		return nil, fromStore(err)
	}
	runs := slices.Concat(perBatch...)
	if err := parallel.Do(len(runs), runLookups, func(i int) error {
		// One listing gives catalog.json and its signature (on S3 it also
		// learns their first versions, which reading the catalog needs).
		prefix := RunPrefix(runs[i].Batch, runs[i].Run)
		return st.Keys(ctx, prefix+CatalogFile, func(key string, _ int64) error {
			if key == prefix+CatalogSig {
				runs[i].Complete = true
			}
			return nil
		})
	}); err != nil {
		return nil, fromStore(err)
	}
	sortRuns(runs)
	return runs, nil
}

// runLookups is how many listings ListRuns has in flight at once.
const runLookups = 32

// RunsOf gives the runs that stored keys belong to, sorted by batch and
// run, each complete when its catalog signature is among the keys: ListRuns
// for a caller that has listed the store already.
func RunsOf(keys []string) []RunRef {
	seen := map[[2]string]*RunRef{}
	for _, key := range keys {
		parts := strings.SplitN(strings.TrimPrefix(key, BatchesPrefix), "/", 3)
		if !strings.HasPrefix(key, BatchesPrefix) || len(parts) < 3 {
			continue
		}
		k := [2]string{parts[0], parts[1]}
		r := seen[k]
		if r == nil {
			r = &RunRef{Batch: parts[0], Run: parts[1]}
			seen[k] = r
		}
		if parts[2] == CatalogSig {
			r.Complete = true
		}
	}
	out := make([]RunRef, 0, len(seen))
	for _, r := range seen {
		out = append(out, *r)
	}
	sortRuns(out)
	return out
}

// sortRuns orders runs by batch, then oldest first: run names begin with
// the time they were written.
func sortRuns(runs []RunRef) {
	sort.Slice(runs, func(i, j int) bool {
		if runs[i].Batch != runs[j].Batch {
			return runs[i].Batch < runs[j].Batch
		}
		return runs[i].Run < runs[j].Run
	})
}

// ErrBadSignature is wrapped by errors about a signature that does not
// verify with the given public key.
var ErrBadSignature = errors.New("signature does not verify")

func readAll(ctx context.Context, st Store, key string, limit int64) ([]byte, error) {
	r, err := st.Get(ctx, key)
	if err != nil {
		return nil, fromStore(err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("archive: reading %s: %w", key, fromStore(err))
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("archive: %s is larger than %d bytes", key, limit)
	}
	return b, nil
}

// ReadCatalog reads a run's catalog and checks its signature and that it
// names the run it is stored under (a catalog copied from elsewhere does
// not verify).
func ReadCatalog(ctx context.Context, st Store, pub SigningKeys, batch, run string) (*Catalog, []byte, error) {
	key := RunPrefix(batch, run) + CatalogFile
	// All at once, as over a long link each is a round trip: the catalog,
	// its signature, and (on S3) a listing of the run, which teaches the
	// store the first version of every key its readers will read next.
	var sig []byte
	var sigErr, learnErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		sig, sigErr = readAll(ctx, st, key+".sig", 1<<10)
	}()
	go func() {
		defer wg.Done()
		learnErr = learn(ctx, st, RunPrefix(batch, run))
	}()
	b, err := readAll(ctx, st, key, 256<<20)
	wg.Wait()
	if err != nil {
		return nil, nil, err
	}
	if sigErr != nil {
		return nil, b, sigErr
	}
	if learnErr != nil {
		return nil, b, learnErr
	}
	if !pub.Verify(b, sig) {
		return nil, b, fmt.Errorf("archive: %s: %w", key, signatureFault(pub, b))
	}
	// The format first, on its own: a later format may not decode as this
	// one does.
	var head struct {
		Format string `json:"format"`
		Writer string `json:"writer"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, b, fmt.Errorf("archive: %s: %v", key, err)
	}
	if head.Format != catalogFormat {
		return nil, b, &FormatError{Key: key, Format: head.Format, Writer: head.Writer}
	}
	var c Catalog
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, b, fmt.Errorf("archive: %s: %v", key, err)
	}
	if c.Batch != batch || c.Run != run {
		return nil, b, fmt.Errorf("archive: %s names batch %s run %s: not the catalog of this run", key, c.Batch, c.Run)
	}
	for _, bu := range c.Bundles {
		if !strings.HasPrefix(bu.Prefix, RunPrefix(batch, run)) {
			return nil, b, fmt.Errorf("archive: %s lists bundle %s outside its run", key, bu.ID)
		}
	}
	return &c, b, nil
}

// signatureFault says why a catalog's signature does not verify with the
// keys given: the catalog names the key that signed it (unverified, but
// enough to tell a key not given from a catalog changed since).
func signatureFault(pub SigningKeys, catalog []byte) error {
	var c struct {
		ID string `json:"signing_key_id"`
	}
	if json.Unmarshal(catalog, &c) == nil && c.ID != "" && !pub.Has(c.ID) {
		return fmt.Errorf("%w: it says it was signed with key %s, and the signing public keys given are %s (a file of them may hold the keys used before, one PEM block each)",
			ErrBadSignature, c.ID, pub.IDs())
	}
	return fmt.Errorf("%w with the signing public keys given (%s): it was signed with another key, or changed since", ErrBadSignature, pub.IDs())
}

// noRunOf says that st holds no complete run of batch, and what it holds
// instead: interrupted runs of it, or the batches it does hold.
func noRunOf(ctx context.Context, st Store, batch string, interrupted int) error {
	if interrupted > 0 {
		return fmt.Errorf("archive: %s holds no complete run of batch %s, only %d interrupted (run the archive of the batch again to complete it)",
			st, batch, interrupted)
	}
	all, err := ListRuns(ctx, st, "")
	if err != nil {
		return err
	}
	batches := BatchesOf(all, true)
	if len(batches) == 0 {
		return withElsewhere(ctx, st, fmt.Sprintf("archive: %s holds no complete run of batch %s, nor of any batch", st, batch))
	}
	return fmt.Errorf("archive: %s holds no complete run of batch %s; it holds batch %s", st, batch, strings.Join(batches, ", "))
}

// noCompleteRun says that the store holds no complete run of any batch,
// given the runs it holds (all interrupted), and where an archive is when
// the store's URL names a folder above it.
func noCompleteRun(ctx context.Context, st Store, runs []RunRef) error {
	if len(runs) > 0 {
		return fmt.Errorf("archive: %s holds no complete archive run, only %d interrupted (run the archive again to complete it)", st, len(runs))
	}
	return withElsewhere(ctx, st, fmt.Sprintf("archive: %s holds no complete archive run", st))
}

// withElsewhere is the error msg, followed by where an archive is that
// the store's URL may have meant (Elsewhere). A failure to look leaves
// msg as it is: it is the error that matters.
func withElsewhere(ctx context.Context, st Store, msg string) error {
	if where, err := Elsewhere(ctx, st, true); err == nil && where != "" {
		msg += "; " + where
	}
	return errors.New(msg)
}

// The bounds of archivesBelow: it lists at most maxListsBelow folders in
// all, takes the first maxLookBelow folders of each, and goes at most
// maxDepthBelow folders down.
const (
	maxLookBelow  = 50
	maxListsBelow = 100
	maxDepthBelow = 2
)

// archivesBelow names the stores one or two folders below st that hold
// an archive (a batches/ folder of their own): an archive URL given one
// folder too high (s3://bucket for s3://bucket/prod), or two
// (s3://bucket for s3://bucket/star1/prod), finds no run, and the one
// meant is among these. It looks level by level and stops at the first
// level that holds an archive, and it never looks inside an archive. Its
// bounds make a large bucket cost a bounded listing. Below the store's
// own folder, a folder it cannot list holds no archive as far as it can
// tell (a role whose rights stop at another prefix).
func archivesBelow(ctx context.Context, st Store) ([]string, error) {
	holds, level, err := listFolders(ctx, st, "")
	if err != nil || holds {
		return nil, err
	}
	level = slices.DeleteFunc(level, func(d string) bool { return d+"/" == AuditPrefix })
	lists := 1
	for depth := 1; depth <= maxDepthBelow && len(level) > 0; depth++ {
		var found, next []string
		for _, d := range level {
			if lists == maxListsBelow {
				break
			}
			lists++
			holds, subs, err := listFolders(ctx, st, d+"/")
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				continue
			}
			if holds {
				found = append(found, strings.TrimSuffix(st.String(), "/")+"/"+d)
				continue
			}
			for _, sub := range subs {
				next = append(next, d+"/"+sub)
			}
		}
		if len(found) > 0 {
			return found, nil
		}
		level = next
	}
	return nil, nil
}

// listFolders lists the first maxLookBelow folders of the folder prefix
// of st, and reports whether prefix holds an archive: a batches/ folder
// of its own. It stops at batches/, since the folders of an archive are
// not searched.
func listFolders(ctx context.Context, st Store, prefix string) (holds bool, dirs []string, err error) {
	stop := errors.New("enough folders")
	err = st.Dirs(ctx, prefix, func(name string) error {
		if name+"/" == BatchesPrefix {
			holds = true
			return stop
		}
		if len(dirs) == maxLookBelow {
			return stop
		}
		dirs = append(dirs, name)
		return nil
	})
	if err != nil && !errors.Is(err, stop) {
		return false, nil, err
	}
	return holds, dirs, nil
}

// holdsArchive reports whether the folder prefix of st holds an archive.
func holdsArchive(ctx context.Context, st Store, prefix string) (bool, error) {
	holds, _, err := listFolders(ctx, st, prefix)
	return holds, err
}

// nested is a store that can name the stores above it.
type nested interface {
	up(n int) Store  // the store n folders above
	folders() string // the store's path, / between folders
}

// maxDepthInside bounds how deep inside an archive enclosingArchive looks
// for it: batches/<batch>/<run>/<bundle>/data/<TABLE> is six folders.
const maxDepthInside = 6

// enclosingArchive is the archive that st's URL points inside, and the
// path inside it (batches/all/<run>, audit/2026), when the URL holds a
// batches or audit folder and the folder above that holds an archive: a
// run's URL copied from a listing, given as the archive's. It lists only
// the folders above such folders among the last six of the path, the
// nearest first (for an ordinary URL, none), and a folder it cannot list
// (a role whose rights stop at the store's own prefix) holds no archive
// as far as it can tell.
func enclosingArchive(ctx context.Context, st Store) (Store, string) {
	n, ok := st.(nested)
	if !ok {
		return nil, ""
	}
	parts := strings.Split(strings.Trim(n.folders(), "/"), "/")
	for i := len(parts) - 1; i >= 0 && len(parts)-i <= maxDepthInside; i-- {
		if parts[i]+"/" != BatchesPrefix && parts[i]+"/" != AuditPrefix {
			continue
		}
		root := n.up(len(parts) - i)
		holds, err := holdsArchive(ctx, root, "")
		if err != nil {
			return nil, ""
		}
		if holds {
			return root, strings.Join(parts[i:], "/")
		}
	}
	return nil, ""
}

// Elsewhere says where an archive is when st holds no run ("" when it
// finds none), to follow a finding or error of such a store: the
// archive st's URL points inside, or those one or two folders below it. With
// batchFlag, the command takes --batch, and the batch whose folder the
// URL points inside is named with it.
func Elsewhere(ctx context.Context, st Store, batchFlag bool) (string, error) {
	if root, inside := enclosingArchive(ctx, st); root != nil {
		where := "it is the folder " + inside + " inside the archive " + root.String() + ": give that archive's URL"
		if b, ok := strings.CutPrefix(inside, BatchesPrefix); ok && batchFlag {
			where += ", with --batch " + strings.Split(b, "/")[0]
		}
		return where, nil
	}
	below, err := archivesBelow(ctx, st)
	switch {
	case err != nil || len(below) == 0:
		return "", err
	case len(below) == 1:
		return "the folder below, " + below[0] + ", holds an archive: is it the one meant?", nil
	}
	return "folders below hold archives: " + strings.Join(below, ", ") + ": is one of them the one meant?", nil
}

// NewestCatalog reads the catalog of the newest complete run (of one
// batch, when batch is not empty), checking its signature, and names the
// other batches that hold complete runs. It reads no other catalog: one
// that is damaged does not stand in the way of the run wanted.
func NewestCatalog(ctx context.Context, st Store, pub SigningKeys, batch string) (*Catalog, []string, error) {
	runs, err := ListRuns(ctx, st, batch)
	if err != nil {
		return nil, nil, err
	}
	var newest *RunRef
	for i, r := range runs {
		if r.Complete && (newest == nil || r.Run > newest.Run) {
			newest = &runs[i]
		}
	}
	if newest == nil {
		if batch != "" {
			return nil, nil, noRunOf(ctx, st, batch, len(runs))
		}
		return nil, nil, noCompleteRun(ctx, st, runs)
	}
	others := slices.DeleteFunc(BatchesOf(runs, true), func(b string) bool { return b == newest.Batch })
	c, _, err := ReadCatalog(ctx, st, pub, newest.Batch, newest.Run)
	if err == nil {
		return c, others, nil
	}
	err = &RunError{Batch: newest.Batch, Run: newest.Run, Err: err}
	if len(others) > 0 {
		err = fmt.Errorf("%w (the newest run, of batch %s; --batch takes the newest run of another: %s)", err, newest.Batch, strings.Join(others, ", "))
	}
	return nil, others, err
}

// RunError is an error met reading one archive run's catalog, which it
// names.
type RunError struct {
	Batch, Run string
	Err        error
}

func (e *RunError) Error() string { return e.Err.Error() }
func (e *RunError) Unwrap() error { return e.Err }

// LatestCatalogs reads the newest complete run of every batch (or of one
// batch), checking signatures.
func LatestCatalogs(ctx context.Context, st Store, pub SigningKeys, batch string) ([]*Catalog, error) {
	runs, err := ListRuns(ctx, st, batch)
	if err != nil {
		return nil, err
	}
	latest := map[string]RunRef{}
	var order []string
	for _, r := range runs {
		if !r.Complete {
			continue
		}
		if _, ok := latest[r.Batch]; !ok {
			order = append(order, r.Batch)
		}
		latest[r.Batch] = r
	}
	if len(order) == 0 {
		if batch != "" {
			return nil, noRunOf(ctx, st, batch, len(runs))
		}
		return nil, noCompleteRun(ctx, st, runs)
	}
	var out []*Catalog
	for _, b := range order {
		c, _, err := ReadCatalog(ctx, st, pub, b, latest[b].Run)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}
