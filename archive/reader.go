package archive

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"filippo.io/age"
	"github.com/klauspost/compress/gzip"
	"golang.org/x/sync/semaphore"

	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/parallel"
)

// Reader reads an archive with the archivist's keys: the decryption
// identity, the index key (for retrieval) and the signing key's public
// half. It counts the bytes it reads from the store.
type Reader struct {
	store      Store
	pub        SigningKeys
	identities []age.Identity
	indexKeys  [][]byte
	read       atomic.Int64
	requests   atomic.Int64 // ranged reads of objects, for tests
	// blockMem bounds the memory of the blocks in flight across every
	// retrieval the reader runs at once (runs searched side by side).
	blockMem *semaphore.Weighted

	// Spool, when set, keeps the large documents a retrieval finds on disk:
	// their rows hold a *SpooledDocument instead of the bytes.
	Spool *Spool
	// LeaveOutUnreadable, when set, has a retrieval leave out a bundle,
	// or a payload file, that it cannot read as written (Unreadable) and
	// answer from the rest of the run, naming what it left out in
	// Found.UnreadParts and why in Found.Unread, instead of failing.
	LeaveOutUnreadable bool
}

// NewReader reads st with the given keys. Retrieval needs an index key:
// the one the runs were indexed with, or several when it was replaced
// between runs (each run's catalog names its own). Restore and
// verification read whole bundles and need none.
func NewReader(st Store, pub SigningKeys, identities []age.Identity, indexKeys ...[]byte) *Reader {
	r := &Reader{store: st, pub: pub, identities: identities, blockMem: semaphore.NewWeighted(retrievalBytes)}
	for _, k := range indexKeys {
		if len(k) > 0 {
			r.indexKeys = append(r.indexKeys, k)
		}
	}
	return r
}

// BytesRead is how many bytes of stored objects the reader has read.
func (r *Reader) BytesRead() int64 { return r.read.Load() }

type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, fromStore(err)
}

type countingObject struct {
	Object
	n        *atomic.Int64
	requests *atomic.Int64
}

func (c countingObject) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.Object.ReadAt(p, off)
	c.n.Add(int64(n))
	c.requests.Add(1)
	return n, err
}

func (r *Reader) get(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := r.store.Get(ctx, key)
	if err != nil {
		return nil, fromStore(err)
	}
	return countingReader{rc, &r.read}, nil
}

func (r *Reader) small(ctx context.Context, key string) ([]byte, error) {
	rc, err := r.get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 512<<20))
	if err != nil {
		return nil, fmt.Errorf("archive: reading %s: %w", key, err)
	}
	return b, nil
}

// Bundle is one bundle opened for reading: its signature and tag files
// checked, its manifests and contents read.
type Bundle struct {
	Entry    BundleEntry
	Manifest map[string]Digests // payload path → ciphertext digests
	contents contents
	r        *Reader
	mu       sync.Mutex
	files    map[int]*openFile
}

// openFile is one file of a bundle opened for random access, once, by the
// first reader that needs it.
type openFile struct {
	once  sync.Once
	ra    io.ReaderAt
	cache *pageCache // of a payload file
	err   error
}

// OpenBundle checks the bundle's tag manifest against the catalog and its
// signature, the tag files against the tag manifest, and reads its
// manifests and (decrypting it) its contents.
func (r *Reader) OpenBundle(ctx context.Context, e BundleEntry) (*Bundle, error) {
	// The five small files at once: over a long link each read is a round
	// trip, and they are checked against each other only once all are here.
	names := []string{TagManifest512, TagSignature, Manifest256, Manifest512, contentsPath}
	// Readers read a key's first version, which only a listing tells (on
	// S3): the listing of the run that ReadCatalog made, or else one of the
	// bundle, where each file's first read would list its key on its own.
	if err := learn(ctx, r.store, e.Prefix); err != nil {
		return nil, err
	}
	bodies := make([][]byte, len(names))
	if err := parallel.Do(len(names), len(names), func(i int) error {
		var err error
		bodies[i], err = r.small(ctx, e.Prefix+names[i])
		return err
	}); err != nil {
		return nil, err
	}
	t512, sig := bodies[0], bodies[1]
	if !r.pub.Verify(t512, sig) {
		return nil, fmt.Errorf("archive: bundle %s: tag manifest: %w with the signing public keys given (%s): it was signed with another key, or changed since", e.ID, ErrBadSignature, r.pub.IDs())
	}
	if got := digestOf(t512).SHA512; got != e.TagManifest.SHA512 {
		return nil, fmt.Errorf("archive: bundle %s: tag manifest is not the one the catalog names", e.ID)
	}
	tags, err := ParseManifest(t512)
	if err != nil {
		return nil, fmt.Errorf("archive: bundle %s: %s: %v", e.ID, TagManifest512, err)
	}
	b := &Bundle{Entry: e, Manifest: map[string]Digests{}, r: r, files: map[int]*openFile{}}
	for i, name := range []string{Manifest256, Manifest512} {
		body := bodies[2+i]
		if digestOf(body).SHA512 != tags[name] {
			return nil, fmt.Errorf("archive: bundle %s: %s does not match the tag manifest", e.ID, name)
		}
		m, err := ParseManifest(body)
		if err != nil {
			return nil, fmt.Errorf("archive: bundle %s: %s: %v", e.ID, name, err)
		}
		for p, d := range m {
			x := b.Manifest[p]
			if name == Manifest256 {
				x.SHA256 = d
			} else {
				x.SHA512 = d
			}
			b.Manifest[p] = x
		}
	}
	ct := bodies[4]
	if d := digestOf(ct); d != b.Manifest[contentsPath] {
		return nil, fmt.Errorf("archive: bundle %s: %s does not match the manifest", e.ID, contentsPath)
	}
	plain, err := r.decryptSmall(ct)
	if err != nil {
		return nil, fmt.Errorf("archive: bundle %s: %s: %w", e.ID, contentsPath, err)
	}
	if err := json.Unmarshal(plain, &b.contents); err != nil {
		return nil, fmt.Errorf("archive: bundle %s: %s: %v", e.ID, contentsPath, err)
	}
	return b, nil
}

