package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestATildeTheShellLeftIsRefused: a shell expands ~ only at the start of
// a word, so --out=~/r, sqlite:~/star1.db and file://~/archive reached
// starmig with the ~: it said a STAR1 stand-in "~/star1.db" does not
// exist, and made a folder named ~ in the current one for --out=~/r. Each
// is now refused before anything is read or made, saying what to give.
func TestATildeTheShellLeftIsRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t.Chdir(dir)
	for _, c := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"archive", "--source", "sqlite:~/star1.db", "--to", "file://" + filepath.Join(dir, "a"), "--batch", "x"},
			`--source "sqlite:~/star1.db": the ~ was left as it is (a shell expands it only at the start of a word, not after = or "sqlite:"): give sqlite:$HOME/star1.db, or the whole path`},
		{nil, []string{"retrieve", "--out=~/r", "--archive", "file://" + dir, "--person", "38001010014", "--reason", "x"},
			`--out "~/r": the ~ was left as it is (a shell expands it only at the start of a word, not after =): give $HOME/r, or the whole path`},
		{[]string{"STARMIG_ARCHIVE", "file://~/archive"}, []string{"verify", "--sign-pub", filepath.Join(dir, "signing.pub")},
			`$STARMIG_ARCHIVE "file://~/archive": the ~ was left`},
		{nil, []string{"gen", "--out=~", "--persons", "1"}, `--out "~": the ~ was left`},
	} {
		if c.env != nil {
			t.Setenv(c.env[0], c.env[1])
		}
		code, _, stderr := run(t, ctx, c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, %s; want exit %d and %q", strings.Join(c.args, " "), code, stderr, exitUsage, c.want)
		}
		if c.env != nil {
			os.Unsetenv(c.env[0])
		}
		if _, err := os.Lstat(filepath.Join(dir, "~")); err == nil {
			t.Fatalf("%s made a folder named ~", strings.Join(c.args, " "))
		}
	}
	// A folder named ~ that is there is taken to be meant.
	if err := os.Mkdir(filepath.Join(dir, "~"), 0o755); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, ctx, "gen", "--out=~/star1.db", "--persons", "5", "-q"); code != 0 {
		t.Errorf("gen into an existing ~ folder: exit %d: %s", code, stderr)
	}
}
