package archive

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"filippo.io/age"
	"github.com/klauspost/compress/gzip"
	"golang.org/x/sync/semaphore"

	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/faultpoint"
	"github.com/starmig/starmig/internal/parallel"
	"github.com/starmig/starmig/mapping"
)

// Config is what an archive run needs.
type Config struct {
	Store       Store
	Batch       string
	Recipients  []age.Recipient
	SignKey     ed25519.PrivateKey
	IndexKey    []byte
	RetainUntil time.Time
	Now         time.Time // the run's time: its name and Bagging-Date
	Source      string    // the source, credentials masked, for the catalog
	// Writer names the build of starmig that writes the run, for the
	// catalog and each bundle's bag-info.txt (Bag-Software-Agent).
	Writer string
	// SkipTables names the tables of STAR1 that STAR1.md does not
	// describe which the run may leave out (--skip-table), and LeftOut is
	// what LeftOut found with them, for the catalog.
	SkipTables []string
	LeftOut    []extract.TableRows

	// BundleSize is the ceiling on a bundle's payload before compression
	// (default 256 MiB); a bundle closes after the row that reaches it. A
	// bundle also closes after MaxIndexEntries index records (default 2^21,
	// 32 MiB), which bounds the writer's memory.
	BundleSize      int64
	MaxIndexEntries int
	PartSize        int64  // payload file ceiling before compression, default 32 MiB
	BlockSize       int    // gzip member, the unit a retrieval reads, default 128 KiB
	Spool           string // folder for payload files waiting for upload, default the system's
	Uploads         int    // parallel uploads, default 4

	// TamperPlaintext and TamperCatalog exist only for the tests of
	// verification, which need archives with faults a writer should never
	// make: a payload whose plaintext changed after its digest was taken, a
	// signed catalog whose counts are wrong. Never set them otherwise.
	TamperPlaintext func(path string, plain []byte)
	TamperCatalog   func(*Catalog)
	// withoutBlockMoney writes bundles as they were written before they
	// kept the money of each block, for the tests of reading them.
	withoutBlockMoney bool
}

func (c *Config) defaults() error {
	switch {
	case c.Store == nil:
		return errors.New("archive: no store")
	case !ValidBatchName(c.Batch):
		return fmt.Errorf("archive: batch name %q: %s", c.Batch, BatchNameRule)
	case len(c.SignKey) != ed25519.PrivateKeySize:
		return errors.New("archive: no signing key (--sign-key or STARMIG_SIGN_KEY)")
	case len(c.IndexKey) < 32:
		return errors.New("archive: no index key (--index-key or STARMIG_INDEX_KEY)")
	case c.Now.IsZero():
		return errors.New("archive: no clock")
	case !c.RetainUntil.After(c.Now):
		return fmt.Errorf("archive: retain-until %s is not in the future", c.RetainUntil.Format(time.DateOnly))
	}
	if err := CheckRecipients(c.Recipients); err != nil {
		return err
	}
	if c.BundleSize <= 0 {
		c.BundleSize = 256 << 20
	}
	if c.MaxIndexEntries <= 0 {
		c.MaxIndexEntries = 1 << 21
	}
	if c.PartSize <= 0 {
		c.PartSize = 32 << 20
	}
	if c.BlockSize <= 0 {
		c.BlockSize = 128 << 10
	}
	if c.Uploads <= 0 {
		c.Uploads = 4
	}
	if c.Spool == "" {
		c.Spool = os.TempDir()
	}
	return nil
}

// BatchNameRule says which batch names ValidBatchName takes.
const BatchNameRule = "use at most 100 letters, digits, '-', '_' and '.'"

