package archive

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/reportfile"
	"github.com/starmig/starmig/internal/words"
)

// RetrievalResult is what retrieve writes as JSON.
type RetrievalResult struct {
	Query    string    `json:"query"`
	Reason   string    `json:"reason"`
	Operator string    `json:"operator"`
	Time     time.Time `json:"time"`
	Found    bool      `json:"found"`
	// Earlier is set when rows come from runs before a batch's newest.
	Earlier bool `json:"from_earlier_runs,omitempty"`
	// Unread counts the runs searched that could not be read as written
	// (RunHead.Unread says why): rows of the query they hold are not here.
	Unread int       `json:"unreadable_runs,omitempty"`
	Runs   []RunRows `json:"runs"`
	Audit  string    `json:"audit_entry"`
	Docs   []DocFile `json:"documents,omitempty"`
	Out    string    `json:"out"`
}

// Files counts the document files a retrieval wrote: a document that
// several runs hold the same is one file, one that changed between runs a
// file per version.
func (r *RetrievalResult) Files() int {
	files := map[string]bool{}
	for _, d := range r.Docs {
		files[d.File] = true
	}
	return len(files)
}

// Rows counts the rows retrieved.
func (r *RetrievalResult) Rows() int {
	n := 0
	for _, run := range r.Runs {
		if run.found != nil {
			n += run.found.Rows()
		}
		for _, rows := range run.Tables {
			n += len(rows)
		}
	}
	return n
}

// RunRows are the rows found in one archive run.
type RunRows struct {
	RunHead
	Tables map[string][]json.RawMessage `json:"tables"`

	found *Found // when set, the rows, encoded as they are written
}

// RunHead is what RunRows says of its run besides the rows.
type RunHead struct {
	Batch string `json:"batch"`
	Run   string `json:"run"`
	// NewestRun is the newest run searched when Run is an earlier one.
	NewestRun string `json:"newest_run,omitempty"`
	// SameCode are the other ISIK rows with the person's ISIKUKOOD (Found).
	SameCode []int64 `json:"same_code_isik_ids,omitempty"`
	// Absent is the row asked for, when the run holds rows that refer
	// to it but not the row itself (Found).
	Absent string `json:"absent_row,omitempty"`
	// LeftOut is Found.LeftOut: tables of STAR1 the run does not hold.
	LeftOut []extract.TableRows `json:"left_out,omitempty"`
	// Unread says why the run could not be read as written (Found).
	Unread string `json:"unreadable,omitempty"`
	// UnreadParts are the bundles and payload files left out of a run
	// read in part (Found.UnreadParts).
	UnreadParts []string `json:"unreadable_parts,omitempty"`
}

// RowsOf is the JSON of the rows found in one run. Its rows are encoded
// one at a time as they are written (WriteJSON), not held as JSON: a
// proceeding's documents would otherwise be in memory twice more.
func RowsOf(f *Found) RunRows {
	return RunRows{RunHead: RunHead{Batch: f.Batch, Run: f.Run, NewestRun: f.Newest, SameCode: f.SameCode, Absent: f.Absent, LeftOut: f.LeftOut, Unread: f.Unread, UnreadParts: f.UnreadParts}, found: f}
}

// MarshalJSON writes the run as WriteJSON does.
func (r RunRows) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	err := r.writeJSON(&b, "")
	return b.Bytes(), err
}

func (r RunRows) writeJSON(w io.Writer, indent string) error {
	hb, err := json.Marshal(r.RunHead)
	if err != nil {
		return err
	}
	in := indent + "  "
	fmt.Fprintf(w, "%s,\n%s\"tables\": {", hb[:len(hb)-1], in)
	names := slices.Sorted(maps.Keys(r.Tables))
	if r.found != nil {
		names = slices.Sorted(maps.Keys(r.found.Tables))
	}
	for i, name := range names {
		if i > 0 {
			fmt.Fprint(w, ",")
		}
		fmt.Fprintf(w, "\n%s  %q: [", in, name)
		var err error
		if r.found != nil {
			t, terr := extract.TableByName(name)
			if terr != nil {
				return terr
			}
			var line []byte
			for j, row := range r.found.Tables[name] {
				if err = writeRowJSON(w, j, in, nil); err != nil {
					return err
				}
				line, err = writeRowLine(w, line, t, row)
				if cap(line) > 1<<20 {
					line = nil // a document's line is not kept
				}
				if err != nil {
					return err
				}
			}
		} else {
			for j, row := range r.Tables[name] {
				if err = writeRowJSON(w, j, in, row); err != nil {
					return err
				}
			}
		}
		fmt.Fprintf(w, "\n%s  ]", in)
	}
	if len(names) > 0 {
		fmt.Fprintf(w, "\n%s", in)
	}
	_, err = fmt.Fprintf(w, "}\n%s}", indent)
	return err
}

func writeRowJSON(w io.Writer, j int, indent string, row []byte) error {
	sep := ",\n"
	if j == 0 {
		sep = "\n"
	}
	if _, err := fmt.Fprintf(w, "%s%s    ", sep, indent); err != nil {
		return err
	}
	_, err := w.Write(row)
	return err
}