func (r *Reader) decryptSmall(ct []byte) ([]byte, error) {
	d, err := age.Decrypt(bytes.NewReader(ct), r.identities...)
	var notOurs *age.NoIdentityMatchError
	if errors.As(err, &notOurs) {
		return nil, fmt.Errorf("the identity given is not one this run was encrypted to (its catalog.json lists the recipients): %w", err)
	}
	if err != nil {
		return nil, err
	}
	return io.ReadAll(d)
}

// Tables are the row counts the bundle's encrypted contents give.
func (b *Bundle) Tables() map[string]Sum { return b.contents.Tables }

// BlockMoney sums the money the bundle's encrypted contents give for each
// block of table rows (what a restore leaves out with a block), by table
// and money column, for the tables with money whose every payload file
// has it: key holders check it against the catalog's. Bundles written
// before blocks' money was kept give none.
func (b *Bundle) BlockMoney() map[string]map[string]string {
	out := map[string]map[string]string{}
	unknown := map[string]bool{}
	for _, f := range b.contents.Files {
		t, err := extract.TableByName(f.Table)
		if f.Reference || err != nil || len(moneyColumns(t)) == 0 {
			continue
		}
		m := blockMoney(t, f, 0, len(f.Blocks)-1)
		switch {
		case m == nil:
			unknown[f.Table] = true
		case out[f.Table] == nil:
			out[f.Table] = m
		default:
			for col, v := range m {
				if out[f.Table][col], err = addDecimal(out[f.Table][col], v); err != nil {
					unknown[f.Table] = true
				}
			}
		}
	}
	for table := range unknown {
		delete(out, table)
	}
	return out
}

// payloadFile is what a payload file's plaintext holds, for readers.
type PayloadFile struct {
	Path        string
	Table       string
	Reference   bool
	Rows        int64
	PlainSHA256 string
}

// Files lists the bundle's payload files of table rows and reference copies.
func (b *Bundle) Files() []PayloadFile {
	out := make([]PayloadFile, 0, len(b.contents.Files))
	for _, f := range b.contents.Files {
		out = append(out, PayloadFile{Path: f.Path, Table: f.Table, Reference: f.Reference, Rows: f.Rows, PlainSHA256: f.PlainSHA256})
	}
	return out
}

// BlockCheck compares the gzip stream of one payload file, written to it
// in order, block by block with the digests the bundle's contents keep,
// which are what a retrieval checks.
type BlockCheck struct {
	blocks  [][5]int64
	digests []string
	i       int
	off     int64
	h       hash.Hash
	bad     []int
}

// BlockCheck returns a check of the payload file at path, or nil when the
// contents keep no block digests for it (reference files, and bundles
// written before the digests were kept).
func (b *Bundle) BlockCheck(path string) *BlockCheck {
	for _, f := range b.contents.Files {
		if f.Path == path && f.BlockDigests != nil {
			return &BlockCheck{blocks: f.Blocks, digests: f.BlockDigests, h: sha256.New()}
		}
	}
	return nil
}

func (c *BlockCheck) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && c.i < len(c.blocks) {
		start, end := c.blocks[c.i][0], c.blocks[c.i][0]+c.blocks[c.i][1]
		if c.off < start {
			skip := min(int64(len(p)), start-c.off)
			c.off += skip
			p = p[skip:]
			continue
		}
		take := min(int64(len(p)), end-c.off)
		c.h.Write(p[:take])
		c.off += take
		p = p[take:]
		if c.off == end {
			if c.i >= len(c.digests) || shortHex(c.h.Sum(nil)) != c.digests[c.i] {
				c.bad = append(c.bad, c.i)
			}
			c.h.Reset()
			c.i++
		}
	}
	c.off += int64(len(p))
	return n, nil
}

// Bad lists the blocks that did not match, and those the stream written
// so far did not reach.
func (c *BlockCheck) Bad() []int {
	bad := slices.Clone(c.bad)
	for i := c.i; i < len(c.blocks); i++ {
		bad = append(bad, i)
	}
	return bad
}

// ReadFile streams one payload file of table rows, checking as it goes
// the ciphertext against both manifest digests and, at the end, the
// plaintext digest and row count the contents give; fn gets each row.
func (b *Bundle) ReadFile(ctx context.Context, path string, fn func(extract.Row) error) error {
	var f *fileInfo
	for _, x := range b.contents.Files {
		if x.Path == path {
			f = x
		}
	}
	if f == nil {
		return fmt.Errorf("archive: bundle %s has no payload file %s", b.Entry.ID, path)
	}
	t, err := extract.TableByName(f.Table)
	if f.Reference {
		t, err = extract.TableByName(refTable(path))
	}
	if err != nil {
		return fmt.Errorf("archive: bundle %s: %s: %v", b.Entry.ID, path, err)
	}
	rc, err := b.r.get(ctx, b.Entry.Prefix+path)
	if err != nil {
		return err
	}
	defer rc.Close()
	cipherDigest := newDigester()
	callerStopped := false
	err = b.readFile(ctx, rc, cipherDigest, t, f, func(row extract.Row) error {
		err := fn(row)
		callerStopped = err != nil
		return err
	})
	if err != nil && !callerStopped && !StorageFault(err) && ctx.Err() == nil && !errors.Is(err, ErrDigest) {
		// An object changed since it was written (another file put in
		// its place, cut short, a byte flipped) fails to decrypt, unpack
		// or decode long before its end, where its digest is checked.
		// The rest of it is read, and a digest that differs from the
		// manifest is what is wrong, not the row it seemed to hold.
		if _, cerr := io.Copy(cipherDigest, rc); cerr == nil && cipherDigest.Sum() != b.Manifest[path] {
			return fmt.Errorf("archive: bundle %s: %s: %w: changed or damaged since the bundle was written", b.Entry.ID, path, ErrDigest)
		}
	}
	return err
}

