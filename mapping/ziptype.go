package mapping

import (
	"archive/zip"
	"bytes"
	"io"
	"mime"
	"strings"
)

// Office documents, OpenDocument files and signed ASiC containers (BDOC)
// are ZIP files, which content sniffing calls application/zip. What is
// inside tells them apart: the uncompressed "mimetype" entry that
// OpenDocument, ASiC and EPUB put first, or the part folders of Office Open
// XML ("word/", "xl/", "ppt/").
//
// A format is a family of media types that name the same kind of content
// (a Word document, its template and its macro-enabled variants). A given
// type of the family is left as it is; a given type that names another
// known format (application/msword on a DOCX) is replaced by the family's
// first type.

const (
	mediaDOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	mediaXLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	mediaPPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
)

// zipFamilies lists, by family, the media types (lower case) each known
// ZIP-based format is given; the first is the one rule 14 writes.
var zipFamilies = map[string][]string{
	"word": {mediaDOCX,
		"application/vnd.openxmlformats-officedocument.wordprocessingml.template",
		"application/vnd.ms-word.document.macroenabled.12",
		"application/vnd.ms-word.template.macroenabled.12"},
	"excel": {mediaXLSX,
		"application/vnd.openxmlformats-officedocument.spreadsheetml.template",
		"application/vnd.ms-excel.sheet.macroenabled.12",
		"application/vnd.ms-excel.template.macroenabled.12",
		"application/vnd.ms-excel.sheet.binary.macroenabled.12"},
	"powerpoint": {mediaPPTX,
		"application/vnd.openxmlformats-officedocument.presentationml.slideshow",
		"application/vnd.openxmlformats-officedocument.presentationml.template",
		"application/vnd.ms-powerpoint.presentation.macroenabled.12",
		"application/vnd.ms-powerpoint.slideshow.macroenabled.12",
		"application/vnd.ms-powerpoint.template.macroenabled.12"},
}

// legacyOffice are the types of the binary Office formats that came
// before Office Open XML; ZIP content plainly contradicts them.
var legacyOffice = map[string]bool{
	"application/msword": true, "application/vnd.ms-excel": true,
	"application/vnd.ms-powerpoint": true, "application/vnd.ms-outlook": true,
}

// familyOf names the family of a known ZIP-based media type g (lower case,
// without parameters): an Office Open XML family, or for a type a
// "mimetype" entry declares (OpenDocument, ASiC, EPUB) the type itself,
// an OpenDocument template counting as its document. "" for a type that is
// not known to be ZIP-based.
func familyOf(g string) string {
	for f, types := range zipFamilies {
		for _, t := range types {
			if g == t {
				return f
			}
		}
	}
	if declaredZipType(g) {
		return strings.TrimSuffix(g, "-template")
	}
	return ""
}

// declaredZipType tells whether g is a type that ZIP-based formats declare
// in their "mimetype" entry and that rule 14 knows.
func declaredZipType(g string) bool {
	return strings.HasPrefix(g, "application/vnd.oasis.opendocument.") ||
		g == "application/vnd.etsi.asic-e+zip" || g == "application/vnd.etsi.asic-s+zip" ||
		g == "application/epub+zip"
}

// zipFormat inspects content that sniffs as a ZIP file and returns the
// media type of the format it holds with that format's family, or "" when
// the ZIP cannot be read or holds no format it knows. It reads the central
// directory and at most 256 bytes of the "mimetype" entry.
func zipFormat(content []byte) (media, family string) {
	r, err := zip.NewReader(bytes.NewReader(content), int64(len(content)))
	if err != nil || len(r.File) == 0 {
		return "", ""
	}
	if f := r.File[0]; f.Name == "mimetype" {
		if rc, err := f.Open(); err == nil {
			b, _ := io.ReadAll(io.LimitReader(rc, 256))
			rc.Close()
			t := strings.ToLower(strings.TrimSpace(string(b)))
			if _, _, err := mime.ParseMediaType(t); err == nil && declaredZipType(t) {
				return t, familyOf(t)
			}
		}
	}
	var types bool
	var found string
	for _, f := range r.File {
		switch {
		case f.Name == "[Content_Types].xml":
			types = true
		case found != "":
		case strings.HasPrefix(f.Name, "word/"):
			found = "word"
		case strings.HasPrefix(f.Name, "xl/"):
			found = "excel"
		case strings.HasPrefix(f.Name, "ppt/"):
			found = "powerpoint"
		}
	}
	if !types || found == "" {
		return "", ""
	}
	return zipFamilies[found][0], found
}
