package archive

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/starmig/starmig/extract"
)

// WriteJSON writes what encoding/json reads back: runs with rows and runs
// without, documents in base64, and MarshalJSON agrees with it.
func TestRetrievalJSON(t *testing.T) {
	doc := extract.Row{int64(7), int64(9), "a \"b\".pdf", nil, []byte{0, 1, 2, 255}, "2011-03-27 03:30:00"}
	person := extract.Row{int64(3), "38001010000", "Mari", "Maasikas", nil, nil, nil, nil, "0784", nil, nil}
	if tab, _ := extract.TableByName("ISIK"); len(tab.Columns) != len(person) {
		t.Fatalf("ISIK has %d columns, the test %d", len(tab.Columns), len(person))
	}
	res := &RetrievalResult{Query: "q", Reason: "r", Found: true, Earlier: true, Audit: "audit/x", Out: "o",
		Docs: []DocFile{{ID: 7, File: "documents/7-a.pdf", Size: 4}},
		Runs: []RunRows{
			RowsOf(&Found{Batch: "b", Run: "new"}),
			RowsOf(&Found{Batch: "b", Run: "old", Newest: "new", Tables: map[string][]extract.Row{"DOKUMENT": {doc}, "ISIK": {person}}}),
		}}
	var buf bytes.Buffer
	if err := res.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back RetrievalResult
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatalf("%v:\n%s", err, buf.Bytes())
	}
	if back.Rows() != 2 || res.Rows() != 2 || len(back.Runs) != 2 || back.Runs[1].NewestRun != "new" || !back.Earlier || len(back.Docs) != 1 {
		t.Fatalf("read back: %+v\n%s", back, buf.Bytes())
	}
	var row map[string]any
	if err := json.Unmarshal(back.Runs[1].Tables["DOKUMENT"][0], &row); err != nil || row["SISU"] != "AAEC/w==" || row["FAILINIMI"] != "a \"b\".pdf" {
		t.Errorf("document row read back as %v, %v", row, err)
	}
	whole, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var again RetrievalResult
	if err := json.Unmarshal(whole, &again); err != nil || again.Rows() != 2 {
		t.Errorf("json.Marshal: %v, %d rows", err, again.Rows())
	}
}

// TestDocumentNameIsAFileAnySystemTakes: a document's file name keeps the
// letters of its STAR1 name, Estonian ones too, replaces what a file
// system would read otherwise, and stays short enough for any file
// system, with its extension, however long FAILINIMI (255 characters) is.
func TestDocumentNameIsAFileAnySystemTakes(t *testing.T) {
	long := strings.Repeat("õppetoetus_", 23) + ".pdf" // 257 characters, 280 bytes
	for _, c := range []struct {
		id         int64
		name, want string
	}{
		{7, "otsus_7.pdf", "7-otsus_7.pdf"},
		{7, "Otsus – õppetoetus (2016).pdf", "7-Otsus_õppetoetus_2016_.pdf"},
		{7, "../../etc/passwd", "7-passwd"},
		{7, `C:\docs\a?b*"c".pdf`, "7-C_docs_a_b_c_.pdf"},
		{7, "", "7-document"},
		{7, "///", "7-document"},
	} {
		if got := DocumentName(c.id, c.name); got != c.want {
			t.Errorf("DocumentName(%d, %q) = %q, want %q", c.id, c.name, got, c.want)
		}
	}
	got := DocumentName(123456789012, long)
	if stem := strings.TrimPrefix(got, "123456789012-"); len(stem) > maxDocName || !strings.HasSuffix(got, ".pdf") ||
		!utf8.ValidString(got) || !strings.HasPrefix(stem, "õppetoetus_õppetoetus_") {
		t.Errorf("a name of %d bytes became %q (%d bytes), want at most %d after the id, valid UTF-8, ending .pdf", len(long), got, len(got), maxDocName)
	}
	if got := DocumentName(1, strings.Repeat("a", 200)+".averylongextension"); len(got) > maxDocName+2 {
		t.Errorf("a long extension: %q, %d bytes", got, len(got))
	}
}
