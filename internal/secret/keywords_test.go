package secret

import (
	"fmt"
	"testing"
)

// TestKeywordsReadAsLibpq: the settings of a keyword/value string are
// read as libpq and pgx read them, white space being ASCII's, and the
// reading stops at the setting that leaves the grammar.
func TestKeywordsReadAsLibpq(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string // key=value|… then @stop, @$ for the end
	}{
		{"host=db user=m", "host=db|user=m|@$"},
		{"  host = db\tuser=\n m ", "host=db|user=m|@$"},
		{"dbname=Šalja user=Ņina", "dbname=Šalja|user=Ņina|@$"}, // Š is C5 A0, Ņ C5 85: no spaces
		{`user='a b\' c' dbname=x\ y`, `user=a b' c|dbname=x y|@$`},
		{`dbname=x\y\\z`, `dbname=xy\z|@$`},
		{`dbname=x\`, `dbname=x|@$`}, // a backslash at the end is dropped
		{"user= dbname=d", "user=dbname=d|@$"},
		{"user='' dbname=d", "user=|dbname=d|@$"},
		{"host=db hunter2 user=x", "host=db|@8"},
		{"host=db user m", "host=db|@8"},
		{"host=db password='s3cr et", "host=db|@8"},
		{"=x", "@0"},
		{"", "@$"},
	} {
		settings, stop := Keywords(c.in)
		got := ""
		for _, kw := range settings {
			got += kw.Key + "=" + kw.Value + "|"
			if kw.Start > kw.End || kw.End > len(c.in) {
				t.Errorf("Keywords(%q): %s's value at [%d:%d]", c.in, kw.Key, kw.Start, kw.End)
			}
		}
		at := fmt.Sprintf("@%d", stop)
		if stop == len(c.in) {
			at = "@$"
		}
		if got += at; got != c.want {
			t.Errorf("Keywords(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

// TestRedactKeywordsMasksWhatIsNotASetting: a word that is no setting
// (a password given alone) is masked with all after it, and a letter
// whose bytes are not white space does not end a value.
func TestRedactKeywordsMasksWhatIsNotASetting(t *testing.T) {
	for in, want := range map[string]string{
		"host=db hunter2 user=x":               "host=db " + Redacted,
		"user=Šarlota password=x dbname=d":     "user=Šarlota password=" + Redacted + " dbname=d",
		"host=db  password = 'a b'  port=5432": "host=db  password = " + Redacted + "  port=5432",
		"host=db password='s3cr et":            "host=db " + Redacted,
	} {
		if got := redactKeywords(in); got != want {
			t.Errorf("redactKeywords(%q) = %q, want %q", in, got, want)
		}
	}
}