// ValidBatchName tells whether s may name a batch: it names a folder of
// the archive, so it is kept to characters every store and file system
// takes as they are.
func ValidBatchName(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 100 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// Writer writes one archive run: rows go in table by table, bundles come
// out, and Close writes the signed catalog. Rows are encoded by the caller's
// goroutine; compression runs on every core, then encryption and hashing
// in order, and uploads in parallel, so that the store is the limit.
type Writer struct {
	cfg    Config
	ctx    context.Context
	cancel context.CancelCauseFunc
	run    string
	prefix string
	cat    Catalog
	catMu  sync.Mutex

	// the caller's side: rows are handed to the encoder in batches
	tables  map[string]bool
	current bool // a table has started
	pending []extract.Row
	values  []any // backing store of the pending rows' copies
	size    int   // bytes of the pending rows' text and binary values
	inQ     chan encodeMsg
	rowMem  *semaphore.Weighted // bytes of rows handed to the encoder and not yet encoded
	inDone  chan struct{}

	// the encoder's state
	table      extract.Table
	sums       map[string]*tableSum
	bundle     *bundleState
	nBundles   int
	part       *partState
	block      []byte
	blockRows  int
	blockFirst int64
	blockLast  int64
	blockMoney []mapping.Cents // sums of the block's amounts, by money column
	mac        *IndexMAC
	reference  map[string][]byte // KOV and KLASSIFIKAATOR rows, for every bundle
	scratch    []byte            // the encryptor's, for writeRow

	compressQ chan *job
	orderQ    chan *job
	jobMem    *semaphore.Weighted // bytes of blocks sealed and not yet encrypted
	encDone   chan struct{}
	uploads   chan upload
	upWG      sync.WaitGroup
	finishWG  sync.WaitGroup
	closed    bool
}

// Stats describes a finished run.
type Stats struct {
	Run     string `json:"run"`
	Bundles int    `json:"bundles"`
	Rows    int64  `json:"rows"`
	Bytes   int64  `json:"bytes"` // stored bytes, every object
	// LeftOut is Catalog.LeftOut: tables of STAR1 the run does not hold.
	LeftOut []extract.TableRows `json:"left_out,omitempty"`
}

// encodeMsg is what the caller hands the encoder: the start of a table,
// or rows of the current one.
type encodeMsg struct {
	table *extract.Table
	rows  []extract.Row
	held  int64 // of rowMem
	alone bool  // the last row is large, and nothing else is in flight (hand)
}

const (
	// encodeBatch is how many rows the caller hands over at once, or
	// fewer when they hold encodeBytes.
	encodeBatch = 256
	encodeBytes = 1 << 20
	// rowBudget and jobBudget bound the memory of the pipeline by bytes,
	// not only by the number of rows and blocks in flight: a large
	// document makes a block of its own, and without them as many such
	// blocks as the queues hold would be in memory at once. What is larger
	// than a budget takes all of it, so such rows and blocks go through one
	// at a time, and memory does not grow with the number of documents.
	rowBudget = 16 << 20
	jobBudget = 48 << 20
)

type tableSum struct {
	rows  int64
	money map[string]mapping.Cents
}

type indexEntry struct {
	key   [10]byte
	file  uint16
	block uint32
}

// compare orders records by key, then file, then block: as two integers,
// the key's first 8 bytes, then its last 2 with the file and the block,
// which sorts the index of a bundle about twice as fast as comparing the
// key's bytes.
func (x indexEntry) compare(y indexEntry) int {
	if c := cmp.Compare(binary.BigEndian.Uint64(x.key[:8]), binary.BigEndian.Uint64(y.key[:8])); c != 0 {
		return c
	}
	return cmp.Compare(x.rest(), y.rest())
}

func (x indexEntry) rest() uint64 {
	return uint64(binary.BigEndian.Uint16(x.key[8:]))<<48 | uint64(x.file)<<32 | uint64(x.block)
}

type bundleState struct {
	n        int
	id       string
	prefix   string
	plain    int64 // payload bytes before compression so far
	files    []*fileInfo
	entries  []indexEntry
	sums     map[string]*tableSum
	payload  map[string]Digests // path → ciphertext digests, for the manifests
	index    Digests
	objects  []ObjectEntry
	uploadWG sync.WaitGroup
	mu       sync.Mutex
	err      error
}

func (b *bundleState) fail(err error) {
	b.mu.Lock()
	if b.err == nil {
		b.err = err
	}
	b.mu.Unlock()
}

type partState struct {
	owner  *bundleState
	info   *fileInfo
	plain  hash.Hash
	blocks int
	// encryptor's side
	spool   *spoolFile
	enc     io.WriteCloser
	digest  *digester
	offset  int64
	started bool
}

// fileInfo is one payload file in contents.json.
type fileInfo struct {
	Path        string `json:"path"`
	Table       string `json:"table,omitempty"`
	Reference   bool   `json:"reference,omitempty"`
	Rows        int64  `json:"rows"`
	PlainSHA256 string `json:"plaintext_sha256"`
	PlainBytes  int64  `json:"plaintext_bytes"`
	// Blocks are the gzip members: offset and length in the gzip stream,
	// rows, and the first and last primary key of the rows (tables with
	// one integer key, which a retrieval finds by range, not by index).
	Blocks [][5]int64 `json:"blocks,omitempty"`
	// BlockDigests holds the short digest (shortDigest) of each block's
	// gzip member, so that a retrieval, which decrypts one block and not
	// the whole file, still reads only what the writer wrote. Bundles
	// written before it was kept have none.
	BlockDigests []string `json:"block_digests,omitempty"`
	// BlockMoney holds, for a table with money columns, the sums of each
	// block's amounts, one per money column in the table's order: what a
	// restore that leaves a block or the file out cannot restore. Bundles
	// written before it was kept have none.
	BlockMoney [][]string `json:"block_money,omitempty"`
	Stored     int64      `json:"stored_bytes"`
}

type jobKind int

const (
	jobBlock jobKind = iota
	jobEndPart
	jobEndBundle
)

type job struct {
	kind   jobKind
	first  int64
	last   int64
	part   *partState
	bundle *bundleState
	plain  []byte
	held   int64    // of jobMem
	stream bool     // compressed by the encryptor straight into the payload file
	money  []string // the block's money sums (fileInfo.BlockMoney)
	// row, when set, is encoded by the encryptor instead of plain (see
	// streamRow), which then learns plainBytes when written is closed.
	table      extract.Table
	row        extract.Row
	plainBytes int64
	written    chan struct{}
	rows       int
	out        bytes.Buffer
	digest     string // shortDigest of out
	done       chan struct{}
}

type upload struct {
	key    string
	spool  *spoolFile // discarded after upload; else data
	data   []byte
	size   int64
	bundle *bundleState
}

// after returns run, or, when an earlier run of the archive sorts after
// it (one started in the same second, or a clock set back), a name with
// the newest run's time and the next suffix: the newest run is the one
// that sorts last, and it must be the one written last.
func after(runs []RunRef, run string) (string, error) {
	newest := ""
	for _, r := range runs {
		newest = max(newest, r.Run)
	}
	if newest < run {
		return run, nil
	}
	at, suffix, ok := strings.Cut(newest, "-")
	n, err := strconv.ParseUint(suffix, 16, 32)
	if !ok || err != nil || len(suffix) != 6 || n == 0xffffff {
		return "", fmt.Errorf("archive: run %s of this archive sorts after a new run %s: wait a second and run again", newest, run)
	}
	return fmt.Sprintf("%s-%06x", at, n+1), nil
}

// InsideArchiveError refuses to write an archive into a folder inside
// another archive.
type InsideArchiveError struct {
	Store   string // the store given
	Inside  string // its path inside the archive, batches/all/<run>
	Archive string // the archive it is inside
}

func (e *InsideArchiveError) Error() string {
	return fmt.Sprintf("archive: %s is the folder %s inside the archive %s: an archive written there would be locked inside that one; give the archive's own URL, %s, or a folder outside it",
		e.Store, e.Inside, e.Archive, e.Archive)
}

// AboveArchiveError refuses to start an archive in a folder above
// another archive.
type AboveArchiveError struct {
	Store string   // the store given, which holds no run
	Below []string // the archives in the folders below it
}

func (e *AboveArchiveError) Error() string {
	below := "the folder below it holds the archive " + e.Below[0]
	if len(e.Below) > 1 {
		below = "folders below it hold the archives " + strings.Join(e.Below, ", ")
	}
	return fmt.Sprintf("archive: %s holds no archive run, and %s: a run written here would start a second archive, locked for the retention; give the archive's own URL, or a folder that holds no archive",
		e.Store, below)
}

// insideArchive refuses a store inside an archive: an archive written
// there would be locked among that archive's runs for the retention.
func insideArchive(ctx context.Context, st Store) error {
	if root, inside := enclosingArchive(ctx, st); root != nil {
		return &InsideArchiveError{Store: st.String(), Inside: inside, Archive: root.String()}
	}
	return nil
}

// aboveArchive refuses the first run (runs are the store's) into a folder
// above an archive (s3://bucket for s3://bucket/prod): a --to that left
// out the archive's folder, which would start a second archive.
func aboveArchive(ctx context.Context, st Store, runs []RunRef) error {
	if len(runs) > 0 {
		return nil
	}
	below, err := archivesBelow(ctx, st)
	if err != nil {
		return err
	}
	if len(below) > 0 {
		return &AboveArchiveError{Store: st.String(), Below: below}
	}
	return nil
}

// CheckPlace refuses, before a run, a store NewWriter would refuse as
// inside or above an archive, so that migrate --archive is refused before
// it reads STAR1. A store it cannot list (a folder not made yet, a
// server down) passes: NewWriter says what is wrong with it.
func CheckPlace(ctx context.Context, st Store) error {
	if err := insideArchive(ctx, st); err != nil {
		return err
	}
	runs, err := ListRuns(ctx, st, "")
	if err != nil {
		return nil
	}
	if err := aboveArchive(ctx, st, runs); errors.As(err, new(*AboveArchiveError)) {
		return err
	}
	return nil
}

// NewWriter starts an archive run of cfg.Batch. It checks the store can
// take it (on S3: Object Lock), and accounts for earlier runs, of any
// batch, that were interrupted before their catalog.
func NewWriter(ctx context.Context, cfg Config) (*Writer, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if err := insideArchive(ctx, cfg.Store); err != nil {
		return nil, err
	}
	if err := cfg.Store.CheckWritable(ctx); err != nil {
		return nil, err
	}
	suffix := make([]byte, 3)
	if _, err := rand.Read(suffix); err != nil {
		return nil, err
	}
	run := cfg.Now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(suffix)
	var abandoned []ObjectEntry
	// Every run holds all of STAR1, so the runs of all batches are one
	// history of it: a new run sorts after every run of every batch.
	runs, err := ListRuns(ctx, cfg.Store, "")
	if err != nil {
		return nil, err
	}
	if err := aboveArchive(ctx, cfg.Store, runs); err != nil {
		return nil, err
	}
	if run, err = after(runs, run); err != nil {
		return nil, err
	}
	// The objects of interrupted runs, of any batch, are accounted for by
	// this run's catalog: the next run of the interrupted batch may never
	// come (the round of municipalities moved on, or the archive is written
	// by a batch of its own), and its objects are locked for years. A run
	// still being written that is taken for interrupted is accounted for
	// twice, which verification accepts.
	for _, r := range runs {
		if r.Complete {
			continue
		}
		err := cfg.Store.Keys(ctx, RunPrefix(r.Batch, r.Run), func(key string, size int64) error {
			abandoned = append(abandoned, ObjectEntry{Path: key, Size: size})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	recipients := make([]string, 0, len(cfg.Recipients))
	for _, r := range cfg.Recipients {
		if s, ok := r.(fmt.Stringer); ok {
			recipients = append(recipients, s.String())
		}
	}
	wctx, cancel := context.WithCancelCause(ctx)
	w := &Writer{
		cfg: cfg, ctx: wctx, cancel: cancel, run: run, prefix: RunPrefix(cfg.Batch, run),
		cat: Catalog{
			Format: catalogFormat, Batch: cfg.Batch, Run: run, Created: cfg.Now.UTC(), Source: cfg.Source,
			RetainUntil: cfg.RetainUntil.UTC().Truncate(time.Second), Locked: cfg.Store.Locks(),
			Recipients: recipients, IndexKeyID: IndexKeyID(cfg.IndexKey), SigningKeyID: SigningKeyID(cfg.SignKey.Public().(ed25519.PublicKey)), Tables: map[string]Sum{}, Abandoned: abandoned,
			LeftOut: cfg.LeftOut, Writer: cfg.Writer,
		},
		tables:    map[string]bool{},
		inQ:       make(chan encodeMsg, 4),
		rowMem:    semaphore.NewWeighted(rowBudget),
		jobMem:    semaphore.NewWeighted(jobBudget),
		inDone:    make(chan struct{}),
		sums:      map[string]*tableSum{},
		mac:       NewIndexMAC(cfg.IndexKey),
		reference: map[string][]byte{},
		compressQ: make(chan *job, 2*runtime.GOMAXPROCS(0)),
		orderQ:    make(chan *job, 4*runtime.GOMAXPROCS(0)),
		encDone:   make(chan struct{}),
		uploads:   make(chan upload, 2),
	}
	go w.encoder()
	for range runtime.GOMAXPROCS(0) {
		go w.compressor()
	}
	go w.encryptor()
	for range cfg.Uploads {
		w.upWG.Add(1)
		go w.uploader()
	}
	return w, nil
}

// Run is the name of this archive run.
func (w *Writer) Run() string { return w.run }

func (w *Writer) fail(err error) {
	if err != nil {
		w.cancel(err)
	}
}

func (w *Writer) failed() error {
	if w.ctx.Err() != nil {
		return context.Cause(w.ctx)
	}
	return nil
}

// Table starts the rows of table t. Each table comes once; KOV and
// KLASSIFIKAATOR, when they come first, also travel in every bundle as
// reference copies.
func (w *Writer) Table(t extract.Table) error {
	if err := w.failed(); err != nil {
		return err
	}
	if w.tables[t.Name] {
		return fmt.Errorf("archive: table %s archived twice in one run", t.Name)
	}
	w.tables[t.Name] = true
	w.current = true
	if err := w.hand(); err != nil {
		return err
	}
	return w.send(encodeMsg{table: &t})
}

// Row archives one row of the current table, its values in column order.
// The row is encoded, indexed and summed on the Writer's own goroutine, so
// the caller reads the next rows meanwhile; an error there (an amount that
// is not one) comes back from a later call, at the latest from Close.
func (w *Writer) Row(r extract.Row) error {
	if err := w.failed(); err != nil {
		return err
	}
	if !w.current {
		return errors.New("archive: a row before its table")
	}
	if cap(w.values)-len(w.values) < len(r) {
		w.values = make([]any, 0, encodeBatch*len(r))
	}
	start := len(w.values)
	w.values = append(w.values, r...)
	w.pending = append(w.pending, w.values[start:len(w.values):len(w.values)])
	w.size += extract.ValueBytes(r)
	if len(w.pending) >= encodeBatch || w.size >= encodeBytes {
		return w.hand()
	}
	return nil
}

// hand gives the pending rows to the encoder.
func (w *Writer) hand() error {
	if len(w.pending) == 0 {
		return nil
	}
	alone := w.size >= rowBudget
	held := min(int64(w.size), rowBudget)
	if err := w.rowMem.Acquire(w.ctx, held); err != nil {
		return context.Cause(w.ctx)
	}
	if alone {
		// Rows this large (a document) go through the pipeline alone:
		// the encoder has taken every row before them (held is all of
		// rowMem), so once every block sealed before them is encrypted
		// (all of jobMem is free), nothing else is in flight.
		if err := w.drain(w.jobMem, jobBudget); err != nil {
			w.rowMem.Release(held)
			return err
		}
	}
	err := w.send(encodeMsg{rows: w.pending, held: held, alone: alone})
	if err != nil {
		w.rowMem.Release(held)
	}
	w.pending, w.values, w.size = make([]extract.Row, 0, encodeBatch), nil, 0 // the encoder owns the old ones
	if err == nil && alone {
		// And the caller reads on only once the encoder has made them a
		// block and let go of them, so that the next document is read
		// while this one is compressed, not while it is encoded too.
		err = w.drain(w.rowMem, rowBudget)
	}
	return err
}

// drain waits until all of budget is free in m.
func (w *Writer) drain(m *semaphore.Weighted, budget int64) error {
	if err := m.Acquire(w.ctx, budget); err != nil {
		return context.Cause(w.ctx)
	}
	m.Release(budget)
	return nil
}

func (w *Writer) send(m encodeMsg) error {
	select {
	case w.inQ <- m:
		return nil
	case <-w.ctx.Done():
		return context.Cause(w.ctx)
	}
}

// encoder runs the caller's rows through encodeRow, in order.
func (w *Writer) encoder() {
	defer close(w.inDone)
	for m := range w.inQ {
		if w.failed() != nil {
			w.rowMem.Release(m.held)
			continue
		}
		if m.table != nil {
			w.endPart()
			w.table = *m.table
			w.sums[w.table.Name] = &tableSum{money: map[string]mapping.Cents{}}
			w.blockMoney = nil
			if n := len(moneyColumns(w.table)); n > 0 && !w.cfg.withoutBlockMoney {
				w.blockMoney = make([]mapping.Cents, n)
			}
			continue
		}
		for i, r := range m.rows {
			if err := w.encodeRow(r, m.alone && i == len(m.rows)-1); err != nil {
				w.fail(err)
				break
			}
		}
		w.rowMem.Release(m.held)
	}
}

// stopEncoder hands over what is pending and waits for the encoder to take
// it all.
func (w *Writer) stopEncoder() {
	if w.failed() == nil {
		_ = w.hand() // an error is the run's: failed() reports it
	}
	close(w.inQ)
	<-w.inDone
}

// encodeRow appends one row to the current block, indexes it and sums it;
// a large row that came alone (hand) may go to streamRow instead.
func (w *Writer) encodeRow(r extract.Row, alone bool) error {
	t := w.table
	if w.bundle == nil {
		w.startBundle()
	}
	if w.part == nil {
		w.startPart()
	}
	if alone && w.streams(t, r) {
		return w.streamRow(t, r)
	}
	before := len(w.block)
	var err error
	w.block, err = appendRow(w.block, t, r)
	if err != nil {
		w.block = w.block[:before]
		return err
	}
	if t.Name == "KOV" || t.Name == "KLASSIFIKAATOR" {
		if w.bundle.n == 1 {
			w.reference[t.Name] = append(w.reference[t.Name], w.block[before:]...)
		}
	}
	if id, ok := r[0].(int64); ok {
		if w.blockRows == 0 {
			w.blockFirst = id
		}
		w.blockLast = id
	}
	w.blockRows++
	w.part.info.Rows++
	size := int64(len(w.block) - before)
	w.part.info.PlainBytes += size
	w.bundle.plain += size
	if err := w.sum(t, r); err != nil {
		return err
	}
	w.indexRow(t, r)
	// The values are in the block now, and the row is the Writer's own
	// copy: a document's bytes may go before the block waits for its turn.
	clear(r)
	if len(w.block) >= w.cfg.BlockSize {
		w.sealBlock()
	}
	return w.cut()
}

// streams says whether row r, which came alone, is written by streamRow:
// a row of rowBudget or more, unless it is a reference row, which is kept
// for every bundle, or a test alters blocks.
func (w *Writer) streams(t extract.Table, r extract.Row) bool {
	return w.cfg.TamperPlaintext == nil && t.Name != "KOV" && t.Name != "KLASSIFIKAATOR" &&
		extract.ValueBytes(r) >= rowBudget
}

// streamRow writes row r (a document) as a block of its own: the
// encryptor encodes it straight into the compressor and the payload
// file's plaintext digest, and streamRow waits until it is written. The
// row is in memory once, as read, never also as its encoded line.
// Nothing else is in flight meanwhile: hand gives such a row to the
// encoder only once every block before it is encrypted, and the caller
// waits for the encoder.
func (w *Writer) streamRow(t extract.Table, r extract.Row) error {
	w.sealBlock()
	if err := w.sum(t, r); err != nil {
		return err
	}
	w.indexRow(t, r) // in the block the row is about to be
	id, _ := r[0].(int64)
	j := &job{kind: jobBlock, part: w.part, table: t, row: r, stream: true,
		rows: 1, first: id, last: id, money: w.takeBlockMoney(), written: make(chan struct{})}
	w.submit(j)
	select {
	case <-j.written:
	case <-w.ctx.Done():
		return context.Cause(w.ctx)
	}
	w.part.blocks++
	w.part.info.Rows++
	w.part.info.PlainBytes += j.plainBytes
	w.bundle.plain += j.plainBytes
	return w.cut()
}

// cut ends the payload file and the bundle when they are full.
func (w *Writer) cut() error {
	if w.part.info.PlainBytes >= w.cfg.PartSize {
		w.endPart()
	}
	if w.bundle.plain >= w.cfg.BundleSize || len(w.bundle.entries) >= w.cfg.MaxIndexEntries {
		w.endBundle()
	}
	return w.failed()
}

// sum counts row r and adds its amounts to its table's sums, the run's
// and the bundle's.
func (w *Writer) sum(t extract.Table, r extract.Row) error {
	ts := w.sums[t.Name]
	ts.rows++
	bs := w.bundle.sums[t.Name]
	if bs == nil {
		bs = &tableSum{money: map[string]mapping.Cents{}}
		w.bundle.sums[t.Name] = bs
	}
	bs.rows++
	k := -1 // of the money columns
	for i, c := range t.Columns {
		if c.Kind != extract.Decimal {
			continue
		}
		if k++; r[i] == nil {
			continue
		}
		s, _ := r[i].(string)
		cents, err := mapping.ParseCents(s)
		if err != nil {
			return fmt.Errorf("archive: %s %v: %s %q is not an amount: %v", t.Name, r[0], c.Name, s, err)
		}
		if ts.money[c.Name], err = mapping.AddSum(ts.money[c.Name], cents); err == nil {
			if bs.money[c.Name], err = mapping.AddSum(bs.money[c.Name], cents); err == nil && w.blockMoney != nil {
				w.blockMoney[k], err = mapping.AddSum(w.blockMoney[k], cents)
			}
		}
		if err != nil {
			return fmt.Errorf("archive: %s %v: the sum of %s: %v", t.Name, r[0], c.Name, err)
		}
	}
	return nil
}

// takeBlockMoney gives the money sums of the block being sealed, as
// fileInfo.BlockMoney keeps them, and starts the next block's at zero;
// nil for a table without money.
func (w *Writer) takeBlockMoney() []string {
	if len(w.blockMoney) == 0 {
		return nil
	}
	out := make([]string, len(w.blockMoney))
	for i, c := range w.blockMoney {
		out[i] = c.String()
		w.blockMoney[i] = 0
	}
	return out
}

// indexKeys are the kinds of index key of each table's rows: the column
// whose value is looked up, and the kind it is looked up as. A row's own
// id is not indexed: rows come in key order, and each block records its
// first and last key (ownKind).
var indexKeys = map[string][][2]string{
	"ISIK":         {{"ISIKUKOOD", "isikukood"}},
	"ISIKU_SEOS":   {{"ISIK_ID", "isik"}, {"SEOTUD_ISIK_ID", "isik"}},
	"POORDUMINE":   {{"ISIK_ID", "isik"}},
	"MENETLUS":     {{"ISIK_ID", "isik"}},
	"OTSUS":        {{"MENETLUS_ID", "menetlus"}},
	"MAKSE":        {{"OTSUS_ID", "otsus"}},
	"JUHTUMIPLAAN": {{"MENETLUS_ID", "menetlus"}},
	"TOIMING":      {{"MENETLUS_ID", "menetlus"}},
	"DOKUMENT":     {{"MENETLUS_ID", "menetlus"}},
}

// ownKind is the table whose own id a kind of key names.
var ownKind = map[string]string{"isik": "ISIK", "poordumine": "POORDUMINE", "menetlus": "MENETLUS", "otsus": "OTSUS"}

// IndexMAC makes index keys. It reuses its buffers, so that the keys of
// every row of STAR1 allocate nothing; one IndexMAC serves one goroutine.
type IndexMAC struct {
	mac hash.Hash
	buf []byte
}

// NewIndexMAC makes index keys with the secret index key.
func NewIndexMAC(indexKey []byte) *IndexMAC {
	return &IndexMAC{mac: hmac.New(sha256.New, indexKey)}
}

// Key is the index key of a value looked up as kind: the first 10 bytes
// of HMAC-SHA-256(index key, "kind:value").
func (m *IndexMAC) Key(kind, value string) [10]byte {
	m.mac.Reset()
	m.buf = append(append(append(m.buf[:0], kind...), ':'), value...)
	m.mac.Write(m.buf)
	m.buf = m.mac.Sum(m.buf[:0])
	var k [10]byte
	copy(k[:], m.buf)
	return k
}

// indexValue is the value a row is indexed and found by: an id, or a
// personal code without the spaces around it that STAR1 may hold (the
// mapping trims them too, so a person's rows are found by the code STAR2
// knows them by).
func indexValue(v any) (string, bool) {
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10), true
	case string:
		x = strings.TrimSpace(x)
		if x == "" {
			return "", false
		}
		return x, true
	}
	return "", false
}

func (w *Writer) indexRow(t extract.Table, r extract.Row) {
	for _, k := range indexKeys[t.Name] {
		v, ok := indexValue(r[extract.Positions[t.Name][k[0]]])
		if !ok {
			continue
		}
		w.bundle.entries = append(w.bundle.entries, indexEntry{
			key: w.mac.Key(k[1], v), file: uint16(len(w.bundle.files) - 1), block: uint32(w.part.blocks),
		})
	}
}

func (w *Writer) startBundle() {
	w.nBundles++
	n := w.nBundles
	w.bundle = &bundleState{
		n: n, sums: map[string]*tableSum{}, payload: map[string]Digests{},
		prefix: fmt.Sprintf("%s%04d/", w.prefix, n),
	}
	w.bundle.id = w.bundle.prefix[len(BatchesPrefix) : len(w.bundle.prefix)-1]
}

func (w *Writer) startPart() {
	count := 0
	for _, f := range w.bundle.files {
		if f.Table == w.table.Name {
			count++
		}
	}
	info := &fileInfo{Path: fmt.Sprintf("data/%s/%04d.jsonl.gz.age", w.table.Name, count+1), Table: w.table.Name}
	w.bundle.files = append(w.bundle.files, info)
	w.part = &partState{owner: w.bundle, info: info, plain: sha256.New()}
	if len(w.bundle.files) > 65535 {
		w.fail(errors.New("archive: more than 65535 payload files in one bundle: raise the part size"))
	}
}

func (w *Writer) submit(j *job) {
	j.done = make(chan struct{})
	if j.kind == jobBlock && !j.stream {
		select {
		case w.compressQ <- j:
		case <-w.ctx.Done():
			return
		}
	} else {
		close(j.done)
	}
	select {
	case w.orderQ <- j:
	case <-w.ctx.Done():
	}
}

// blockPool keeps the buffers of finished blocks, by pointer as
// sync.Pool asks of slices.
var blockPool = sync.Pool{New: func() any { return new([]byte) }}

func (w *Writer) sealBlock() {
	if len(w.block) == 0 {
		return
	}
	w.part.plain.Write(w.block)
	if w.cfg.TamperPlaintext != nil {
		w.cfg.TamperPlaintext(w.part.info.Path, w.block)
	}
	// The block and its compressed copy, which for a document that does
	// not compress is about as large.
	held := min(2*int64(len(w.block)), jobBudget)
	if err := w.jobMem.Acquire(w.ctx, held); err != nil {
		return // the run failed: failed() says why
	}
	w.submit(&job{kind: jobBlock, part: w.part, plain: w.block, held: held, stream: len(w.block) > streamBlock,
		rows: w.blockRows, first: w.blockFirst, last: w.blockLast, money: w.takeBlockMoney()})
	w.block = (*blockPool.Get().(*[]byte))[:0]
	w.blockRows = 0
	w.part.blocks++
}

func (w *Writer) endPart() {
	if w.part == nil {
		return
	}
	w.sealBlock()
	w.part.info.PlainSHA256 = hex.EncodeToString(w.part.plain.Sum(nil))
	w.submit(&job{kind: jobEndPart, part: w.part})
	w.part = nil
}

func (w *Writer) endBundle() {
	if w.bundle == nil {
		return
	}
	w.endPart()
	w.submit(&job{kind: jobEndBundle, bundle: w.bundle})
	w.bundle = nil
}

func (w *Writer) compressor() {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	for {
		select {
		case j := <-w.compressQ:
			j.out.Grow(len(j.plain)/2 + 1024)
			zw.Reset(&j.out)
			_, err := zw.Write(j.plain)
			if err == nil {
				err = zw.Close()
			}
			if err != nil {
				w.fail(fmt.Errorf("archive: compressing %s: %w", j.part.info.Path, err))
			}
			j.digest = shortDigest(j.out.Bytes())
			close(j.done)
		case <-w.encDone:
			return
		}
	}
}

// encryptor writes compressed blocks in order into their payload file's
// age stream, spooled to disk through the manifest digests, and finishes
// parts and bundles.
func (w *Writer) encryptor() {
	defer close(w.encDone)
	var open *partState // a payload file being spooled, not yet handed to the uploaders
	defer func() {
		if open != nil && open.spool != nil {
			open.spool.discard()
		}
	}()
	for j := range w.orderQ {
		select {
		case <-j.done:
		case <-w.ctx.Done():
			return
		}
		if w.ctx.Err() != nil {
			return
		}
		var err error
		switch j.kind {
		case jobBlock:
			open = j.part
			err = w.writeBlock(j)
			if j.row != nil && err == nil {
				clear(j.row) // the caller's letGo collects it
				j.row = nil
				close(j.written)
			}
			if j.plain != nil && cap(j.plain) <= 2*w.cfg.BlockSize { // a document's block is not kept
				buf := j.plain[:0]
				blockPool.Put(&buf)
			}
			large := len(j.plain) >= rowBudget
			j.plain = nil
			j.out = bytes.Buffer{}
			if large {
				// A document's block is collected before the next one
				// is made, not beside it (see extract's letGo).
				runtime.GC()
			}
			w.jobMem.Release(j.held)
		case jobEndPart:
			open = j.part
			err = w.finishPart(j.part, j.part.owner)
			if err == nil {
				open = nil
			}
		case jobEndBundle:
			err = w.finishBundle(j.bundle)
		}
		if err != nil {
			w.fail(w.spoolFull(err))
			return
		}
	}
}

func (w *Writer) openPart(p *partState) error {
	f, err := newSpool(w.cfg.Spool)
	if err != nil {
		return err
	}
	p.spool = f
	p.digest = newDigester()
	p.enc, err = age.Encrypt(io.MultiWriter(f, p.digest), w.cfg.Recipients...)
	if err != nil {
		f.discard()
		p.spool = nil
		return fmt.Errorf("archive: encrypting %s: %w", p.info.Path, err)
	}
	p.started = true
	return nil
}

func (w *Writer) writeBlock(j *job) error {
	p := j.part
	if !p.started {
		if err := w.openPart(p); err != nil {
			return err
		}
	}
	var n int64
	if j.stream {
		c := &countingDigest{w: p.enc, sum: sha256.New()}
		zw, err := gzip.NewWriterLevel(c, gzip.BestSpeed)
		if err == nil && j.row != nil {
			j.plainBytes, w.scratch, err = writeRow(io.MultiWriter(p.plain, zw), j.table, j.row, w.scratch)
		} else if err == nil {
			_, err = zw.Write(j.plain)
		}
		if err == nil {
			err = zw.Close()
		}
		if err != nil {
			return fmt.Errorf("archive: compressing and spooling %s: %w", p.info.Path, err)
		}
		n, j.digest = c.n, shortHex(c.sum.Sum(nil))
	} else {
		n = int64(j.out.Len())
		if _, err := p.enc.Write(j.out.Bytes()); err != nil {
			return fmt.Errorf("archive: spooling %s: %w", p.info.Path, err)
		}
	}
	p.info.Blocks = append(p.info.Blocks, [5]int64{p.offset, n, int64(j.rows), j.first, j.last})
	p.info.BlockDigests = append(p.info.BlockDigests, j.digest)
	if j.money != nil {
		p.info.BlockMoney = append(p.info.BlockMoney, j.money)
	}
	p.offset += n
	return nil
}

func (w *Writer) finishPart(p *partState, b *bundleState) error {
	if !p.started {
		if err := w.openPart(p); err != nil {
			return err
		}
	}
	if err := p.enc.Close(); err != nil {
		return fmt.Errorf("archive: encrypting %s: %w", p.info.Path, err)
	}
	p.info.Stored = p.digest.n
	return w.queueUpload(b, p.info.Path, upload{spool: p.spool, size: p.digest.n}, p.digest.Sum())
}

// queueUpload records a payload or tag file of bundle b and sends it to
// the uploaders.
func (w *Writer) queueUpload(b *bundleState, path string, u upload, d Digests) error {
	u.key = b.prefix + path
	u.bundle = b
	b.mu.Lock()
	if strings.HasPrefix(path, "data/") {
		b.payload[path] = d
	}
	b.objects = append(b.objects, ObjectEntry{Path: path, Size: u.size})
	b.mu.Unlock()
	b.uploadWG.Add(1)
	select {
	case w.uploads <- u:
		return nil
	case <-w.ctx.Done():
		b.uploadWG.Done()
		if u.spool != nil {
			u.spool.discard()
		}
		return context.Cause(w.ctx)
	}
}

func (w *Writer) uploader() {
	defer w.upWG.Done()
	for u := range w.uploads {
		err := w.ctx.Err()
		if err == nil {
			err = w.put(u)
		}
		if u.spool != nil {
			u.spool.discard()
		}
		if err != nil {
			u.bundle.fail(err)
			w.fail(err)
		}
		u.bundle.uploadWG.Done()
	}
}

func (w *Writer) put(u upload) error {
	if u.spool == nil {
		return w.cfg.Store.Put(w.ctx, u.key, bytes.NewReader(u.data), u.size, w.cfg.RetainUntil)
	}
	return w.cfg.Store.Put(w.ctx, u.key, io.NewSectionReader(u.spool, 0, u.size), u.size, w.cfg.RetainUntil)
}

// spoolFull says what to do when the spool folder has no room left: the
// system's error names a file that no longer has a name there.
func (w *Writer) spoolFull(err error) error {
	return noRoom(err, fmt.Sprintf("the spool folder %s is full (payload files wait there for their upload, up to seven at once, about 230 MiB at worst; set TMPDIR to a folder with room)", w.cfg.Spool))
}

// noRoom adds to an error of a full file system (ENOSPC) which folder is
// full and what to do, since the system's words name a file that has no
// name there; other errors, and none, pass unchanged.
func noRoom(err error, what string) error {
	if !errors.Is(err, syscall.ENOSPC) {
		return err
	}
	return fmt.Errorf("%w: %s", err, what)
}

// spoolFile is a payload file on disk between its encryption and its
// upload. Its name is removed as soon as the file is made, so that a run
// killed at any moment, even by SIGKILL, leaves nothing behind in the
// spool folder: the system frees the file when the process ends. Where a
// file that is open cannot be removed (Windows), it is removed when
// discarded.
type spoolFile struct {
	*os.File
	name string // still to remove, where it could not be removed at once
}

func newSpool(dir string) (*spoolFile, error) {
	f, err := os.CreateTemp(dir, "starmig-archive-*")
	if err != nil {
		return nil, fmt.Errorf("archive: spool: %w", err)
	}
	s := &spoolFile{File: f}
	if os.Remove(f.Name()) != nil {
		s.name = f.Name()
	}
	return s, nil
}

// discard closes the file, which frees it.
func (s *spoolFile) discard() {
	s.Close()
	if s.name != "" {
		os.Remove(s.name)
	}
}

// encryptSmall compresses (when asked) and encrypts a small payload file
// in memory.
func (w *Writer) encryptSmall(plain []byte, compress bool) ([]byte, error) {
	var buf bytes.Buffer
	enc, err := age.Encrypt(&buf, w.cfg.Recipients...)
	if err != nil {
		return nil, err
	}
	if compress {
		zw, _ := gzip.NewWriterLevel(enc, gzip.BestSpeed)
		if _, err := zw.Write(plain); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
	} else if _, err := enc.Write(plain); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// contents is data/contents.json: what is known of the bundle's payload
// in clear, kept inside the encryption.
type contents struct {
	Format string         `json:"format"`
	Bundle string         `json:"bundle"`
	Files  []*fileInfo    `json:"files"`
	Tables map[string]Sum `json:"tables"`
	Index  indexInfo      `json:"index"`
}

type indexInfo struct {
	Path    string   `json:"path"`
	Entries int      `json:"entries"`
	Fence   []string `json:"fence"` // the first key of every group of indexGroup records, hex
	// Groups holds the first 16 bytes of the SHA-256 of every group, hex,
	// so that a retrieval, which reads one group and not the whole index,
	// still reads only what the writer wrote.
	Groups []string `json:"groups"`
}

const (
	contentsPath = "data/contents.json.age"
	// IndexFile is the bundle's retrieval index, a tag file in clear: its
	// keys are MACs made with the secret index key, and it says no more
	// than which blocks hold rows of one (unnamed) key.
	IndexFile       = "index.bin"
	descriptionPath = "data/STAR1-tables.json.age"
	indexRecord     = 16
	indexGroup      = 1024 // records per fence entry: one 16 KiB read per lookup
)

// shortDigest is the digest the bundle's contents keep of each group of
// index records and of each payload block: the first 16 bytes of its
// SHA-256, hex.
// streamBlock is the size above which a block (a large document, most
// likely, which may not compress) is compressed by the encryptor straight
// into its payload file, in order, rather than into a buffer as large as
// itself on a compressor.
const streamBlock = 1 << 20

// countingDigest passes writes on to w, counting them and hashing them
// for shortDigest.
type countingDigest struct {
	w   io.Writer
	sum hash.Hash
	n   int64
}

func (c *countingDigest) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.sum.Write(b[:n])
	c.n += int64(n)
	return n, err
}

func shortDigest(b []byte) string {
	d := sha256.Sum256(b)
	return shortHex(d[:])
}

// shortHex is a SHA-256 sum as shortDigest gives it.
func shortHex(sum []byte) string { return hex.EncodeToString(sum[:16]) }

func sums(m map[string]*tableSum) map[string]Sum {
	out := map[string]Sum{}
	for name, s := range m {
		sum := Sum{Rows: s.rows}
		for col, c := range s.money {
			if sum.Money == nil {
				sum.Money = map[string]string{}
			}
			sum.Money[col] = c.String()
		}
		out[name] = sum
	}
	return out
}

// finishBundle writes the bundle's small payload files, then, in another
// goroutine once every payload object is stored, its tag files with the
// signature last, and enters it in the catalog.
func (w *Writer) finishBundle(b *bundleState) error {
	small := func(path string, plain []byte, compress bool, ref bool) error {
		ct, err := w.encryptSmall(plain, compress)
		if err != nil {
			return fmt.Errorf("archive: encrypting %s: %w", path, err)
		}
		if ref {
			rows := int64(bytes.Count(plain, []byte{'\n'}))
			b.files = append(b.files, &fileInfo{Path: path, Reference: true, Rows: rows, PlainSHA256: digestOf(plain).SHA256, PlainBytes: int64(len(plain)), Stored: int64(len(ct))})
		}
		return w.queueUpload(b, path, upload{data: ct, size: int64(len(ct))}, digestOf(ct))
	}
	for _, name := range []string{"KLASSIFIKAATOR", "KOV"} {
		if ref, ok := w.reference[name]; ok {
			if err := small("data/reference/"+name+".jsonl.gz.age", ref, true, true); err != nil {
				return err
			}
		}
	}
	if err := small(descriptionPath, describeTables(), false, false); err != nil {
		return err
	}
	// The index: records sorted by key, duplicates dropped.
	slices.SortFunc(b.entries, indexEntry.compare)
	b.entries = slices.Compact(b.entries)
	idx := make([]byte, 0, len(b.entries)*indexRecord)
	info := indexInfo{Path: IndexFile, Entries: len(b.entries), Fence: []string{}, Groups: []string{}}
	for i, e := range b.entries {
		if i%indexGroup == 0 {
			info.Fence = append(info.Fence, hex.EncodeToString(e.key[:]))
		}
		idx = append(idx, e.key[:]...)
		idx = binary.BigEndian.AppendUint16(idx, e.file)
		idx = binary.BigEndian.AppendUint32(idx, e.block)
	}
	for off := 0; off < len(idx); off += indexGroup * indexRecord {
		info.Groups = append(info.Groups, shortDigest(idx[off:min(off+indexGroup*indexRecord, len(idx))]))
	}
	b.entries = nil
	b.index = digestOf(idx)
	if err := w.queueUpload(b, IndexFile, upload{data: idx, size: int64(len(idx))}, b.index); err != nil {
		return err
	}
	c := contents{Format: "starmig-bundle/1", Bundle: b.id, Files: b.files, Tables: sums(b.sums), Index: info}
	cj, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := small(contentsPath, cj, false, false); err != nil {
		return err
	}
	w.finishWG.Add(1)
	go func() {
		defer w.finishWG.Done()
		if err := w.writeTags(b); err != nil {
			w.fail(err)
		}
	}()
	return nil
}

func (w *Writer) writeTags(b *bundleState) error {
	b.uploadWG.Wait()
	if b.err != nil {
		return b.err
	}
	if err := w.failed(); err != nil {
		return err
	}
	var total int64
	for _, o := range b.objects {
		if strings.HasPrefix(o.Path, "data/") {
			total += o.Size
		}
	}
	m256 := manifestText(b.payload, false)
	m512 := manifestText(b.payload, true)
	info := fmt.Sprintf("Source-Organization: Sotsiaalkindlustusamet\nExternal-Description: STAR1 social services register archive, batch %s\nBagging-Date: %s\nExternal-Identifier: %s\nBag-Group-Identifier: %s\nBag-Count: %d\nPayload-Oxum: %d.%d\n",
		w.cfg.Batch, w.cfg.Now.UTC().Format(time.DateOnly), b.id, w.cfg.Batch+"/"+w.run, b.n, total, len(b.payload))
	if w.cfg.Writer != "" {
		info += "Bag-Software-Agent: " + w.cfg.Writer + "\n"
	}
	tags := map[string][]byte{BagitTxt: bagitDeclaration, BagInfoTxt: []byte(info), Manifest256: m256, Manifest512: m512}
	tagDigests := map[string]Digests{}
	for p, body := range tags {
		tagDigests[p] = digestOf(body)
	}
	tagDigests[IndexFile] = b.index
	t256 := manifestText(tagDigests, false)
	t512 := manifestText(tagDigests, true)
	sig := ed25519.Sign(w.cfg.SignKey, t512)
	seq := []string{BagitTxt, BagInfoTxt, Manifest256, Manifest512}
	tags[TagManifest256], tags[TagManifest512], tags[TagSignature] = t256, t512, sig
	seq = append(seq, TagManifest256, TagManifest512, TagSignature)
	// All at once: each write is a few round trips, and over a long link
	// the last bundle's tag files are what the run waits for. The bundle
	// counts only once the signed catalog names it, written after them.
	if err := parallel.Do(len(seq), len(seq), func(i int) error {
		body := tags[seq[i]]
		return w.cfg.Store.Put(w.ctx, b.prefix+seq[i], bytes.NewReader(body), int64(len(body)), w.cfg.RetainUntil)
	}); err != nil {
		return err
	}
	for _, p := range seq {
		b.objects = append(b.objects, ObjectEntry{Path: p, Size: int64(len(tags[p]))})
	}
	slices.SortFunc(b.objects, func(x, y ObjectEntry) int { return strings.Compare(x.Path, y.Path) })
	entry := BundleEntry{
		ID: b.id, Prefix: b.prefix, Objects: b.objects, Tables: sums(b.sums),
		TagManifest: Digests{SHA256: digestOf(t256).SHA256, SHA512: digestOf(t512).SHA512},
	}
	w.catMu.Lock()
	w.cat.Bundles = append(w.cat.Bundles, entry)
	w.catMu.Unlock()
	return nil
}

// Close finishes the last bundle and, when every bundle is stored, writes
// the catalog and then its signature: a run without a signed catalog is
// not a run. It returns what was written.
func (w *Writer) Close() (Stats, error) {
	if w.closed {
		return Stats{}, errors.New("archive: writer closed twice")
	}
	w.closed = true
	w.stopEncoder()
	w.endBundle()
	close(w.orderQ)
	<-w.encDone
	close(w.uploads)
	w.upWG.Wait()
	w.finishWG.Wait()
	if err := w.failed(); err != nil {
		return Stats{}, err
	}
	defer w.cancel(nil)
	for name, s := range sums(w.sums) {
		w.cat.Tables[name] = s
	}
	slices.SortFunc(w.cat.Bundles, func(x, y BundleEntry) int { return strings.Compare(x.ID, y.ID) })
	if w.cfg.TamperCatalog != nil {
		w.cfg.TamperCatalog(&w.cat)
	}
	body, err := json.MarshalIndent(w.cat, "", " ")
	if err != nil {
		return Stats{}, err
	}
	key := w.prefix + CatalogFile
	if err := w.cfg.Store.Put(w.ctx, key, bytes.NewReader(body), int64(len(body)), w.cfg.RetainUntil); err != nil {
		return Stats{}, err
	}
	faultpoint.Hit("archive-sign") // the catalog stored, its signature not
	sig := ed25519.Sign(w.cfg.SignKey, body)
	if err := w.cfg.Store.Put(w.ctx, key+".sig", bytes.NewReader(sig), int64(len(sig)), w.cfg.RetainUntil); err != nil {
		return Stats{}, err
	}
	st := Stats{Run: w.run, Bundles: len(w.cat.Bundles), Bytes: int64(len(body) + len(sig)), LeftOut: w.cat.LeftOut}
	for _, s := range w.cat.Tables {
		st.Rows += s.Rows
	}
	for _, b := range w.cat.Bundles {
		for _, o := range b.Objects {
			st.Bytes += o.Size
		}
	}
	return st, nil
}

// Abort stops the run without a catalog; what was stored stays, and the
// next run of the batch accounts for it.
func (w *Writer) Abort(cause error) {
	if w.closed {
		return
	}
	w.closed = true
	if cause == nil {
		cause = errors.New("archive: run aborted")
	}
	w.cancel(cause)
	w.stopEncoder()
	close(w.orderQ)
	<-w.encDone
	close(w.uploads)
	w.upWG.Wait()
	w.finishWG.Wait()
}
