package archive

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/klauspost/compress/gzip"

	"github.com/starmig/starmig/extract"
)

// TestReadFileKeepsOrderAndNamesTheLine rewrites the plaintext of a
// payload file with a big line (over bigLine, which the reading goroutine
// decodes itself) and, after it, a line that is no row. ReadFile must hand
// on the rows before the bad line in their order, the big one among them,
// and then fail naming the bad line's number.
func TestReadFileKeepsOrderAndNamesTheLine(t *testing.T) {
	root, k, _, _, b := firstFolderBundle(t)
	ctx := context.Background()
	var f *fileInfo // the file of most rows
	for _, x := range b.contents.Files {
		if !x.Reference && (f == nil || x.Rows > f.Rows) {
			f = x
		}
	}
	if f == nil {
		t.Fatal("no payload file")
	}
	tab, _ := extract.TableByName(f.Table)
	text := -1 // a text column, not the key
	for i, c := range tab.Columns {
		if c.Kind == extract.Text && i > 0 {
			text = i
			break
		}
	}
	var clean []extract.Row
	if err := b.ReadFile(ctx, f.Path, func(row extract.Row) error { clean = append(clean, row); return nil }); err != nil {
		t.Fatal(err)
	}

	// The file again, its rows over and over for several batches of
	// lines: row 3 with a text of 2 MiB, and a later line no row.
	big := append(extract.Row{}, clean[2]...)
	big[text] = strings.Repeat("Ülle", 1<<19)
	const lines, bad = 8000, 6000
	want := make([]extract.Row, lines)
	for i := range want {
		want[i] = clean[i%len(clean)]
	}
	want[2] = big
	var plain bytes.Buffer
	for i, row := range want {
		switch i {
		case bad - 1:
			plain.WriteString(`{"` + tab.Columns[0].Name + `":`)
		default:
			plain.Write(lineOf(t, tab, row))
		}
		plain.WriteByte('\n')
	}
	if plain.Len() < 4*lineBatchBytes {
		t.Fatalf("the file is %d bytes, not several batches", plain.Len())
	}
	path := filepath.Join(root, filepath.FromSlash(b.Entry.Prefix+f.Path))
	rewritePlain(t, path, plain.Bytes(), k)
	// As if the writer had written it so: the manifest names these bytes.
	written, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b.Manifest[f.Path] = digestOf(written)

	var got []extract.Row
	err = b.ReadFile(ctx, f.Path, func(row extract.Row) error { got = append(got, row); return nil })
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%s line %d:", f.Path, bad)) {
		t.Fatalf("a bad line %d: %v", bad, err)
	}
	if len(got) != bad-1 {
		t.Fatalf("%d rows before the bad line, want %d", len(got), bad-1)
	}
	for i, row := range got {
		if !bytes.Equal(lineOf(t, tab, row), lineOf(t, tab, want[i])) {
			t.Fatalf("row %d is not the file's row %d", i+1, i+1)
		}
	}

	// A caller that stops early stops the reading too, and gets its error.
	stop := io.ErrShortWrite
	n := 0
	if err := b.ReadFile(ctx, f.Path, func(extract.Row) error {
		if n++; n == 1000 {
			return stop
		}
		return nil
	}); err != stop {
		t.Errorf("a caller that stops: %v, want its own error", err)
	}
}

// rewritePlain replaces a payload file of a folder archive with plain,
// compressed and encrypted to the archive's recipient: what a writer
// holding the recipient could forge. The manifests no longer match it.
func rewritePlain(t *testing.T, path string, plain []byte, k keys) {
	t.Helper()
	var ct bytes.Buffer
	enc, err := age.Encrypt(&ct, k.recipients...)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(enc)
	zw.Write(plain)
	zw.Close()
	enc.Close()
	replaceFile(t, path, ct.Bytes())
}
