package synth

import (
	"context"
	"database/sql"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the sample STAR1 and mapping folder under testdata/")

// The sample under testdata/ is what `starmig gen` makes with these options;
// the test proves it still is, so examples and other packages' tests can
// rely on it.
var sampleOptions = Options{Persons: 200, Seed: 2026, AsOf: asOf, DocSize: 512, Rates: DefaultRates()}

func TestTestdataIsCurrent(t *testing.T) {
	root := filepath.Join("..", "..", "testdata")
	sample := filepath.Join(root, "star1-small.db")
	maps := filepath.Join(root, "mappings")
	if *update {
		if _, err := Generate(context.Background(), sample, sampleOptions); err != nil {
			t.Fatal(err)
		}
		if err := WriteMappings(maps); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	fresh := filepath.Join(dir, "star1.db")
	if _, err := Generate(context.Background(), fresh, sampleOptions); err != nil {
		t.Fatal(err)
	}
	open := func(p string) *sql.DB {
		db, err := sql.Open("sqlite", "file:"+p+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	want, got := tableDigest(t, open(fresh)), tableDigest(t, open(sample))
	for name, h := range want {
		if got[name] != h {
			t.Errorf("testdata/star1-small.db: table %s is not what gen makes now (go test ./internal/synth -run Testdata -update)", name)
		}
	}
	if err := WriteMappings(filepath.Join(dir, "mappings")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"municipalities.csv", "classifiers.csv"} {
		a, _ := os.ReadFile(filepath.Join(dir, "mappings", f))
		b, err := os.ReadFile(filepath.Join(maps, f))
		if err != nil || string(a) != string(b) {
			t.Errorf("testdata/mappings/%s is not what gen writes now (-update): %v", f, err)
		}
	}
}