// writeRowLine writes row as appendRow encodes it, without its newline,
// reading a spooled document back as it writes it. It returns line, the
// buffer it used, for the next row.
func writeRowLine(w io.Writer, line []byte, t extract.Table, row extract.Row) ([]byte, error) {
	if len(row) != len(t.Columns) {
		return line, fmt.Errorf("archive: %s row has %d values for %d columns", t.Name, len(row), len(t.Columns))
	}
	b := append(line[:0], '{')
	for i, c := range t.Columns {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendKey(b, c.Name)
		d, ok := row[i].(*SpooledDocument)
		if !ok {
			var err error
			if b, err = appendValue(b, t, c, row[i]); err != nil {
				return b, err
			}
			continue
		}
		if _, err := w.Write(append(b, '"')); err != nil {
			return b, err
		}
		if err := d.writeBase64(w); err != nil {
			return b, fmt.Errorf("archive: %s %s=%v: %w", t.Name, t.Columns[0].Name, row[0], err)
		}
		b = append(b[:0], '"')
	}
	_, err := w.Write(append(b, '}'))
	return b, err
}

// WriteJSON writes the result as JSON, its rows one a line, encoded as
// they are written.
func (r *RetrievalResult) WriteJSON(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	field := func(name string, v any, last bool) {
		b, err := json.Marshal(v)
		if err != nil {
			b = []byte("null")
		}
		sep := ","
		if last {
			sep = ""
		}
		fmt.Fprintf(bw, "  %q: %s%s\n", name, b, sep)
	}
	fmt.Fprint(bw, "{\n")
	field("query", r.Query, false)
	field("reason", r.Reason, false)
	field("operator", r.Operator, false)
	field("time", r.Time, false)
	field("found", r.Found, false)
	if r.Earlier {
		field("from_earlier_runs", r.Earlier, false)
	}
	if r.Unread > 0 {
		field("unreadable_runs", r.Unread, false)
	}
	fmt.Fprint(bw, "  \"runs\": [")
	for i, run := range r.Runs {
		if i > 0 {
			fmt.Fprint(bw, ",")
		}
		fmt.Fprint(bw, "\n    ")
		if err := run.writeJSON(bw, "    "); err != nil {
			return err
		}
	}
	if len(r.Runs) > 0 {
		fmt.Fprint(bw, "\n  ")
	}
	fmt.Fprint(bw, "],\n")
	field("audit_entry", r.Audit, false)
	if len(r.Docs) > 0 {
		field("documents", r.Docs, false)
	}
	field("out", r.Out, true)
	fmt.Fprint(bw, "}\n")
	return bw.Flush()
}

// DocFile is a document written out as a file, for the run that holds
// it. Runs that hold the same document share its file.
type DocFile struct {
	Batch string `json:"batch"`
	Run   string `json:"run"`
	ID    int64  `json:"dokument_id"`
	File  string `json:"file"`
	Size  int    `json:"bytes"`
}

// unsafeName is what a document's file name may not hold: anything but
// letters (õ, ä, ö, ü, š, ž as the Estonian names have them), digits, dot,
// dash and underscore. Separators, and the characters that Windows and
// FAT file systems refuse, are among what it replaces.
var unsafeName = regexp.MustCompile(`[^\p{L}\p{M}\p{N}._-]+`)

// maxDocName bounds the STAR1 part of a document's file name, in bytes.
// FAILINIMI holds up to 255 characters, and a file system up to 255 bytes
// with the id before it (some, such as eCryptfs, far fewer); the whole
// name is in the retrieval's report.
const maxDocName = 128

// DocumentName is the file a document is written to: its id and a safe
// form of its STAR1 file name, shortened to maxDocName bytes with its
// extension kept.
func DocumentName(id int64, name string) string {
	name = unsafeName.ReplaceAllString(filepath.Base(name), "_")
	if name == "" || name == "." || name == "_" {
		name = "document"
	}
	return fmt.Sprintf("%d-%s", id, shorten(name, maxDocName))
}

// shorten cuts name to max bytes, at a character's start, keeping an
// extension of up to 16 bytes.
func shorten(name string, max int) string {
	if len(name) <= max {
		return name
	}
	ext := filepath.Ext(name)
	if len(ext) > 16 {
		ext = ""
	}
	cut := max - len(ext)
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return name[:cut] + ext
}

