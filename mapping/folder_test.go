package mapping

import (
	"archive/zip"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func writeFolder(t *testing.T, municipalities, classifiers string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "municipalities.csv"), []byte(municipalities), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "classifiers.csv"), []byte(classifiers), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

const (
	munHeader = "star1_code,star2_code,star2_name\n"
	clsHeader = "star1_class,star1_code,star2_kind,star2_code,star2_name\n"
)

func TestMappingFolder(t *testing.T) {
	m, err := LoadFolder(writeFolder(t, munHeader+"0784,0784,Tallinn\n0300,0784,Tallinn\n",
		clsHeader+"KANAL,FAKS,channel,paper,Paper\nKANAL,PABER,channel,paper,Paper\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := m.Municipality("0300"); !ok || got.Code != "0784" {
		t.Errorf("0300 maps to %+v", got)
	}
	if got, ok := m.Classifier("KANAL", "FAKS"); !ok || got.Code != "paper" || got.Kind != "channel" {
		t.Errorf("KANAL/FAKS maps to %+v", got)
	}
	if _, ok := m.Classifier("KANAL", "SKYPE"); ok {
		t.Error("an unmapped code maps")
	}
}

// TestMappingFolderMapsCodesByTheirVisibleForm: a STAR1 code with a NUL or
// bytes that are not UTF-8 is mapped by the form reports show it in
// (Visible), which a CSV file can hold; a NUL in the file itself is
// refused, naming the line.
func TestMappingFolderMapsCodesByTheirVisibleForm(t *testing.T) {
	m, err := LoadFolder(writeFolder(t, munHeader+`07\u0000,0784,Tallinn`+"\n"+`07\xFE,0784,Tallinn`+"\n",
		clsHeader+`KANAL,E\u0000POST,channel,email,E-mail`+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"07\x00", "07\xfe", `07\u0000`} {
		if got, ok := m.Municipality(code); !ok || got.Code != "0784" {
			t.Errorf("municipality %q maps to %+v, %v", code, got, ok)
		}
	}
	if got, ok := m.Classifier("KANAL", "E\x00POST"); !ok || got.Code != "email" {
		t.Errorf("KANAL/E NUL POST maps to %+v, %v", got, ok)
	}
	if _, ok := m.Municipality("07"); ok {
		t.Error("07 maps as 07 with a NUL")
	}
	_, err = LoadFolder(writeFolder(t, munHeader+"07\x00,0784,Tallinn\n", clsHeader))
	if err == nil || !strings.Contains(err.Error(), "line 2: star1_code") || !strings.Contains(err.Error(), `\u0000`) {
		t.Errorf("a NUL in municipalities.csv: %v", err)
	}
}

func TestMappingFolderAsASpreadsheetSavesIt(t *testing.T) {
	// A spreadsheet in the Estonian locale saves CSV with a byte-order mark
	// and semicolons; the folder reads as the same mappings.
	semi := func(s string) string { return "\ufeff" + strings.ReplaceAll(s, ",", ";") }
	mun := munHeader + "0784,0784,Pärnu linn\n"
	cls := clsHeader + "KANAL,FAKS,channel,paper,Paper\n"
	want, err := LoadFolder(writeFolder(t, mun, cls))
	if err != nil {
		t.Fatal(err)
	}
	got, err := LoadFolder(writeFolder(t, semi(mun), semi(cls)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("semicolons and a mark read as %+v, want %+v", got, want)
	}
	// A broken STAR1 code may be mapped on purpose.
	if got, err := LoadFolder(writeFolder(t, mun+"078,0784,Pärnu linn\n", cls)); err != nil {
		t.Errorf("a broken STAR1 code mapped: %v", err)
	} else if m, _ := got.Municipality("078"); m.Code != "0784" {
		t.Errorf("078 maps to %+v", m)
	}
	// The empty rows a spreadsheet writes below a table are no mappings.
	got, err = LoadFolder(writeFolder(t, semi(mun)+";;\n;;\n", semi(cls)+";;;;\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("with empty rows read as %+v, want %+v", got, want)
	}
	// A comma inside a quoted name of a semicolon file is part of the name.
	got, err = LoadFolder(writeFolder(t, semi(munHeader)+"0784;0784;\"Pärnu linn, kesklinn\"\n", semi(cls)))
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := got.Municipality("0784"); m.Name != "Pärnu linn, kesklinn" {
		t.Errorf("name %q", m.Name)
	}
}

func TestMappingFolderErrorsNameFileLineAndValue(t *testing.T) {
	cases := []struct {
		mun, cls string
		want     []string
	}{
		{"code,name\n", clsHeader, []string{"municipalities.csv", "header"}},
		{munHeader + "0784,0784,Tallinn\n0784,0785,Tartu\n", clsHeader, []string{"municipalities.csv", "line 3", "0784", "twice"}},
		{munHeader + "0784, 0784,Tallinn\n", clsHeader, []string{"municipalities.csv", "line 2", "star2_code"}},
		{munHeader + "0784,0784\n", clsHeader, []string{"municipalities.csv", "line 2 has 2 fields, want 3: star1_code,star2_code,star2_name"}},
		{munHeader, clsHeader + "KANAL,FAKS,channel,paper,Paper,\n", []string{"classifiers.csv", "line 2 has 6 fields, want 5"}},
		{munHeader + "0784;0784;Tallinn\n", clsHeader, []string{"municipalities.csv", "line 2 has 1 field, want 3"}},
		// Quotes a spreadsheet did not write: a parse error, not a panic.
		{munHeader + "0784,0784,Tallinn\ngarbage\"line\n", clsHeader, []string{"municipalities.csv", "line 3", "bare \""}},
		{munHeader + "0784,\"0784,Tallinn\n", clsHeader, []string{"municipalities.csv", "line 2", "quote"}},
		{munHeader, clsHeader + "KANAL,\"FAKS\"x,channel,paper,Paper\n", []string{"classifiers.csv", "line 2", "quote"}},
		{"star1_code,star2_code\n", clsHeader, []string{"municipalities.csv", "header", munHeader[:len(munHeader)-1]}},
		{munHeader + "0784,0784,P\xe4rnu linn\n", clsHeader, []string{"municipalities.csv", "line 2", "star2_name", "not UTF-8"}},
		{munHeader, clsHeader + "KANAL,FAKS,chanel,paper,Paper\n", []string{"classifiers.csv", "line 2", "chanel"}},
		// A spreadsheet read the codes as numbers and dropped their zeros.
		{munHeader + "0784,0784,Tallinn\n79,79,Alutaguse vald\n", clsHeader, []string{"municipalities.csv", "line 3", "star2_code", `"79"`, "0079", "leading zeros"}},
		{munHeader + "0784,784,Tallinn\n", clsHeader, []string{"municipalities.csv", "line 2", "star2_code", `"784"`, "0784"}},
		{munHeader, clsHeader + "KANAL,FAKS,channel,paper,Paper\nKANAL,PABER,channel,paper,Post\n", []string{"classifiers.csv", "channel/paper", "Paper", "Post"}},
	}
	for _, c := range cases {
		_, err := LoadFolder(writeFolder(t, c.mun, c.cls))
		if err == nil {
			t.Errorf("%q / %q: no error", c.mun, c.cls)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not say %q", err, w)
			}
		}
	}
	empty := t.TempDir()
	file := filepath.Join(empty, "municipalities.csv")
	for dir, want := range map[string]string{
		empty:                           file + " does not exist",
		filepath.Join(empty, "nowhere"): "folder " + filepath.Join(empty, "nowhere") + " does not exist",
	} {
		if _, err := LoadFolder(dir); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want it to say %q", dir, err, want)
		}
	}
	// Files saved under another name on the analysts' Windows: in other
	// capitals, or as a spreadsheet.
	saved := t.TempDir()
	for _, name := range []string{"Municipalities.CSV", "classifiers.xlsx"} {
		if err := os.WriteFile(filepath.Join(saved, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := LoadFolder(saved)
	for _, want := range []string{
		filepath.Join(saved, "municipalities.csv") + " does not exist (the folder has Municipalities.CSV: file names are case-sensitive here)",
		filepath.Join(saved, "classifiers.csv") + " does not exist (the folder has classifiers.xlsx: save it as classifiers.csv, comma-separated, UTF-8)",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("files under other names: %v, want it to say %q", err, want)
		}
	}
	if err := os.Rename(filepath.Join(saved, "classifiers.xlsx"), filepath.Join(saved, "classifiers.csv.txt")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFolder(saved); err == nil || !strings.Contains(err.Error(), "(the folder has classifiers.csv.txt: save it as classifiers.csv") {
		t.Errorf("classifiers.csv.txt: %v", err)
	}

	if err := os.WriteFile(file, []byte(munHeader), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFolder(file); err == nil || !strings.Contains(err.Error(), file+" is a file: want the folder") {
		t.Errorf("a file as the folder: %v", err)
	}
}

// TestMappingFolderListsEveryFault: the analysts correct a mapping folder
// in one go, so every line at fault in both files is named, in the order
// of the files, up to maxListed; the rest are counted.
func TestMappingFolderListsEveryFault(t *testing.T) {
	dir := writeFolder(t, munHeader+"0784,0784,Tallinn\n0784,0785,Tartu\n0300,300,Kuusalu\n0301,0301\n0302,0302,Keila\n",
		clsHeader+"KANAL,FAKS,chanel,paper,Paper\nKANAL,PABER,channel,paper,Paper\nKANAL,POST,channel,paper,Post\n")
	_, err := LoadFolder(dir)
	mun, cls := filepath.Join(dir, "municipalities.csv"), filepath.Join(dir, "classifiers.csv")
	want := "mapping: 5 faults in the mapping files:\n" +
		"  " + mun + ": line 3: STAR1 code \"0784\" mapped twice\n" +
		"  " + mun + ": line 4: star2_code \"300\" is not a 4-digit EHAK code: a spreadsheet drops the leading zeros of a number (write 0300, and format the code columns as text)\n" +
		"  " + mun + ": line 5 has 2 fields, want 3: star1_code,star2_code,star2_name\n" +
		"  " + cls + ": line 2: star2_kind \"chanel\" is not service, relation_type, proceeding_type, activity_type or channel\n" +
		"  " + cls + ": line 4: STAR2 channel/paper named both \"Paper\" (from KANAL/PABER) and \"Post\" (from KANAL/POST)"
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}

	// A file that cannot be read as a table is read no further; the other
	// file still is.
	_, err = LoadFolder(writeFolder(t, "code,name\n0784,0785\n", clsHeader+"KANAL,FAKS,chanel,paper,Paper\n"))
	if got := fmt.Sprint(err); !strings.HasPrefix(got, "mapping: 2 faults") || !strings.Contains(got, "header is") || !strings.Contains(got, `"chanel"`) {
		t.Errorf("a wrong header and a wrong line of the other file: %v", err)
	}

	var many strings.Builder
	many.WriteString(munHeader)
	for i := range maxListed + 5 {
		fmt.Fprintf(&many, "%04d,%d,Vald\n", i, i)
	}
	_, err = LoadFolder(writeFolder(t, many.String(), clsHeader))
	got := fmt.Sprint(err)
	if !strings.HasPrefix(got, fmt.Sprintf("mapping: %d faults in the mapping files:", maxListed+5)) ||
		strings.Count(got, "\n  ") != maxListed+1 || !strings.HasSuffix(got, "\n  and 5 more, not listed") {
		t.Errorf("more faults than are listed:\n%s", got)
	}
}

func TestRule14MediaType(t *testing.T) {
	pdf := []byte("%PDF-1.4\n1 0 obj\n")
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	text := []byte("Palun abi küttearvega.")
	zip := []byte("PK\x03\x04\x14\x00\x06\x00")
	xml := []byte(`<?xml version="1.0"?><SignedDoc format="DIGIDOC-XML"/>`)
	const docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	cases := []struct {
		given   string
		content []byte
		want    string
		changed bool
	}{
		{"application/pdf", pdf, "application/pdf", false},
		{"image/png", pdf, "application/pdf", true},
		{"", png, "image/png", true},
		{"text/plain", png, "image/png", true},
		{"text/csv", text, "text/csv", false},
		{"application/pdf", text, "text/plain", true},
		{"application/x-custom", []byte{0x00, 0x01, 0x02, 0xfe}, "application/x-custom", false},
		{"image/png", nil, "image/png", false},
		{"", nil, "application/octet-stream", true},
		{"pdf", nil, "application/octet-stream", true},
		{"1\x00", nil, "application/octet-stream", true},
		{"application/pdf\x00", pdf, "application/pdf", true},
		{"täht/pdf", pdf, "application/pdf", true},
		{"APPLICATION/PDF; charset=binary", pdf, "APPLICATION/PDF; charset=binary", false},
		// Formats made of ZIP, text or XML keep their own, more specific
		// name; a type with a signature of its own is contradicted.
		{docx, zip, docx, false},
		{"application/vnd.oasis.opendocument.text", zip, "application/vnd.oasis.opendocument.text", false},
		{"application/vnd.etsi.asic-e+zip", zip, "application/vnd.etsi.asic-e+zip", false},
		{"application/json", []byte(`{"summa": "12.50"}`), "application/json", false},
		{"application/rtf", []byte(`{\rtf1\ansi Palun abi}`), "application/rtf", false},
		{"message/rfc822", []byte("From: a@b.ee\r\nSubject: abi\r\n\r\nPalun"), "message/rfc822", false},
		{"application/x-ddoc", xml, "application/x-ddoc", false},
		{"application/xml", xml, "application/xml", false},
		{"application/pdf", zip, "application/zip", true},
		{"image/jpeg", zip, "application/zip", true},
		{"text/plain", zip, "application/zip", true},
		{"application/octet-stream", zip, "application/zip", true},
		{"application/octet-stream", text, "text/plain", true},
		{"image/png", xml, "text/xml", true},
		{"application/x-custom", pdf, "application/pdf", true},
		{docx, pdf, "application/pdf", true},
	}
	for _, c := range cases {
		got, changed := MediaType(c.given, c.content)
		if got != c.want || changed != c.changed {
			t.Errorf("MediaType(%q, %q) = %q %v, want %q %v", c.given, c.content, got, changed, c.want, c.changed)
		}
	}
}

// zipOf writes a ZIP file of the named entries, in order; an entry named
// "mimetype" is stored uncompressed, as OpenDocument and ASiC require.
func zipOf(t testing.TB, entries ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for i := 0; i < len(entries); i += 2 {
		h := &zip.FileHeader{Name: entries[i], Method: zip.Deflate}
		if h.Name == "mimetype" {
			h.Method = zip.Store
		}
		f, err := w.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte(entries[i+1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRule14MediaTypeInsideZip(t *testing.T) {
	const (
		docx  = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
		xlsx  = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
		pptx  = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
		odt   = "application/vnd.oasis.opendocument.text"
		asice = "application/vnd.etsi.asic-e+zip"
	)
	types := `<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>`
	word := zipOf(t, "[Content_Types].xml", types, "_rels/.rels", "<Relationships/>", "word/document.xml", "<w:document/>")
	excel := zipOf(t, "[Content_Types].xml", types, "xl/workbook.xml", "<workbook/>")
	slides := zipOf(t, "[Content_Types].xml", types, "ppt/presentation.xml", "<p:presentation/>")
	text := zipOf(t, "mimetype", odt, "content.xml", "<office:document-content/>")
	template := zipOf(t, "mimetype", odt+"-template", "content.xml", "<office:document-content/>")
	bdoc := zipOf(t, "mimetype", asice, "avaldus.pdf", "%PDF-1.4", "META-INF/signatures0.xml", "<asic:XAdESSignatures/>")
	plain := zipOf(t, "avaldus.pdf", "%PDF-1.4")
	noTypes := zipOf(t, "word/document.xml", "<w:document/>")
	oddDeclared := zipOf(t, "mimetype", "text/html", "index.html", "<p>")
	cases := []struct {
		name, given string
		content     []byte
		want        string
		changed     bool
	}{
		{"DOCX without type", "", word, docx, true},
		{"DOCX labelled as a Word 97 file", "application/msword", word, docx, true},
		{"DOCX", docx, word, docx, false},
		{"DOCX labelled as macro-enabled", "application/vnd.ms-word.document.macroEnabled.12", word, "application/vnd.ms-word.document.macroEnabled.12", false},
		{"DOCX labelled as XLSX", xlsx, word, docx, true},
		{"DOCX labelled as PDF", "application/pdf", word, docx, true},
		{"DOCX labelled as bytes", "application/octet-stream", word, docx, true},
		{"DOCX labelled as ZIP", "application/zip", word, "application/zip", false},
		{"DOCX labelled as another ZIP", "application/x-zip-compressed", word, "application/x-zip-compressed", false},
		{"XLSX labelled as Excel 97", "application/vnd.ms-excel", excel, xlsx, true},
		{"XLSB", "application/vnd.ms-excel.sheet.binary.macroEnabled.12", excel, "application/vnd.ms-excel.sheet.binary.macroEnabled.12", false},
		{"PPTX labelled as DOCX", docx, slides, pptx, true},
		{"ODT without type", "", text, odt, true},
		{"ODT labelled as DOCX", docx, text, odt, true},
		{"ODT template labelled as ODT", odt, template, odt, false},
		{"BDOC without type", "", bdoc, asice, true},
		{"BDOC under a type rule 14 does not know", "application/x-bdoc", bdoc, "application/x-bdoc", false},
		{"BDOC labelled as ODT", odt, bdoc, asice, true},
		{"BDOC labelled as PDF", "application/pdf", bdoc, asice, true},
		// A ZIP that names no format rule 14 knows is judged as before.
		{"plain ZIP without type", "", plain, "application/zip", true},
		{"plain ZIP labelled as Word 97", "application/msword", plain, "application/msword", false},
		{"parts without [Content_Types].xml", "", noTypes, "application/zip", true},
		{"mimetype of no ZIP-based format", "", oddDeclared, "application/zip", true},
	}
	for _, c := range cases {
		got, changed := MediaType(c.given, c.content)
		if got != c.want || changed != c.changed {
			t.Errorf("%s: MediaType(%q) = %q %v, want %q %v", c.name, c.given, got, changed, c.want, c.changed)
		}
	}
}

func TestMojibakePrefilterMissesNoRepair(t *testing.T) {
	// Everything RepairMojibake would repair passes the cheap pre-filter.
	for _, s := range []string{"Jüri", "Tõnu Õunapuu", "Šikk Žanna", "Mäesalu tänav 5", "KÜÜNARPUU", "öömaja", "Rätsep"} {
		for _, latin1 := range []bool{true, false} {
			m := Mojibake(s, latin1)
			if !mayBeMojibake(m) {
				t.Errorf("%q (%q) skipped by the pre-filter", m, s)
			}
			if fixed, _, ok := RepairMojibake(m); !ok || fixed != s {
				t.Errorf("%q: repaired to %q %v, want %q", m, fixed, ok, s)
			}
		}
		if mayBeMojibake(s) {
			if _, _, ok := RepairMojibake(s); ok {
				t.Errorf("%q: real text repaired", s)
			}
		}
	}
}

func TestMojibakeClassOfEveryCharacter(t *testing.T) {
	// The array and map lookup agree with decoding every byte through every
	// code page.
	want := map[rune]uint8{}
	for _, cs := range mojibakeCharsets {
		for b := 0x80; b <= 0xF4; b++ {
			out, err := cs.enc.NewDecoder().Bytes([]byte{byte(b)})
			if err != nil {
				continue
			}
			r, _ := utf8.DecodeRune(out)
			if b <= 0xBF {
				want[r] |= mojibakeCont
			}
			if b >= 0xC2 {
				want[r] |= mojibakeLead
			}
		}
	}
	for r := rune(0); r <= 0xFFFF; r++ {
		if got := mojibakeClass(r); got != want[r] {
			t.Fatalf("class of %U = %b, want %b", r, got, want[r])
		}
	}
}

func BenchmarkMayBeMojibake(b *testing.B) {
	s := "Mäesalu tänav 5, Tõnu Õunapuu külastas, pere vajab öömaja ja toetust"
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		if mayBeMojibake(s) {
			b.Fatal("real text flagged")
		}
	}
}

func TestCodeMeantNamesTheCodeOfWhatWasGiven(t *testing.T) {
	names := map[string]string{
		"0784": "Tallinn",
		"0793": "Tartu linn",
		"0796": "Tartu vald",
		"0098": "Anija vald",
		"0353": "Kohtla-Järve linn",
		"0078": "Saue vald",
		"0079": "Saue linn",
		"0080": "Saaremaa vald",
		"0081": "Saarde vald",
		"0082": "Saku vald",
		"0083": "Sauga vald",
	}
	for _, c := range []struct{ given, want string }{
		{"784", "784 is 0784 (Tallinn) without its leading zeros"},
		{"TALLINN", "TALLINN is the name of 0784 (Tallinn)"},
		{" tartu linn ", " tartu linn  is the name of 0793 (Tartu linn)"},
		{"tartu", "tartu is part of the names of 0793 (Tartu linn), 0796 (Tartu vald)"},
		{"järve", "järve is part of the name of 0353 (Kohtla-Järve linn)"},
		{"ANIJA", "ANIJA is part of the name of 0098 (Anija vald)"},
		{"vald", "vald is part of the names of 0078 (Saue vald), 0080 (Saaremaa vald), 0081 (Saarde vald), 0082 (Saku vald), 0083 (Sauga vald) and 2 more"},
		// A word's middle, two letters, or a code STAR2 does not hold
		// and no name holds, name nothing.
		{"artu", ""},
		{"ta", ""},
		{"9999", ""},
		{"077", ""},
	} {
		if got := CodeMeant(c.given, names); got != c.want {
			t.Errorf("CodeMeant(%q) = %q, want %q", c.given, got, c.want)
		}
	}
}