// readFile is ReadFile once the object is open: cipherDigest is fed
// every byte of rc that has been read.
func (b *Bundle) readFile(ctx context.Context, rc io.Reader, cipherDigest *digester, t extract.Table, f *fileInfo, fn func(extract.Row) error) error {
	path := f.Path
	dec, err := age.Decrypt(io.TeeReader(rc, cipherDigest), b.r.identities...)
	if err != nil {
		return fmt.Errorf("archive: bundle %s: %s: %w", b.Entry.ID, path, err)
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(dec, 256<<10))
	if err != nil {
		return fmt.Errorf("archive: bundle %s: %s: %w", b.Entry.ID, path, err)
	}
	plain := sha256.New()
	lr := &lineReader{r: io.TeeReader(zr, plain), buf: make([]byte, 1<<20)}
	alone := b.aloneLines(ctx, f)
	// Reading, decrypting, decompressing, hashing and cutting lines run on
	// a goroutine of their own, decoding the lines and fn on this one: a
	// restore was bound by the one core that did all of it.
	readCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	full := make(chan *lineBatch, 4)
	free := make(chan *lineBatch, 6)
	bigDone := make(chan struct{}, 1) // a big line's row is handed on: the next may be decoded
	bigDone <- struct{}{}
	var scanErr error
	go func() {
		defer close(full)
		scanErr = cutLines(readCtx, lr, alone, t, full, free, bigDone)
	}()
	var rows int64
	err = func() error {
		for lb := range full {
			if err := lb.each(t, func(row extract.Row, err error) error {
				if err != nil {
					return fmt.Errorf("archive: bundle %s: %s line %d: %w", b.Entry.ID, path, rows+1, err)
				}
				rows++
				return fn(row)
			}); err != nil {
				return err
			}
			if lb.big {
				bigDone <- struct{}{}
				continue
			}
			select {
			case free <- lb.reset():
			default:
			}
		}
		return nil
	}()
	cancel()
	for range full { // the reader stops at its next batch
	}
	if err != nil {
		return err
	}
	if scanErr != nil {
		return fmt.Errorf("archive: bundle %s: %s: %w", b.Entry.ID, path, scanErr)
	}
	if _, err := io.Copy(cipherDigest, rc); err != nil {
		return fmt.Errorf("archive: bundle %s: %s: %w", b.Entry.ID, path, err)
	}
	if got, want := cipherDigest.Sum(), b.Manifest[path]; got != want {
		return fmt.Errorf("archive: bundle %s: %s: %w: changed or damaged since the bundle was written", b.Entry.ID, path, ErrDigest)
	}
	if got := hex.EncodeToString(plain.Sum(nil)); got != f.PlainSHA256 {
		return fmt.Errorf("archive: bundle %s: %s: plaintext SHA-256 %s, contents say %s: %w", b.Entry.ID, path, got, f.PlainSHA256, ErrPlainDigest)
	}
	if rows != f.Rows {
		return fmt.Errorf("archive: bundle %s: %s holds %d rows, contents say %d: %w", b.Entry.ID, path, rows, f.Rows, ErrPlainDigest)
	}
	return nil
}

// lineBatch is lines of a payload file, in order, on their way from the
// goroutine that reads them to the one that decodes them: up to
// lineBatchBytes of lines, or one line of bigLine bytes or more, decoded
// by the reader (it is not copied again).
type lineBatch struct {
	buf  []byte
	ends []int // where each line of buf ends
	big  bool  // the batch is one big line, decoded: row, or err
	row  extract.Row
	err  error
}

const lineBatchBytes = 256 << 10

func (lb *lineBatch) reset() *lineBatch {
	lb.buf, lb.ends = lb.buf[:0], lb.ends[:0]
	return lb
}