// WriteMarkdown writes a readable report of a retrieval.
func WriteMarkdown(w io.Writer, res *RetrievalResult, found []*Found) error {
	fmt.Fprintf(w, "# STAR1 archive retrieval\n\n")
	reportfile.Facts(w, [2]string{"Query", res.Query}, [2]string{"Reason", res.Reason}, [2]string{"Operator", res.Operator},
		[2]string{"Time", res.Time.UTC().Format(time.RFC3339)}, [2]string{"Audit entry", res.Audit})
	switch {
	case !res.Found && res.Unread == 0:
		fmt.Fprintf(w, "**The archive holds no rows for this %s.**\n", res.Query)
		return nil
	case !res.Found:
		fmt.Fprintf(w, "**No archive run that could be read holds rows for this %s, and %s could not be read as written (below).** They may hold some.\n\n",
			res.Query, words.Count(res.Unread, "run"))
	case res.Unread > 0:
		fmt.Fprintf(w, "**%s searched could not be read as written, in whole or in part (below).** Rows they hold there are not here.\n\n", words.Count(res.Unread, "run"))
	}
	type runDoc struct {
		batch, run string
		id         int64
	}
	docs := map[runDoc]string{}
	for _, d := range res.Docs {
		docs[runDoc{d.Batch, d.Run, d.ID}] = d.File
	}
	for i, f := range found {
		if f.Newest != "" {
			fmt.Fprintf(w, "## Batch %s, earlier archive run %s\n\n", f.Batch, f.Run)
			fmt.Fprintf(w, "STAR1 as it was when this run was written, before the newest run %s.\n\n", f.Newest)
		} else {
			fmt.Fprintf(w, "## Batch %s, archive run %s\n\n", f.Batch, f.Run)
		}
		switch {
		case f.Unread != "" && len(f.UnreadParts) > 0:
			fmt.Fprintf(w, "**This run was read without %s that could not be read as written** (%s): %s. Rows of this record they hold, if any, are not here, nor the rows found only through them; the rows below are those of the rest of the run. `starmig verify --level full` names every damaged object of the archive.\n\n",
				words.Count(len(f.UnreadParts), "part"), reportfile.Cell(strings.Join(f.UnreadParts, ", ")), reportfile.Cell(f.Unread))
		case f.Unread != "":
			fmt.Fprintf(w, "**This run could not be read as written:** %s. Rows of this record it holds, if any, are not here. `starmig verify --level full` names every damaged object of the archive.\n\n", reportfile.Cell(f.Unread))
			continue
		}
		if len(f.SameCode) > 0 {
			ids := make([]string, len(f.SameCode))
			for i, id := range f.SameCode {
				ids[i] = fmt.Sprint(id)
			}
			fmt.Fprintf(w, "The same ISIKUKOOD is held in this run by ISIK_ID %s too: the same person entered more than once. Their rows are not here; a retrieval by the personal code gives all of them.\n\n", strings.Join(ids, ", "))
		}
		if f.Absent != "" {
			fmt.Fprintf(w, "**This run holds no %s row.** The rows below refer to it, but STAR1 did not hold the row itself when the run was written: they are orphans (rule 5), which the migration quarantined.\n\n", f.Absent)
		}
		if left := TablesText(f.LeftOut, false); left != "" {
			fmt.Fprintf(w, "**This run does not hold every table of STAR1.** It left out %s: STAR1.md does not describe them, and the archive run was told to leave them out (`--skip-table`). Rows of this record in them, if any, are not in the archive.\n\n", left)
		}
		if f.Rows() == 0 {
			fmt.Fprint(w, "No rows in this run")
			for _, e := range found[i+1:] {
				if e.Newest == f.Run && e.Rows() > 0 {
					fmt.Fprint(w, ": STAR1 no longer held them when it was written, and an earlier run below does")
					break
				}
			}
			fmt.Fprint(w, ".\n\n")
			continue
		}
		for _, t := range extract.Tables {
			rows := f.Tables[t.Name]
			if len(rows) == 0 {
				continue
			}
			fmt.Fprintf(w, "### %s — %s (%d)\n\n|", t.Name, t.Comment, len(rows))
			for _, c := range t.Columns {
				fmt.Fprintf(w, " %s |", c.Name)
			}
			fmt.Fprintf(w, "\n|%s\n", strings.Repeat("---|", len(t.Columns)))
			for _, r := range rows {
				fmt.Fprint(w, "|")
				for i, c := range t.Columns {
					var s string
					switch v := r[i].(type) {
					case nil:
						s = "—"
					case int64:
						s = fmt.Sprint(v)
					case string:
						s = reportfile.Cell(v)
					case []byte, *SpooledDocument:
						id, _ := r[0].(int64)
						s = fmt.Sprintf("%d bytes", valueSize(v))
						if file, ok := docs[runDoc{f.Batch, f.Run, id}]; ok && c.Kind == extract.BLOB {
							// The one link of the report: to the file
							// written beside it, whose name is safe.
							s += fmt.Sprintf(", [%s](%s)", reportfile.Cell(file), file)
						}
					}
					fmt.Fprintf(w, " %s |", s)
				}
				fmt.Fprintln(w)
			}
			fmt.Fprintln(w)
		}
	}
	return nil
}

// valueSize is the size of a BLOB value, held or spooled.
func valueSize(v any) int64 {
	switch v := v.(type) {
	case []byte:
		return int64(len(v))
	case *SpooledDocument:
		return v.Size
	}
	return 0
}

// HumanBytes writes a byte count for people: 1.5 MiB.
func HumanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
