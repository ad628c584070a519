package archive

import (
	"bytes"
	"encoding/json"
	"testing"

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
