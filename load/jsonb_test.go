package load

import (
	"encoding/json"
	"testing"
)

// TestJSONBShowsNULAsText: a NUL in a string comes out as the six
// characters \u0000, and a string that held those six characters (or a
// backslash before a NUL) keeps every character it had.
func TestJSONBShowsNULAsText(t *testing.T) {
	for in, want := range map[string]string{
		"Jüri":         "Jüri",
		"a\x00b":       `a\u0000b`,
		`a\u0000b`:     `a\u0000b`,
		"\\\x00":       `\\u0000`,
		`\\u0000`:      `\\u0000`,
		"\x00\x00":     `\u0000\u0000`,
		"\"\x00\"\\":   `"\u0000"\`,
		"\\u0000\x00x": `\u0000\u0000x`,
	} {
		js, err := json.Marshal(map[string]string{"v": in})
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]string
		if err := json.Unmarshal(JSONB(js), &got); err != nil {
			t.Errorf("%q: %s is not JSON: %v", in, JSONB(js), err)
			continue
		}
		if got["v"] != want {
			t.Errorf("%q: %s reads as %q, want %q", in, JSONB(js), got["v"], want)
		}
	}
}
