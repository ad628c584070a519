package fileurl

import (
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// TestEscapedBothWays: a path's URL escapes what a URL would read
// otherwise, and the URL, parsed, names the path again; on Windows with
// its drive letter.
func TestEscapedBothWays(t *testing.T) {
	for _, c := range []struct{ goos, path, want string }{
		{"linux", "/srv/star1.db", "file:///srv/star1.db"},
		{"linux", "/srv/odd dir#1/s%20x?.db", "file:///srv/odd%20dir%231/s%2520x%3F.db"},
		{"linux", "/srv/päev.db", "file:///srv/p%C3%A4ev.db"},
		{"windows", "C:/STAR1 #2/star1.db", "file:///C:/STAR1%20%232/star1.db"},
	} {
		got := fromSlashed(c.path).String()
		if got != c.want {
			t.Errorf("fromSlashed(%q) = %q, want %q", c.path, got, c.want)
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatal(err)
		}
		if back := slashedPath(u.Path, c.goos); back != c.path {
			t.Errorf("%s: %q names %q, want %q", c.goos, got, back, c.path)
		}
	}
	if got := slashedPath("/C:/x", "linux"); got != "/C:/x" {
		t.Errorf("on Linux /C:/x is %q, want it as it is", got)
	}
}

// TestAnOddNameOpensThatFile writes a database under a name SQLite would
// read wrongly as a URI, and reads it back by its path.
func TestAnOddNameOpensThatFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "odd dir#1 100%")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "s%20x?.db")
	rw, err := SQLite(path, "")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := sqlite.OpenConn(rw, sqlite.OpenReadWrite, sqlite.OpenCreate, sqlite.OpenURI)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlitex.ExecuteScript(conn, "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (42);", nil); err != nil {
		t.Fatal(err)
	}
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 || entries[0].Name() != "s%20x?.db" {
		t.Fatalf("the folder holds %v (%v), want the one file s%%20x?.db", entries, err)
	}
	ro, err := SQLite(path, "mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	conn, err = sqlite.OpenConn(ro, sqlite.OpenReadOnly, sqlite.OpenURI)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stmt, _, err := conn.PrepareTransient("SELECT x FROM t")
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Finalize()
	if row, err := stmt.Step(); err != nil || !row || stmt.ColumnInt64(0) != 42 {
		t.Fatalf("read back: row %v, err %v", row, err)
	}
}
