package archive

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/parallel"
)

// Query is what an archivist asks for: one person by personal code or by
// STAR1 person id, or one proceeding. PersonByCode, PersonByID and
// ProceedingByID make one.
type Query struct {
	// PersonCode asks for the persons of a personal code, when not "".
	PersonCode string
	// Table and ID ask for one row by its STAR1 id: Table is "ISIK" for a
	// person, "MENETLUS" for a proceeding. Every id NUMBER(12) holds can
	// be asked for, 0 and negative ids too.
	Table string
	ID    int64
}

// PersonByCode asks for the persons of a personal code.
func PersonByCode(code string) Query { return Query{PersonCode: code} }

// PersonByID asks for the person of a STAR1 ISIK_ID.
func PersonByID(id int64) Query { return Query{Table: "ISIK", ID: id} }

// ProceedingByID asks for the proceeding of a STAR1 MENETLUS_ID.
func ProceedingByID(id int64) Query { return Query{Table: "MENETLUS", ID: id} }

func (q Query) String() string {
	switch q.Table {
	case "ISIK":
		return "person ISIK_ID " + strconv.FormatInt(q.ID, 10)
	case "MENETLUS":
		return "proceeding MENETLUS_ID " + strconv.FormatInt(q.ID, 10)
	}
	return "person with personal code " + q.PersonCode
}

func (q Query) valid() error {
	switch {
	case q.Table == "" && q.PersonCode != "":
		return nil
	case q.PersonCode == "" && (q.Table == "ISIK" || q.Table == "MENETLUS"):
		return nil
	case q.PersonCode == "" && q.Table != "":
		return fmt.Errorf("archive: a query by id is for ISIK or MENETLUS, not %q", q.Table)
	}
	return errors.New("archive: ask for exactly one of a personal code, a person id or a proceeding id")
}

// Found is what one archive run holds of the query.
type Found struct {
	Batch, Run string
	// Newest is the newest complete run searched when Run is an earlier
	// one (RetrieveEarlier), else "".
	Newest string
	// Tables holds the rows of every table, ordered by primary key; a table
	// with no rows is absent.
	Tables map[string][]extract.Row
	// SameCode, for a query by STAR1 person id, are the ids of the other
	// ISIK rows with the person's ISIKUKOOD: duplicates of one human, whose
	// records a query by the code gives too. Their rows are not retrieved.
	SameCode []int64
	// Absent names the row asked for by its id ("MENETLUS 42", "ISIK 7")
	// when the run holds rows that refer to it but not the row itself:
	// STAR1 lost it, and its rows are orphans (rule 5).
	Absent string
	// LeftOut is the run's catalog's: tables of STAR1 that the run does
	// not hold, as STAR1.md does not describe them.
	LeftOut []extract.TableRows
	// Unread, when set, says why the run could not be read as written
	// (LookBack.SkipUnreadable): it then holds no rows, whatever it held
	// of the query, unless UnreadParts names the parts left out.
	Unread string
	// UnreadParts, with Reader.LeaveOutUnreadable, names the bundles of
	// the run, and the payload files of its other bundles, that could not
	// be read as written (Unread says why): the rows are those of the rest
	// of the run, without the rows of the query the parts left out hold,
	// and without the rows found only through those.
	UnreadParts []string
}

// Rows counts the rows found.
func (f *Found) Rows() int {
	n := 0
	for _, rows := range f.Tables {
		n += len(rows)
	}
	return n
}

