package archive

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"slices"

	"filippo.io/age"

	"github.com/starmig/starmig/extract"
)

// spoolMin is the size from which a retrieval with a Spool keeps a
// document on disk instead of in memory.
const spoolMin = 1 << 20

// A Spool keeps the large documents a retrieval finds out of memory, so
// that retrieving a proceeding with many scanned files needs as much
// memory as with one. Each document goes to a file of its own in a new
// folder, encrypted with age to a key that exists only in this process:
// a retrieval stopped before it is on record, even by SIGKILL, leaves
// nothing readable behind. Close removes the folder.
type Spool struct {
	dir string
	id  *age.X25519Identity
}

// NewSpool makes a spool in a new folder under parent.
func NewSpool(parent string) (*Spool, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("archive: spool key: %w", err)
	}
	dir, err := os.MkdirTemp(parent, ".starmig-spool-")
	if err != nil {
		return nil, fmt.Errorf("archive: spool: %w", err)
	}
	return &Spool{dir: dir, id: id}, nil
}

// Close removes the spool's folder and every document in it.
func (s *Spool) Close() error {
	if s == nil {
		return nil
	}
	return os.RemoveAll(s.dir)
}

// put writes content to the spool.
func (s *Spool) put(content []byte) (*SpooledDocument, error) {
	f, err := os.CreateTemp(s.dir, "doc-")
	if err != nil {
		return nil, fmt.Errorf("archive: spool: %w", err)
	}
	bw := bufio.NewWriterSize(f, 256<<10)
	w, err := age.Encrypt(bw, s.id.Recipient())
	if err == nil {
		_, err = w.Write(content)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("archive: spool: %s: %w", f.Name(), err)
	}
	return &SpooledDocument{Size: int64(len(content)), SHA256: sha256.Sum256(content), path: f.Name(), id: s.id}, nil
}

// A SpooledDocument stands, in a retrieved row, for a BLOB value the
// retrieval kept in its Spool.
type SpooledDocument struct {
	Size   int64    // bytes of the document
	SHA256 [32]byte // of the document
	path   string
	id     *age.X25519Identity
}

// WrittenTo tells that the document has been written, in clear, to the
// file at path: it is read from there from now on (no second decryption),
// and its spooled copy is removed.
func (d *SpooledDocument) WrittenTo(path string) {
	if d.id != nil {
		os.Remove(d.path)
	}
	d.path, d.id = path, nil
}

// Open reads the document back.
func (d *SpooledDocument) Open() (io.ReadCloser, error) {
	f, err := os.Open(d.path)
	if err != nil {
		return nil, fmt.Errorf("archive: spool: %w", err)
	}
	if d.id == nil {
		return f, nil
	}
	r, err := age.Decrypt(bufio.NewReaderSize(f, 256<<10), d.id)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("archive: spool: %s: %w", d.path, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{r, f}, nil
}

// spoolRow returns row with each BLOB value of spoolMin bytes or more
// replaced by its SpooledDocument; row itself is not changed.
func (s *Spool) spoolRow(t extract.Table, row extract.Row) (extract.Row, error) {
	out, copied := row, false
	for i, v := range row {
		b, ok := v.([]byte)
		if !ok || len(b) < spoolMin || t.Columns[i].Kind != extract.BLOB {
			continue
		}
		d, err := s.put(b)
		if err != nil {
			return nil, fmt.Errorf("%s %s=%v: %w", t.Name, t.Columns[0].Name, row[0], err)
		}
		if !copied {
			out, copied = slices.Clone(row), true
		}
		out[i] = d
	}
	return out, nil
}

// WriteTo writes the document to w.
func (d *SpooledDocument) WriteTo(w io.Writer) (int64, error) {
	r, err := d.Open()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	n, err := io.Copy(w, r)
	if err == nil && n != d.Size {
		err = fmt.Errorf("archive: spool: %s holds %d bytes, not %d", d.path, n, d.Size)
	}
	return n, err
}

// writeBase64 writes the document to w in standard base64.
func (d *SpooledDocument) writeBase64(w io.Writer) error {
	enc := base64.NewEncoder(base64.StdEncoding, w)
	if _, err := d.WriteTo(enc); err != nil {
		return err
	}
	return enc.Close()
}