// each decodes the batch's lines in order and hands each row, or the
// error of decoding it, to fn.
func (lb *lineBatch) each(t extract.Table, fn func(extract.Row, error) error) error {
	if lb.big {
		return fn(lb.row, lb.err)
	}
	start := 0
	for _, end := range lb.ends {
		if err := fn(decodeRow(t, lb.buf[start:end])); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// cutLines reads the lines of lr into batches sent to full, taking the
// batches to fill from free where it can, until lr ends, fails, or ctx is
// done. It decodes a big line only once bigDone says that the row of the
// one before is handed on, so that one large document at a time is
// decoded, as when one goroutine did everything. alone gives the size of
// each line that is a large block of its own (see aloneLines), read into
// a buffer of that size and decoded in it.
func cutLines(ctx context.Context, lr *lineReader, alone func(line int64) int, t extract.Table, full chan<- *lineBatch, free <-chan *lineBatch, bigDone <-chan struct{}) error {
	next := func() *lineBatch {
		select {
		case lb := <-free:
			return lb
		default:
			return &lineBatch{buf: make([]byte, 0, lineBatchBytes+16<<10)} // a longer line grows it
		}
	}
	send := func(lb *lineBatch) error {
		select {
		case full <- lb:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	cur := next()
	// handOn sends the lines cut so far, then waits until the row before
	// is handed on.
	handOn := func() error {
		if len(cur.ends) > 0 {
			if err := send(cur); err != nil {
				return err
			}
			cur = next()
		}
		select {
		case <-bigDone:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for n := int64(0); ; n++ {
		own := alone(n)
		if own > 0 {
			// A line read into a buffer of its own is read only once
			// the row before is handed on, and the last document's
			// buffer collected, so that this one takes its memory.
			if err := handOn(); err != nil {
				return err
			}
			runtime.GC()
		}
		line, err := lr.line(own)
		if err == io.EOF {
			break
		} else if err != nil {
			return err
		}
		if len(line) >= bigLine || own > 0 {
			if own == 0 { // else handed on before it was read
				if err := handOn(); err != nil {
					return err
				}
			}
			big := &lineBatch{big: true}
			if own > 0 {
				big.row, big.err = decodeOwnedRow(t, line)
			} else {
				big.row, big.err = decodeRow(t, line)
			}
			if err := send(big); err != nil {
				return err
			}
			continue
		}
		cur.buf = append(cur.buf, line...)
		cur.ends = append(cur.ends, len(cur.buf))
		if len(cur.buf) >= lineBatchBytes {
			if err := send(cur); err != nil {
				return err
			}
			cur = next()
		}
	}
	if len(cur.ends) > 0 {
		return send(cur)
	}
	return nil
}

// aloneLines tells, for payload file f, the size of the plaintext of
// each line that is a block of more than largeBlock stored bytes on its
// own (a document), and 0 for other lines. The size is read from the
// block's gzip trailer, which is at the block's end, by random access
// ahead of the stream: a request for each document, so that its line is
// read into a buffer of its size instead of one doubled up to it, which
// for a moment held the line twice. Where the trailer cannot be read it
// says 0, and the stream, which reads that object too, tells why. The
// file is opened for this on ctx, not in the bundle's files, which keep
// what they open for later reads.
func (b *Bundle) aloneLines(ctx context.Context, f *fileInfo) func(line int64) int {
	i := slices.Index(b.contents.Files, f)
	next, row := 0, int64(0) // the block after the line asked last, and its first line
	var ra io.ReaderAt
	var openErr error
	return func(line int64) int {
		for next < len(f.Blocks) && row+f.Blocks[next][2] <= line {
			row += f.Blocks[next][2]
			next++
		}
		if i < 0 || next >= len(f.Blocks) || row != line {
			return 0
		}
		blk := f.Blocks[next]
		if blk[2] != 1 || blk[1] <= largeBlock {
			return 0
		}
		if ra == nil && openErr == nil {
			ra, _, openErr = b.openFile(ctx, i, next)
		}
		if openErr != nil {
			return 0
		}
		n, err := blockPlainSize(ra, blk)
		if err != nil {
			return 0
		}
		return n
	}
}

// blockPlainSize is plainSize for block blk of the plaintext stream ra,
// from the gzip trailer at the block's end.
func blockPlainSize(ra io.ReaderAt, blk [5]int64) (int, error) {
	var trailer [4]byte
	if _, err := ra.ReadAt(trailer[:], blk[0]+blk[1]-4); err != nil && err != io.EOF {
		return 0, err
	}
	return plainSize(binary.LittleEndian.Uint32(trailer[:]), blk[1]), nil
}

// lineReader cuts the lines of r as bufio.ScanLines does, for lines of
// any length, in a buffer it reuses; but a line the caller gives a
// size for goes into a buffer of its own, which the caller then keeps.
type lineReader struct {
	r          io.Reader
	buf        []byte // buf[start:end] is read and not yet cut
	start, end int
	err        error // of r, once it fails or ends
}

// lineRead is the most lineReader reads at once into a line's own buffer,
// so that little of the lines after it is read there.
const lineRead = 256 << 10

// line returns the next line without its end (\n or \r\n), valid until
// the next call; or, with own > 0, in a buffer of its own of about own
// bytes (more grows it). The last line may lack its \n; after it, line
// returns io.EOF, or the error r failed with.
func (lr *lineReader) line(own int) ([]byte, error) {
	if own > 0 {
		return lr.ownLine(own)
	}
	searched := 0
	for {
		if i := bytes.IndexByte(lr.buf[lr.start+searched:lr.end], '\n'); i >= 0 {
			line := lr.buf[lr.start : lr.start+searched+i]
			lr.start += searched + i + 1
			return dropCR(line), nil
		}
		searched = lr.end - lr.start
		if lr.err != nil {
			return lr.last()
		}
		if lr.start > 0 { // room at the front: move what is left there
			lr.end = copy(lr.buf, lr.buf[lr.start:lr.end])
			lr.start = 0
		}
		if lr.end == len(lr.buf) {
			if len(lr.buf) >= 1<<30 {
				return nil, bufio.ErrTooLong
			}
			lr.buf = append(lr.buf, make([]byte, len(lr.buf))...)[:2*len(lr.buf)]
		}
		lr.fill(lr.buf[lr.end:])
	}
}

// fill reads once into p, after lr.end.
func (lr *lineReader) fill(p []byte) {
	n, err := lr.r.Read(p)
	lr.end += n
	if err != nil {
		lr.err = err
	}
}

// last returns what is left when r has ended, as the last line, or r's
// error.
func (lr *lineReader) last() ([]byte, error) {
	if lr.start == lr.end {
		return nil, lr.err
	}
	line := lr.buf[lr.start:lr.end]
	lr.start = lr.end
	if lr.err != io.EOF {
		return nil, lr.err
	}
	return dropCR(line), nil
}

// ownLine reads the next line into a new buffer of own bytes and more,
// and keeps what it read beyond the line for the next.
func (lr *lineReader) ownLine(own int) ([]byte, error) {
	b := make([]byte, 0, own+1)
	b = append(b, lr.buf[lr.start:lr.end]...)
	lr.start, lr.end = 0, 0
	searched := 0
	for {
		if i := bytes.IndexByte(b[searched:], '\n'); i >= 0 {
			end := searched + i
			if rest := b[end+1:]; len(rest) > len(lr.buf) {
				lr.buf = make([]byte, len(rest))
			}
			lr.end = copy(lr.buf, b[end+1:])
			return dropCR(b[:end:end]), nil
		}
		searched = len(b)
		if lr.err != nil {
			if len(b) == 0 || lr.err != io.EOF {
				return nil, lr.err
			}
			return dropCR(b), nil
		}
		if len(b) == cap(b) {
			b = slices.Grow(b, len(b))
		}
		n, err := lr.r.Read(b[len(b):min(cap(b), len(b)+lineRead)])
		b = b[:len(b)+n]
		if err != nil {
			lr.err = err
		}
	}
}

// nextLine cuts the first line of p, a buffer that holds all of it, as
// bufio.ScanLines does: without its \n or \r\n; the last line may lack
// its \n.
func nextLine(p []byte) (line, rest []byte) {
	line, rest, _ = bytes.Cut(p, []byte{'\n'})
	return dropCR(line), rest
}

// dropCR drops a terminal \r, as bufio.ScanLines does.
func dropCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}

func refTable(path string) string {
	base := path[len("data/reference/"):]
	for i := range base {
		if base[i] == '.' {
			return base[:i]
		}
	}
	return base
}

// Errors of payload checks.
var (
	ErrDigest      = fmt.Errorf("ciphertext does not match the manifest")
	ErrPlainDigest = fmt.Errorf("plaintext does not match the bundle's contents")
	ErrIndexDigest = fmt.Errorf("index does not match the bundle's contents: changed or damaged since the bundle was written")
	ErrBlockDigest = fmt.Errorf("payload block does not match the bundle's contents: changed or forged since the bundle was written")
	ErrDamaged     = fmt.Errorf("the object is not as written: changed or damaged since the bundle was written")
)

// storeError is an error of the storage met reading an object: it says
// nothing of the object's bytes.
type storeError struct{ err error }

func (e storeError) Error() string { return e.err.Error() }
func (e storeError) Unwrap() error { return e.err }

// fromStore marks an error the storage gave as the storage's: the
// storage could not be asked, or stopped answering. An object that does
// not exist (ErrNotExist) is what the archive holds, and is not marked.
func fromStore(err error) error {
	var se storeError
	if err == nil || err == io.EOF || errors.Is(err, ErrNotExist) || errors.As(err, &se) {
		return err
	}
	return storeError{err}
}

// StorageFault says whether err came from the storage (unreachable,
// refused, cut off while reading) or a cancel, rather than from what the
// archive holds: an object missing, damaged or not as its signatures
// and digests say.
func StorageFault(err error) bool {
	var se storeError
	return errors.As(err, &se) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// Unreadable says whether err is about what the archive holds (an object
// missing, damaged, or not as its signatures and digests say), so that a
// reader told to may leave out the part it was met in and go on: not an
// error of the storage, a cancel, or keys that do not fit the run, which
// would stop every other part as well.
func Unreadable(err error) bool {
	var notOurs *age.NoIdentityMatchError
	var wrongIndexKey *IndexKeyError
	var later *FormatError
	var key *KeyError
	return err != nil && !StorageFault(err) && !errors.As(err, &notOurs) && !errors.As(err, &wrongIndexKey) && !errors.As(err, &later) && !errors.As(err, &key)
}

// notAsWritten adds what an error met decrypting a payload file that was
// opened with the right identity means, unless the storage or a cancel
// caused it: the object's bytes are not the ones written (age
// authenticates every chunk).
func notAsWritten(err error) error {
	var notOurs *age.NoIdentityMatchError
	var key *KeyError
	if err == nil || StorageFault(err) || errors.As(err, &notOurs) || errors.As(err, &key) || errors.Is(err, ErrDamaged) {
		return err
	}
	return fmt.Errorf("%w: %w", err, ErrDamaged)
}

// lookup returns the (file, block) pairs the index holds for key,
// reading one fence group of the index (16 KiB), rarely two.
func (b *Bundle) lookup(ctx context.Context, key [10]byte) ([][2]int, error) {
	fence := b.contents.Index.Fence
	if len(fence) == 0 {
		return nil, nil
	}
	want := hex.EncodeToString(key[:])
	// The first group whose first key is not below want; the key may also
	// end the group before it.
	g := sort.SearchStrings(fence, want)
	start := max(g-1, 0)
	idx, err := b.open(ctx, -1)
	if err != nil {
		return nil, err
	}
	var out [][2]int
	buf := make([]byte, indexGroup*indexRecord)
	for grp := start; grp < len(fence) && (grp <= g || fence[grp] == want); grp++ {
		if grp > start && fence[grp] > want {
			break
		}
		off := int64(grp) * int64(len(buf))
		n := min(int64(len(buf)), int64(b.contents.Index.Entries)*indexRecord-off)
		if n <= 0 {
			return nil, fmt.Errorf("archive: bundle %s: index group %d is past its %d records", b.Entry.ID, grp, b.contents.Index.Entries)
		}
		if _, err := idx.ReadAt(buf[:n], off); err != nil && err != io.EOF {
			return nil, fmt.Errorf("archive: bundle %s: index: %w", b.Entry.ID, err)
		}
		recs := buf[:n]
		if groups := b.contents.Index.Groups; groups != nil && (grp >= len(groups) || shortDigest(recs) != groups[grp]) {
			return nil, fmt.Errorf("archive: bundle %s: %s, records %d to %d: %w", b.Entry.ID, IndexFile, off/indexRecord, (off+n)/indexRecord-1, ErrIndexDigest)
		}
		i := sort.Search(len(recs)/indexRecord, func(i int) bool {
			return bytes.Compare(recs[i*indexRecord:i*indexRecord+10], key[:]) >= 0
		})
		for ; i < len(recs)/indexRecord; i++ {
			rec := recs[i*indexRecord : (i+1)*indexRecord]
			if !bytes.Equal(rec[:10], key[:]) {
				break
			}
			out = append(out, [2]int{int(rec[10])<<8 | int(rec[11]), int(rec[12])<<24 | int(rec[13])<<16 | int(rec[14])<<8 | int(rec[15])})
		}
	}
	return out, nil
}

// open gives random access to the plaintext of payload file i (-1: the
// index), decrypting only the chunks read.
func (b *Bundle) open(ctx context.Context, i int) (io.ReaderAt, error) {
	f := b.opened(ctx, i, -1)
	return f.ra, f.err
}

// opened is open's file, with its cache. block, unless -1, is the block
// of it the caller reads next (see openFile).
func (b *Bundle) opened(ctx context.Context, i, block int) *openFile {
	b.mu.Lock()
	f := b.files[i]
	if f == nil {
		f = &openFile{}
		b.files[i] = f
	}
	b.mu.Unlock()
	f.once.Do(func() { f.ra, f.cache, f.err = b.openFile(ctx, i, block) })
	return f
}

// openFile opens payload file i, or the index when i is -1. The ciphertext
// of block, unless -1, is fetched at the same time as age's header: where
// a block's bytes lie does not depend on the header (cipherRange), so a
// retrieval reads a block of a file it has not opened yet in one round
// trip, not two.
func (b *Bundle) openFile(ctx context.Context, i, block int) (io.ReaderAt, *pageCache, error) {
	if i < 0 {
		obj, err := b.r.store.Open(ctx, b.Entry.Prefix+IndexFile, b.size(IndexFile))
		if err != nil {
			return nil, nil, fromStore(err)
		}
		return &pageCache{obj: countingObject{obj, &b.r.read, &b.r.requests}, size: obj.Size(), pages: map[int64][]byte{}}, nil, nil
	}
	if i >= len(b.contents.Files) {
		return nil, nil, fmt.Errorf("archive: bundle %s: index names file %d of %d", b.Entry.ID, i, len(b.contents.Files))
	}
	path := b.contents.Files[i].Path
	obj, err := b.r.store.Open(ctx, b.Entry.Prefix+path, b.size(path))
	if err != nil {
		return nil, nil, fromStore(err)
	}
	if want := b.size(path); want >= 0 && obj.Size() != want {
		return nil, nil, fmt.Errorf("archive: bundle %s: %s is %d bytes, the signed catalog says %d: %w", b.Entry.ID, path, obj.Size(), want, ErrDamaged)
	}
	cache := &pageCache{obj: countingObject{obj, &b.r.read, &b.r.requests}, size: obj.Size(), pages: map[int64][]byte{}}
	// age reads the header, then the final chunk: both at once, and the
	// block wanted with them, so that opening costs one round trip.
	tail := max(obj.Size()-ageChunk, 0)
	ranges := [][2]int64{{0, min(int64(cachePage), obj.Size())}, {tail, obj.Size()}}
	if f := b.contents.Files[i]; block >= 0 && block < len(f.Blocks) {
		if from, n, ok := cipherRange(f.Blocks, blockStart(f.Blocks[block]), cache); ok {
			ranges = append(ranges, [2]int64{from, from + n})
		}
	}
	ranges = mergeRanges(ranges)
	if err := parallel.Do(len(ranges), len(ranges), func(i int) error {
		return cache.load(ranges[i][0], ranges[i][1]-ranges[i][0])
	}); err != nil {
		return nil, nil, fmt.Errorf("archive: bundle %s: %s: %w", b.Entry.ID, path, err)
	}
	ra, _, err := age.DecryptReaderAt(cache, obj.Size(), b.r.identities...)
	if err != nil {
		return nil, nil, fmt.Errorf("archive: bundle %s: %s: %w", b.Entry.ID, path, notAsWritten(err))
	}
	return ra, cache, nil
}

// size is a file's size as the signed catalog records it, -1 if it does
// not.
func (b *Bundle) size(path string) int64 {
	for _, o := range b.Entry.Objects {
		if o.Path == path {
			return o.Size
		}
	}
	return -1
}

// blockBytes is the stored size of a block, 0 if there is no such block.
func (b *Bundle) blockBytes(i, block int) int64 {
	if i < 0 || i >= len(b.contents.Files) || block < 0 || block >= len(b.contents.Files[i].Blocks) {
		return 0
	}
	return b.contents.Files[i].Blocks[block][1]
}

// readBlock reads the rows of one block of payload file i.
func (b *Bundle) readBlock(ctx context.Context, i, block int) (extract.Table, []extract.Row, error) {
	of := b.opened(ctx, i, block)
	ra, err := of.ra, of.err
	if err != nil {
		return extract.Table{}, nil, err
	}
	f := b.contents.Files[i]
	if block >= len(f.Blocks) {
		return extract.Table{}, nil, fmt.Errorf("archive: bundle %s: %s has no block %d", b.Entry.ID, f.Path, block)
	}
	t, err := extract.TableByName(f.Table)
	if err != nil {
		return t, nil, err
	}
	blk := f.Blocks[block]
	if blk[1] > largeBlock {
		rows, err := b.readLargeBlock(of, f, t, block)
		return t, rows, err
	}
	// The age chunks of the block in one request, not one each.
	if from, n, ok := cipherRange(f.Blocks, blk, of.cache); ok {
		if err := of.cache.load(from, n); err != nil {
			return t, nil, fmt.Errorf("archive: bundle %s: %s block %d: %w", b.Entry.ID, f.Path, block, err)
		}
	}
	buf := make([]byte, blk[1])
	if _, err := ra.ReadAt(buf, blk[0]); err != nil && err != io.EOF {
		return t, nil, fmt.Errorf("archive: bundle %s: %s block %d: %w", b.Entry.ID, f.Path, block, notAsWritten(err))
	}
	if f.BlockDigests != nil && (block >= len(f.BlockDigests) || shortDigest(buf) != f.BlockDigests[block]) {
		return t, nil, fmt.Errorf("archive: bundle %s: %s block %d: %w", b.Entry.ID, f.Path, block, ErrBlockDigest)
	}
	plain, err := gunzipBlock(bytes.NewReader(buf), memberSize(buf))
	if err != nil {
		return t, nil, fmt.Errorf("archive: bundle %s: %s block %d: %w", b.Entry.ID, f.Path, block, err)
	}
	rows, err := decodeBlock(t, plain)
	if err != nil {
		return t, nil, fmt.Errorf("archive: bundle %s: %s block %d: %w", b.Entry.ID, f.Path, block, err)
	}
	return t, rows, nil
}

// readLargeBlock reads a block of more than largeBlock bytes: a document.
// Its ciphertext is fetched in windows of largeWindow bytes, one request
// each and not kept in the cache, and decompressed as it comes into one
// buffer of the size the block's gzip trailer gives, and decoded in that
// buffer: the document is in memory once, as its line, which its value
// then takes the start of. Holding the whole block's ciphertext and
// compressed bytes as well made a 64 MiB document cost 360 MiB, and
// decoding the document into a buffer of its own cost it once more. The
// last document is collected first, so that this one takes its memory
// instead of adding to it.
func (b *Bundle) readLargeBlock(of *openFile, f *fileInfo, t extract.Table, block int) ([]extract.Row, error) {
	blk := f.Blocks[block]
	bad := func(err error) error {
		return fmt.Errorf("archive: bundle %s: %s block %d: %w", b.Entry.ID, f.Path, block, err)
	}
	runtime.GC()
	size, err := blockPlainSize(of.ra, blk)
	if err != nil {
		return nil, bad(notAsWritten(err))
	}
	digest := sha256.New()
	src := io.TeeReader(bufio.NewReaderSize(&windowReader{ra: of.ra, cache: of.cache, blocks: f.Blocks, off: blk[0], end: blk[0] + blk[1]}, largeWindow), digest)
	plain, err := gunzipBlock(src, size)
	// Every stored byte goes through the digest, which names a changed
	// block before whatever the decompressor made of it.
	if _, cerr := io.Copy(io.Discard, src); err == nil {
		err = cerr
	}
	if f.BlockDigests != nil && (block >= len(f.BlockDigests) || shortHex(digest.Sum(nil)) != f.BlockDigests[block]) {
		return nil, bad(ErrBlockDigest)
	}
	if err != nil {
		return nil, bad(notAsWritten(err))
	}
	rows, err := decodeBlock(t, plain)
	if err != nil {
		return nil, bad(err)
	}
	return rows, nil
}

// gunzipBlock decompresses the one gzip member of a block that r reads
// into a buffer of size bytes (as the member's trailer gives it), which
// grows only if the trailer said less than the member holds.
func gunzipBlock(r io.Reader, size int) ([]byte, error) {
	var plain bytes.Buffer
	plain.Grow(size + bytes.MinRead)
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	zr.Multistream(false)
	if _, err := plain.ReadFrom(zr); err != nil {
		return nil, err
	}
	return plain.Bytes(), nil
}

// decodeBlock decodes the rows of a block's plaintext, one a line. The
// block is read into a buffer of its own, so its rows keep their text in
// it, each in its own line (decodeOwnedRow), rather than in copies.
func decodeBlock(t extract.Table, plain []byte) ([]extract.Row, error) {
	var rows []extract.Row
	for rest := plain; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		row, err := decodeOwnedRow(t, line[:len(line):len(line)])
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// largeWindow is how much ciphertext of a document readLargeBlock fetches
// in one request.
const largeWindow = 8 << 20

// windowReader reads the plaintext of a payload file from off to end,
// fetching the ciphertext of each read in one request (cache.prefetch)
// and letting go of it once decrypted.
type windowReader struct {
	ra       io.ReaderAt
	cache    *pageCache
	blocks   [][5]int64
	off, end int64
}

func (r *windowReader) Read(p []byte) (int, error) {
	if r.off >= r.end {
		return 0, io.EOF
	}
	n := min(int64(len(p)), r.end-r.off)
	if from, cn, ok := cipherRange(r.blocks, [5]int64{r.off, n}, r.cache); ok {
		done, err := r.cache.prefetch(from, cn)
		if err != nil {
			return 0, err
		}
		defer done()
	}
	got, err := r.ra.ReadAt(p[:n], r.off)
	r.off += int64(got)
	if err == io.EOF && int64(got) == n {
		err = nil
	}
	return got, err
}

// memberSize is the size of the plaintext of the gzip member gz, as its
// trailer gives it, for a buffer that holds the block's rows as long as a
// retrieval keeps them: no floor, unlike plainSize, but no more than
// deflate can expand gz to (1032 times), whatever a damaged trailer says.
func memberSize(gz []byte) int {
	if len(gz) < 18 {
		return 0
	}
	return int(min(int64(binary.LittleEndian.Uint32(gz[len(gz)-4:])), 1032*int64(len(gz)), 1<<30))
}

// plainSize is the size of buffer for the plaintext of a gzip member of
// stored bytes whose trailer says isize (its size modulo 4 GiB), plus one:
// a document's line is read into a buffer of its size from the start
// rather than one doubled and copied seven times on the way there. At
// least 1 MiB, and no more than deflate can expand to (1032 times),
// whatever a damaged trailer says; a line longer than the buffer still
// grows it.
func plainSize(isize uint32, stored int64) int {
	return int(min(max(1<<20, min(int64(isize)+1, 1032*stored)), 1<<30))
}

// largeBlock is the stored size above which readBlock prefetches a block.
const largeBlock = 1 << 20

// mergeRanges joins the ranges (from, to) that overlap or touch, so that
// no byte is fetched twice; it sorts them by where they start.
func mergeRanges(rs [][2]int64) [][2]int64 {
	slices.SortFunc(rs, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && r[0] <= out[n-1][1] {
			out[n-1][1] = max(out[n-1][1], r[1])
			continue
		}
		out = append(out, r)
	}
	return out
}

// blockStart is what of block blk a reader needs first: all of it, or of a
// large block its gzip trailer (readLargeBlock).
func blockStart(blk [5]int64) [5]int64 {
	if blk[1] > largeBlock {
		return [5]int64{blk[0] + blk[1] - 4, 4}
	}
	return blk
}

// cipherRange is where in the age file of a payload file the ciphertext
// of one of its blocks lies: the chunks that hold the block's bytes. The
// blocks fill the file's plaintext, which tells where the payload begins
// after age's header. ok is false when the sizes do not add up.
func cipherRange(blocks [][5]int64, blk [5]int64, c *pageCache) (from, n int64, ok bool) {
	if c == nil || len(blocks) == 0 || blk[1] <= 0 {
		return 0, 0, false
	}
	last := blocks[len(blocks)-1]
	plain := last[0] + last[1]
	chunks := max((plain+ageChunk-17)/(ageChunk-16), 1)
	enc := plain + 16*chunks
	start := c.size - enc
	if start <= 0 || blk[0] < 0 || blk[0]+blk[1] > plain {
		return 0, 0, false
	}
	first, end := blk[0]/(ageChunk-16), (blk[0]+blk[1]-1)/(ageChunk-16)+1
	from = start + first*ageChunk
	return from, min(start+end*ageChunk, c.size) - from, true
}

// pageCache keeps the pages of an object a retrieval has read, so that
// the index chunks and blocks several lookups share are fetched once. A
// read fetches its missing pages in one request. A read that lies in a
// prefetched window is served from it instead, and not kept.
type pageCache struct {
	obj     io.ReaderAt
	size    int64
	mu      sync.Mutex
	pages   map[int64][]byte
	windows map[int64][]byte
}

// prefetch reads n bytes from off in one request, for the reads that lie
// in them until done is called.
func (c *pageCache) prefetch(off, n int64) (done func(), err error) {
	buf := make([]byte, n)
	if got, err := c.obj.ReadAt(buf, off); int64(got) < n {
		if err == nil || err == io.EOF {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, fromStore(err)
	}
	c.mu.Lock()
	if c.windows == nil {
		c.windows = map[int64][]byte{}
	}
	c.windows[off] = buf
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		delete(c.windows, off)
		c.mu.Unlock()
	}, nil
}

const cachePage = 16 << 10

// ageChunk is the size of one encrypted age payload chunk: 64 KiB and its
// tag.
const ageChunk = 64<<10 + 16

func (c *pageCache) ReadAt(p []byte, off int64) (int, error) {
	if off >= c.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), c.size)
	c.mu.Lock()
	for at, w := range c.windows {
		if off >= at && end <= at+int64(len(w)) {
			n := copy(p, w[off-at:end-at])
			c.mu.Unlock()
			if n < len(p) {
				return n, io.EOF
			}
			return n, nil
		}
	}
	c.mu.Unlock()
	first, last := off/cachePage, (end-1)/cachePage
	if err := c.fetch(first, last); err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for pg := first; pg <= last; pg++ {
		page := c.pages[pg]
		lo := max(off-pg*cachePage, 0)
		n += copy(p[n:], page[lo:])
	}
	n = min(n, int(end-off))
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// forget drops the pages that end before off: a reader that reads the
// object in order does not need them again.
func (c *pageCache) forget(off int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for pg := range c.pages {
		if (pg+1)*cachePage <= off {
			delete(c.pages, pg)
		}
	}
}

// load fetches the pages of n bytes from off that are not in the cache.
func (c *pageCache) load(off, n int64) error {
	if n <= 0 || off >= c.size {
		return nil
	}
	return c.fetch(off/cachePage, (min(off+n, c.size)-1)/cachePage)
}

// fetch fetches the pages from first to last that are not in the cache,
// each run of missing pages in one request.
func (c *pageCache) fetch(first, last int64) error {
	for pg := first; pg <= last; {
		// The run of missing pages from pg, fetched without holding the
		// lock so that other reads go on meanwhile; two reads racing for the
		// same page may both fetch it.
		c.mu.Lock()
		run := pg
		for run <= last {
			if _, ok := c.pages[run]; ok {
				break
			}
			run++
		}
		c.mu.Unlock()
		if run == pg {
			pg++
			continue
		}
		from, to := pg*cachePage, min(run*cachePage, c.size)
		buf := make([]byte, to-from)
		if n, err := c.obj.ReadAt(buf, from); n < len(buf) {
			if err == nil || err == io.EOF {
				return io.ErrUnexpectedEOF // shorter than its size says
			}
			return fromStore(err)
		}
		c.mu.Lock()
		for x := pg; x < run; x++ {
			lo := (x - pg) * cachePage
			c.pages[x] = buf[lo:min(lo+cachePage, int64(len(buf)))]
		}
		c.mu.Unlock()
		pg = run
	}
	return nil
}

// File returns what the bundle's encrypted contents say of a payload file.
func (b *Bundle) File(path string) (PayloadFile, bool) {
	for _, f := range b.contents.Files {
		if f.Path == path {
			return PayloadFile{Path: f.Path, Table: f.Table, Reference: f.Reference, Rows: f.Rows, PlainSHA256: f.PlainSHA256}, true
		}
	}
	return PayloadFile{}, false
}

// blockStream reads the blocks of one payload file in order from the
// start of its object, with age's streaming decryption, which, unlike
// random access, needs neither the object's size nor its last chunk: the
// blocks before a fault still read as written when the file was cut
// short or added to, or its last chunk was damaged. Each block is checked
// against the digest the bundle's contents keep. Once the stream fails,
// every later block fails with it.
type blockStream struct {
	b    *Bundle
	f    *fileInfo
	t    extract.Table
	rc   io.ReadCloser
	dec  io.Reader
	pos  int64 // of the plaintext, the gzip stream
	dead error
}

// streamBlocks opens payload file i for blockStream's reading; the
// caller closes it.
func (b *Bundle) streamBlocks(ctx context.Context, i int) (*blockStream, error) {
	f := b.contents.Files[i]
	t, err := extract.TableByName(f.Table)
	if err != nil {
		return nil, err
	}
	rc, err := b.r.get(ctx, b.Entry.Prefix+f.Path)
	if err != nil {
		return nil, err
	}
	s := &blockStream{b: b, f: f, t: t, rc: rc}
	if s.dec, err = age.Decrypt(bufio.NewReaderSize(rc, 256<<10), b.r.identities...); err != nil {
		s.dead = notAsWritten(err)
	}
	return s, nil
}

func (s *blockStream) Close() error { return s.rc.Close() }

// next reads block, which must come after the blocks read before.
func (s *blockStream) next(block int) ([]extract.Row, error) {
	bad := func(err error) error {
		return fmt.Errorf("archive: bundle %s: %s block %d: %w", s.b.Entry.ID, s.f.Path, block, err)
	}
	if s.dead != nil {
		return nil, bad(s.dead)
	}
	if block < 0 || block >= len(s.f.Blocks) || s.f.Blocks[block][0] < s.pos {
		return nil, bad(errors.New("blocks read out of order"))
	}
	blk := s.f.Blocks[block]
	if _, err := io.CopyN(io.Discard, s.dec, blk[0]-s.pos); err != nil {
		s.dead = notAsWritten(err)
		return nil, bad(s.dead)
	}
	s.pos = blk[0]
	lr := &io.LimitedReader{R: s.dec, N: blk[1]}
	digest := sha256.New()
	src := io.TeeReader(lr, digest)
	plain, err := gunzipBlock(src, 0)
	_, cerr := io.Copy(io.Discard, src)
	s.pos += blk[1] - lr.N
	if lr.N > 0 {
		// The stream ended or failed inside the block.
		s.dead = notAsWritten(cmp.Or(cerr, err, io.ErrUnexpectedEOF))
		return nil, bad(s.dead)
	}
	if cerr != nil {
		s.dead = notAsWritten(cerr)
		return nil, bad(s.dead)
	}
	if block >= len(s.f.BlockDigests) || shortHex(digest.Sum(nil)) != s.f.BlockDigests[block] {
		return nil, bad(ErrBlockDigest)
	}
	if err != nil {
		return nil, bad(notAsWritten(err))
	}
	rows, err := decodeBlock(s.t, plain)
	if err != nil {
		return nil, bad(err)
	}
	return rows, nil
}