// Retrieve finds every row belonging to the query in the newest run of
// each catalog given, through the bundles' indexes: it reads the blocks
// that hold the rows, never whole bundles. A person's rows are those that
// name the person (ISIK, ISIKU_SEOS either side, POORDUMINE, MENETLUS),
// and the rows of the person's proceedings (OTSUS, MAKSE of those
// decisions, JUHTUMIPLAAN, TOIMING, DOKUMENT). A proceeding's rows are its
// MENETLUS row with those children, its application and its subject person.
func (r *Reader) Retrieve(ctx context.Context, cats []*Catalog, q Query) ([]*Found, error) {
	if err := q.valid(); err != nil {
		return nil, err
	}
	if len(r.indexKeys) == 0 {
		return nil, errors.New("archive: retrieval needs the index key")
	}
	keys := make([][]byte, len(cats))
	for i, c := range cats {
		if keys[i] = r.indexKeyFor(c); keys[i] == nil {
			return nil, &IndexKeyError{Batch: c.Batch, Run: c.Run, Want: c.IndexKeyID, Got: r.indexKeyIDs()}
		}
	}
	var out []*Found
	for i, c := range cats {
		f, err := r.retrieveRun(ctx, c, keys[i], q)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// LookBack is how RetrieveEarlier searches.
type LookBack struct {
	// All searches every earlier run, newest first, not only as far as
	// the first that holds rows of the query.
	All bool
	// EveryBatch searches the runs of every batch, not only those of the
	// newest run's: every run holds all of STAR1, so the runs of all
	// batches are one history of it, in the order they were written.
	EveryBatch bool
	// SkipUnreadable lists a run that cannot be read as written
	// (Unreadable: its catalog or a bundle holding the query's rows is
	// missing or damaged) as a Found with Unread set, and searches on,
	// instead of stopping there.
	SkipUnreadable bool
}

// RetrieveEarlier searches earlier complete runs than those in found,
// which Retrieve searched. A run holds STAR1 as it was when it was
// written, so rows STAR1 deleted outright before a newest run are only in
// earlier ones. For a newest run that holds no rows of the query, or
// could not be read (Unread), it returns the newest earlier run that
// holds some; with o.All, every earlier run, newest first. Each result
// follows its newest in the list returned, with Newest set. It also
// returns the catalogs it read.
func (r *Reader) RetrieveEarlier(ctx context.Context, found []*Found, q Query, o LookBack) ([]*Found, []*Catalog, error) {
	var out []*Found
	var cats []*Catalog
	for _, newest := range found {
		out = append(out, newest)
		// A run read without some of its parts may lack rows an
		// earlier run holds.
		if newest.Rows() > 0 && newest.Unread == "" && !o.All {
			continue
		}
		batch := newest.Batch
		if o.EveryBatch {
			batch = ""
		}
		runs, err := ListRuns(ctx, r.store, batch)
		if err != nil {
			return nil, nil, err
		}
		// Run names begin with the time they were written.
		sort.SliceStable(runs, func(i, j int) bool { return runs[i].Run < runs[j].Run })
		var earlier []RunRef // newest first
		for i := len(runs) - 1; i >= 0; i-- {
			if runs[i].Complete && runs[i].Run < newest.Run {
				earlier = append(earlier, runs[i])
			}
		}
		// Over a long link a run costs round trips, not bytes: the runs
		// are searched lookBack at a time, and taken newest first.
		for start := 0; start < len(earlier); start += lookBack {
			part := earlier[start:min(start+lookBack, len(earlier))]
			pc := make([]*Catalog, len(part))
			pf := make([]*Found, len(part))
			errs := make([]error, len(part))
			parallel.Do(len(part), len(part), func(i int) error {
				c, _, err := ReadCatalog(ctx, r.store, r.pub, part[i].Batch, part[i].Run)
				if err == nil {
					// Read from, whether or not its bundles can be.
					pc[i] = c
					var f []*Found
					if f, err = r.Retrieve(ctx, []*Catalog{c}, q); err == nil {
						pf[i] = f[0]
					}
				}
				errs[i] = err
				return nil
			})
			// Every run read is named in the audit entry, also those
			// searched beside the one that held the rows.
			for _, c := range pc {
				if c != nil {
					cats = append(cats, c)
				}
			}
			done := false
			for i, f := range pf {
				// A run that could not be read matters only if the search
				// reaches it: one older than the run that held the rows
				// was read only to save round trips.
				if err := errs[i]; err != nil {
					if !o.SkipUnreadable || !Unreadable(err) || ctx.Err() != nil {
						return nil, nil, err
					}
					f = &Found{Batch: part[i].Batch, Run: part[i].Run, Unread: err.Error()}
				}
				f.Newest = newest.Run
				if f.Unread != "" {
					out = append(out, f)
					continue
				}
				if f.Rows() == 0 && !o.All {
					continue
				}
				out = append(out, f)
				if !o.All {
					done = true
					break
				}
			}
			if done {
				break
			}
		}
	}
	return out, cats, nil
}

// lookBack is how many earlier runs a retrieval searches at once.
const lookBack = 8

// IndexKeyError says that the index key given is not the one a run's
// bundles were indexed with: with it, every lookup would find nothing.
type IndexKeyError struct {
	Batch, Run string
	Want, Got  string // key ids: of the run, of the keys given (comma-separated)
}

func (e *IndexKeyError) Error() string {
	return fmt.Sprintf("archive: batch %s run %s was indexed with index key %s, and the keys given are %s: "+
		"with another key nothing can be found; give the index key of this run (--index-key may be repeated)", e.Batch, e.Run, e.Want, e.Got)
}

type finder struct {
	r       *Reader
	bundles []*Bundle
	mac     func(kind, value string) [10]byte
	blocks  map[[3]int]cachedBlock // bundle, file, block already read
	rows    map[string]map[string]extract.Row

	mu     sync.Mutex
	unread map[[2]int]error // parts left out (Reader.LeaveOutUnreadable): bundle and file, or bundle and -1
}

// leaveOut leaves a payload file (or, for file -1, a whole bundle) out of
// the retrieval, when the reader leaves out what it cannot read and err
// says the part is not as written; it returns err otherwise.
func (f *finder) leaveOut(ctx context.Context, bundle, file int, err error) error {
	if !f.r.LeaveOutUnreadable || !Unreadable(err) || ctx.Err() != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.unread[[2]int{bundle, file}]; !ok {
		f.unread[[2]int{bundle, file}] = err
	}
	return nil
}

// left reports whether a payload file, or with file -1 a whole bundle,
// is left out of the retrieval.
func (f *finder) left(bundle, file int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, whole := f.unread[[2]int{bundle, -1}]
	_, part := f.unread[[2]int{bundle, file}]
	return whole || part
}

// unreadParts names the parts left out, in the catalog's order, and says
// why.
func (f *finder) unreadParts(c *Catalog) ([]string, string) {
	keys := slices.Collect(maps.Keys(f.unread))
	slices.SortFunc(keys, func(a, b [2]int) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	var parts, why []string
	for _, k := range keys {
		name := c.Bundles[k[0]].ID
		if k[1] >= 0 {
			name += "/" + f.bundles[k[0]].contents.Files[k[1]].Path
		}
		parts = append(parts, name)
		why = append(why, f.unread[k].Error())
	}
	return parts, strings.Join(why, "; ")
}

// indexKeyFor returns the index key a run was indexed with, among the
// reader's: by the id its catalog records, or the first for a catalog
// written before ids were recorded; nil when none is.
func (r *Reader) indexKeyFor(c *Catalog) []byte {
	for _, k := range r.indexKeys {
		if c.IndexKeyID == "" || IndexKeyID(k) == c.IndexKeyID {
			return k
		}
	}
	return nil
}

func (r *Reader) indexKeyIDs() string {
	ids := make([]string, len(r.indexKeys))
	for i, k := range r.indexKeys {
		ids[i] = IndexKeyID(k)
	}
	return strings.Join(ids, ", ")
}

func (r *Reader) retrieveRun(ctx context.Context, c *Catalog, indexKey []byte, q Query) (*Found, error) {
	mac := NewIndexMAC(indexKey)
	f := &finder{
		r:      r,
		mac:    mac.Key,
		blocks: map[[3]int]cachedBlock{},
		rows:   map[string]map[string]extract.Row{},
		unread: map[[2]int]error{},
	}
	f.bundles = make([]*Bundle, len(c.Bundles))
	if err := parallel.Do(len(c.Bundles), retrievalReads, func(i int) error {
		var err error
		if f.bundles[i], err = r.OpenBundle(ctx, c.Bundles[i]); err != nil {
			return f.leaveOut(ctx, i, -1, err)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	// Each step looks up keys of one kind, and keeps only the rows whose
	// column truly holds the value (the index is keyed by a truncated MAC).
	step := func(kind string, values []string, keep map[string][]string) error {
		return f.fetch(ctx, kind, values, keep, func(v string) func(extract.Table, extract.Row) bool {
			return func(t extract.Table, row extract.Row) bool {
				for _, col := range keep[t.Name] {
					if s, ok := indexValue(row[extract.Positions[t.Name][col]]); ok && s == v {
						return true
					}
				}
				return false
			}
		})
	}
	ids := func(table, col string) []string {
		var out []string
		for _, row := range f.rows[table] {
			if s, ok := indexValue(row[extract.Positions[table][col]]); ok && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
		slices.Sort(out)
		return out
	}
	var persons, proceedings []string
	var sameCode []int64
	switch {
	case q.PersonCode != "":
		if err := step("isikukood", []string{q.PersonCode}, map[string][]string{"ISIK": {"ISIKUKOOD"}}); err != nil {
			return nil, err
		}
		persons = ids("ISIK", "ISIK_ID")
	case q.Table == "ISIK":
		persons = []string{strconv.FormatInt(q.ID, 10)}
		if err := step("isik", persons, map[string][]string{"ISIK": {"ISIK_ID"}}); err != nil {
			return nil, err
		}
		var err error
		if sameCode, err = f.sameCode(step, persons[0]); err != nil {
			return nil, err
		}
	default:
		proceedings = []string{strconv.FormatInt(q.ID, 10)}
	}
	if len(persons) > 0 {
		if err := step("isik", persons, map[string][]string{
			"ISIK": {"ISIK_ID"}, "ISIKU_SEOS": {"ISIK_ID", "SEOTUD_ISIK_ID"}, "POORDUMINE": {"ISIK_ID"}, "MENETLUS": {"ISIK_ID"},
		}); err != nil {
			return nil, err
		}
		proceedings = ids("MENETLUS", "MENETLUS_ID")
	}
	if err := step("menetlus", proceedings, map[string][]string{
		"MENETLUS": {"MENETLUS_ID"}, "OTSUS": {"MENETLUS_ID"}, "JUHTUMIPLAAN": {"MENETLUS_ID"}, "TOIMING": {"MENETLUS_ID"}, "DOKUMENT": {"MENETLUS_ID"},
	}); err != nil {
		return nil, err
	}
	if q.Table == "MENETLUS" {
		// The proceeding's subject and application, for context.
		if err := step("isik", ids("MENETLUS", "ISIK_ID"), map[string][]string{"ISIK": {"ISIK_ID"}}); err != nil {
			return nil, err
		}
		if err := step("poordumine", ids("MENETLUS", "POORDUMINE_ID"), map[string][]string{"POORDUMINE": {"POORDUMINE_ID"}}); err != nil {
			return nil, err
		}
	}
	if err := step("otsus", ids("OTSUS", "OTSUS_ID"), map[string][]string{"MAKSE": {"OTSUS_ID"}}); err != nil {
		return nil, err
	}
	found := &Found{Batch: c.Batch, Run: c.Run, Tables: map[string][]extract.Row{}, SameCode: sameCode, LeftOut: c.LeftOut}
	for _, t := range extract.Tables {
		m := f.rows[t.Name]
		if len(m) == 0 {
			continue
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		rows := make([]extract.Row, 0, len(m))
		for _, k := range keys {
			rows = append(rows, m[k])
		}
		slices.SortFunc(rows, func(a, b extract.Row) int {
			x, _ := a[0].(int64)
			y, _ := b[0].(int64)
			return int(min(max(x-y, -1), 1))
		})
		found.Tables[t.Name] = rows
	}
	// A row in a part left out is not absent: the run is not known not
	// to hold it.
	if q.Table != "" && len(f.unread) == 0 && found.Rows() > 0 && !slices.ContainsFunc(found.Tables[q.Table], func(r extract.Row) bool { return r[0] == q.ID }) {
		found.Absent = q.Table + " " + strconv.FormatInt(q.ID, 10)
	}
	if len(f.unread) > 0 {
		found.UnreadParts, found.Unread = f.unreadParts(c)
	}
	return found, nil
}

// sameCode looks up the ISIKUKOOD of the ISIK row person (already found)
// and returns the ids of the other ISIK rows that hold it, leaving them out
// of the rows found.
func (f *finder) sameCode(step func(string, []string, map[string][]string) error, person string) ([]int64, error) {
	row, ok := f.rows["ISIK"][person]
	if !ok {
		return nil, nil
	}
	code, ok := indexValue(row[extract.Positions["ISIK"]["ISIKUKOOD"]])
	if !ok {
		return nil, nil
	}
	if err := step("isikukood", []string{code}, map[string][]string{"ISIK": {"ISIKUKOOD"}}); err != nil {
		return nil, err
	}
	var ids []int64
	for key, r := range f.rows["ISIK"] {
		if key != person {
			id, _ := r[0].(int64)
			ids = append(ids, id)
			delete(f.rows["ISIK"], key)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// retrievalReads bounds the reads a retrieval has in flight at once.
const retrievalReads = 16

// retrievalBytes bounds, roughly, the memory of the blocks a reader's
// retrievals read at once; a block larger than it is read alone.
const retrievalBytes = 64 << 20

// fetch reads every block the index names for each value's key, in every
// bundle, and keeps the rows keep(value) accepts. The index lookups of all
// the values in all the bundles go out at once, then all the blocks they
// name: over a long link a step costs a few round trips, not one per block.
func (f *finder) fetch(ctx context.Context, kind string, values []string, tables map[string][]string, keep func(value string) func(extract.Table, extract.Row) bool) error {
	own := ownKind[kind]
	_, byOwn := tables[own]
	indexed := hasIndexed(tables, kind)
	type job struct {
		value string
		key   [10]byte
		bi    int
		locs  [][2]int
	}
	var jobs []*job
	for _, v := range values {
		key := f.mac(kind, v)
		for bi, b := range f.bundles {
			if !f.left(bi, -1) && b.holdsAny(tables) {
				jobs = append(jobs, &job{value: v, key: key, bi: bi})
			}
		}
	}
	if err := parallel.Do(len(jobs), retrievalReads, func(i int) error {
		j := jobs[i]
		b := f.bundles[j.bi]
		if byOwn {
			id, _ := strconv.ParseInt(j.value, 10, 64)
			j.locs = b.byKey(own, id)
		}
		if indexed {
			more, err := b.lookup(ctx, j.key)
			if err != nil {
				return f.leaveOut(ctx, j.bi, -1, err)
			}
			j.locs = append(j.locs, more...)
		}
		return nil
	}); err != nil {
		return err
	}
	var need [][3]int            // bundle, file, block not read yet
	users := map[[3]int][]*job{} // the jobs that name each of them
	for _, j := range jobs {
		for _, loc := range j.locs {
			k := [3]int{j.bi, loc[0], loc[1]}
			if f.left(j.bi, loc[0]) {
				continue
			}
			if _, ok := f.blocks[k]; ok {
				continue
			}
			if users[k] == nil {
				need = append(need, k)
			}
			if !slices.Contains(users[k], j) {
				users[k] = append(users[k], j)
			}
		}
	}
	read := make([]cachedBlock, len(need))
	kept := make([][]extract.Row, len(need))
	mem := f.r.blockMem
	if err := parallel.Do(len(need), retrievalReads, func(i int) error {
		k := need[i]
		// A block in flight costs its bytes about four times over (read,
		// decompressed, its lines, its rows): a proceeding's large
		// documents are read a few at a time, not sixteen.
		held := min(4*f.bundles[k[0]].blockBytes(k[1], k[2]), retrievalBytes)
		if err := mem.Acquire(ctx, held); err != nil {
			return err
		}
		defer mem.Release(held)
		t, rows, err := f.bundles[k[0]].readBlock(ctx, k[1], k[2])
		if err != nil {
			return f.leaveOut(ctx, k[0], k[1], err)
		}
		size := 0
		for _, row := range rows {
			size += extract.ValueBytes(row)
		}
		// The rows wanted are taken now, while the block is in memory: a
		// block of large documents is not kept for later steps (they read
		// it again if they need it), and its documents go to the spool.
		// Rows are decoded in the block's plaintext; a row taken from a
		// block not kept is copied out of it, so that it does not hold
		// another row's document until the retrieval ends, unless it is
		// most of the block itself (large text, which is not spooled).
		cache := size <= largeBlock
		taken := make([]bool, len(rows))
		for _, j := range users[k] {
			accept := keep(j.value)
			for ri, row := range rows {
				if taken[ri] || !accept(t, row) {
					continue
				}
				taken[ri] = true
				if row, err = f.spool(t, row); err != nil {
					return err
				}
				if !cache && 2*extract.ValueBytes(row) < size {
					row = detach(row)
				}
				kept[i] = append(kept[i], row)
			}
		}
		read[i].t = t
		if cache {
			read[i].rows = rows
		}
		return nil
	}); err != nil {
		return err
	}
	for i, k := range need {
		if read[i].rows != nil {
			f.blocks[k] = read[i]
		}
		for _, row := range kept[i] {
			f.keepRow(read[i].t, row)
		}
	}
	for _, j := range jobs {
		accept := keep(j.value)
		for _, loc := range j.locs {
			k := [3]int{j.bi, loc[0], loc[1]}
			if users[k] != nil {
				continue // taken as it was read
			}
			cb := f.blocks[k]
			for _, row := range cb.rows {
				if !accept(cb.t, row) {
					continue
				}
				row, err := f.spool(cb.t, row)
				if err != nil {
					return err
				}
				f.keepRow(cb.t, row)
			}
		}
	}
	return nil
}

// spool puts the row's large documents in the reader's spool, if it has
// one, unless the row was found before.
func (f *finder) spool(t extract.Table, row extract.Row) (extract.Row, error) {
	if f.r.Spool == nil {
		return row, nil
	}
	if _, ok := f.rows[t.Name][fmt.Sprint(row[0])]; ok {
		return row, nil
	}
	return f.r.Spool.spoolRow(t, row)
}

// detach copies the text and bytes of row out of the memory it was
// decoded in.
func detach(row extract.Row) extract.Row {
	out := slices.Clone(row)
	for i, v := range out {
		switch v := v.(type) {
		case string:
			out[i] = strings.Clone(v)
		case []byte:
			out[i] = bytes.Clone(v)
		}
	}
	return out
}

// keepRow adds a row to what was found; a row found again is kept once.
func (f *finder) keepRow(t extract.Table, row extract.Row) {
	if f.rows[t.Name] == nil {
		f.rows[t.Name] = map[string]extract.Row{}
	}
	key := fmt.Sprint(row[0])
	if _, ok := f.rows[t.Name][key]; !ok {
		f.rows[t.Name][key] = row
	}
}

type cachedBlock struct {
	t    extract.Table
	rows []extract.Row
}

// holdsAny reports whether the bundle has rows of any of the tables.
func (b *Bundle) holdsAny(tables map[string][]string) bool {
	for _, f := range b.contents.Files {
		if _, ok := tables[f.Table]; ok && !f.Reference {
			return true
		}
	}
	return false
}

// hasIndexed reports whether any of the tables indexes keys of kind.
func hasIndexed(tables map[string][]string, kind string) bool {
	for t := range tables {
		for _, k := range indexKeys[t] {
			if k[1] == kind {
				return true
			}
		}
	}
	return false
}

// byKey finds the blocks of table whose key range holds id.
func (b *Bundle) byKey(table string, id int64) [][2]int {
	var out [][2]int
	for i, f := range b.contents.Files {
		if f.Table != table || f.Reference {
			continue
		}
		n := sort.Search(len(f.Blocks), func(j int) bool { return f.Blocks[j][4] >= id })
		if n < len(f.Blocks) && f.Blocks[n][3] <= id {
			out = append(out, [2]int{i, n})
		}
	}
	return out
}
