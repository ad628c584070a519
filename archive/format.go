package archive

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/starmig/starmig/extract"
)

// A payload file holds the rows of one STAR1 table as JSON Lines: one
// object per row, its members the STAR1 columns in table order, each value
// exactly as STAR1 holds it. NULL is null; ids are numbers; money is a
// decimal string ("1234.50"); DATE is a wall-clock string
// "YYYY-MM-DD HH:MM:SS" (Europe/Tallinn, no zone); text is a string; a
// BLOB is a base64 string (RFC 4648, with padding). Text that is not valid
// UTF-8 (STAR1 never should hold it) is kept byte for byte as
// {"bytes": "<base64>"}.

// appendRow appends row r of table t as one JSON line.
func appendRow(b []byte, t extract.Table, r extract.Row) ([]byte, error) {
	if len(r) != len(t.Columns) {
		return b, fmt.Errorf("archive: %s row has %d values for %d columns", t.Name, len(r), len(t.Columns))
	}
	b = append(b, '{')
	for i, c := range t.Columns {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendValue(appendKey(b, c.Name), t, c, r[i]); err != nil {
			return b, err
		}
	}
	return append(b, '}', '\n'), nil
}

// appendKey appends a column's name as a JSON object key and its colon.
func appendKey(b []byte, name string) []byte {
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

// appendValue appends one value of a row as appendRow writes it.
func appendValue(b []byte, t extract.Table, c extract.Column, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		b = append(b, "null"...)
	case int64:
		b = strconv.AppendInt(b, v, 10)
	case string:
		if utf8.ValidString(v) {
			b = appendString(b, v)
		} else {
			b = append(b, `{"bytes":"`...)
			b = appendBase64(b, v)
			b = append(b, `"}`...)
		}
	case []byte:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v)
		b = append(b, '"')
	default:
		return b, fmt.Errorf("archive: %s.%s: value of type %T cannot be archived", t.Name, c.Name, v)
	}
	return b, nil
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string; s is valid UTF-8.
func appendString(b []byte, s string) []byte {
	return append(appendEscaped(append(b, '"'), s), '"')
}

// appendEscaped appends s as the inside of a JSON string. It escapes byte
// by byte, so a string escaped in pieces cut anywhere is escaped as whole.
func appendEscaped(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	return append(b, s[start:]...)
}

// largeValue is the length from which writeRow writes a value in pieces.
// streamPiece, a multiple of 3, is the bytes of a value encoded at once,
// so that pieces of base64 join without padding between them.
const (
	largeValue  = 64 << 10
	streamPiece = 48 << 10
)

// writeRow writes to w the line appendRow makes of r, without making it:
// a large value (a document) goes out encoded piece by piece, so that the
// row is never in memory twice. It returns the bytes written, and scratch
// to use again.
func writeRow(w io.Writer, t extract.Table, r extract.Row, scratch []byte) (int64, []byte, error) {
	if len(r) != len(t.Columns) {
		return 0, scratch, fmt.Errorf("archive: %s row has %d values for %d columns", t.Name, len(r), len(t.Columns))
	}
	var n int64
	flush := func(b []byte) ([]byte, error) {
		k, err := w.Write(b)
		n += int64(k)
		return b[:0], err
	}
	b := append(scratch[:0], '{')
	for i, c := range t.Columns {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendKey(b, c.Name)
		var err error
		switch v := r[i].(type) {
		case []byte:
			if len(v) >= largeValue {
				if b, err = streamValue(b, v, `"`, `"`, base64.StdEncoding.AppendEncode, flush); err != nil {
					return n, b, err
				}
				continue
			}
		case string:
			if len(v) >= largeValue {
				if utf8.ValidString(v) {
					b, err = streamValue(b, v, `"`, `"`, appendEscaped, flush)
				} else {
					b, err = streamValue(b, v, `{"bytes":"`, `"}`, appendBase64, flush)
				}
				if err != nil {
					return n, b, err
				}
				continue
			}
		}
		if b, err = appendValue(b, t, c, r[i]); err != nil {
			return n, b, err
		}
	}
	b, err := flush(append(b, '}', '\n'))
	return n, b, err
}

// streamValue appends open to b, then v piece by piece, each piece added
// by add and b flushed after it, then close.
func streamValue[T string | []byte](b []byte, v T, open, close string, add func([]byte, T) []byte, flush func([]byte) ([]byte, error)) ([]byte, error) {
	b = append(b, open...)
	for len(v) > 0 {
		k := min(len(v), streamPiece)
		var err error
		if b, err = flush(add(b, v[:k])); err != nil {
			return b, err
		}
		v = v[k:]
	}
	return append(b, close...), nil
}

// appendBase64 appends the base64 of the bytes of s.
func appendBase64(b []byte, s string) []byte {
	return base64.StdEncoding.AppendEncode(b, []byte(s))
}

// bigLine is the length from which decodeRow takes a row's documents out
// of the line before parsing the rest.
const bigLine = 1 << 20

// decodeRow reads one JSON line of table t back into a Row.
func decodeRow(t extract.Table, line []byte) (extract.Row, error) {
	return decodeLine(t, line, false)
}

// decodeOwnedRow is decodeRow for a line nothing else will read or
// write: a large document is decoded over its own base64 in the line and
// the row keeps that part of the line, instead of taking a new buffer of
// the document's size beside it.
func decodeOwnedRow(t extract.Table, line []byte) (extract.Row, error) {
	return decodeLine(t, line, true)
}

func decodeLine(t extract.Table, line []byte, owned bool) (extract.Row, error) {
	if len(line) >= bigLine {
		if r, ok, err := decodeBigRow(t, line, owned); ok {
			return r, err
		}
	}
	if r, ok := decodeCanonicalRow(t, line, owned); ok {
		return r, nil
	}
	return decodeJSONRow(t, line)
}

// decodeCanonicalRow decodes a line in exactly the shape appendRow
// writes: the table's columns as members in order, no spaces, integers
// without sign or exponent tricks, strings with no escapes but appendRow's.
// It gives what decodeJSONRow gives for such a line, without the JSON
// parser, which took about 40 % of a restore's CPU. ok is false for any
// other line, valid JSON or not, and for a value that does not decode,
// so that decodeJSONRow decides and names the fault.
//
// With owned, the line is one nothing else will read or write: text is
// left in the line, unescaped where it stands, and the row's strings are
// the line's memory. A large CLOB then costs its line and nothing beside
// it. The line is changed only once the whole row has decoded, so a line
// refused here reaches decodeJSONRow as it was.
func decodeCanonicalRow(t extract.Table, line []byte, owned bool) (r extract.Row, ok bool) {
	p := line
	if len(p) == 0 || p[0] != '{' {
		return nil, false
	}
	p = p[1:]
	type escaped struct {
		col  int
		text []byte
		size int
	}
	var later []escaped
	r = make(extract.Row, len(t.Columns))
	for i, c := range t.Columns {
		if i > 0 {
			if len(p) == 0 || p[0] != ',' {
				return nil, false
			}
			p = p[1:]
		}
		n := len(c.Name)
		if len(p) < n+3 || p[0] != '"' || string(p[1:1+n]) != c.Name || p[1+n] != '"' || p[2+n] != ':' {
			return nil, false
		}
		p = p[n+3:]
		if bytes.HasPrefix(p, []byte("null")) {
			p = p[4:]
			continue
		}
		switch c.Kind {
		case extract.Integer:
			var v int64
			if v, p, ok = canonicalInt(p); !ok {
				return nil, false
			}
			r[i] = v
		case extract.BLOB:
			var b []byte
			if b, p, ok = canonicalBase64(p); !ok {
				return nil, false
			}
			r[i] = b
		default:
			if len(p) > 0 && p[0] == '{' {
				const open, end = `{"bytes":`, `}`
				if !bytes.HasPrefix(p, []byte(open)) {
					return nil, false
				}
				var b []byte
				if b, p, ok = canonicalBase64(p[len(open):]); !ok || !bytes.HasPrefix(p, []byte(end)) {
					return nil, false
				}
				r[i], p = aliasString(b), p[len(end):]
				continue
			}
			end, size, ok := canonicalString(p)
			if !ok {
				return nil, false
			}
			text := p[1:end]
			switch {
			case size == len(text) && owned:
				r[i] = aliasString(text)
			case size == len(text):
				r[i] = string(text)
			case owned:
				later = append(later, escaped{i, text, size})
			default:
				b := make([]byte, size)
				unescapeString(b, text)
				r[i] = aliasString(b)
			}
			p = p[end+1:]
		}
	}
	if len(p) != 1 || p[0] != '}' {
		return nil, false
	}
	for _, e := range later {
		unescapeString(e.text, e.text)
		r[e.col] = aliasString(e.text[:e.size])
	}
	return r, true
}

// aliasString is b as a string without a copy, for bytes that nothing
// writes again.
func aliasString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// canonicalInt reads a JSON integer as strconv.AppendInt writes one.
func canonicalInt(p []byte) (int64, []byte, bool) {
	neg := len(p) > 0 && p[0] == '-'
	if neg {
		p = p[1:]
	}
	i := 0
	for i < len(p) && p[i] >= '0' && p[i] <= '9' {
		i++
	}
	// No leading zero, no more digits than an int64 can hold for sure, no
	// fraction or exponent after: anything else is the JSON parser's.
	if i == 0 || i > 18 || (p[0] == '0' && i > 1) || (i < len(p) && (p[i] == '.' || p[i] == 'e' || p[i] == 'E')) {
		return 0, nil, false
	}
	var v int64
	for _, d := range p[:i] {
		v = v*10 + int64(d-'0')
	}
	if neg {
		v = -v
	}
	return v, p[i:], true
}

// canonicalBase64 reads a JSON string of padded standard base64.
func canonicalBase64(p []byte) ([]byte, []byte, bool) {
	if len(p) == 0 || p[0] != '"' {
		return nil, nil, false
	}
	end := bytes.IndexByte(p[1:], '"')
	if end < 0 {
		return nil, nil, false
	}
	b64 := p[1 : 1+end]
	// The decoder skips line breaks, which a JSON string cannot hold raw.
	if bytes.ContainsAny(b64, "\r\n\\") {
		return nil, nil, false
	}
	v, err := decodeBase64(b64)
	if err != nil {
		return nil, nil, false
	}
	return v, p[2+end:], true
}

// decodeBase64 decodes padded standard base64 into a new slice.
func decodeBase64(b64 []byte) ([]byte, error) {
	v := make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
	n, err := base64.StdEncoding.Decode(v, b64)
	return v[:n], err
}

// decodeBase64InPlace is decodeBase64 writing over b64 itself: it decodes
// a piece at a time into a small buffer and copies that back to the
// start of b64, where the base64 is already read (3 bytes out for every 4
// in), and returns the start of b64. Base64 that decodeBase64 would read
// differently piece by piece (padding before the end, line breaks, which
// it skips) or refuse for its length is left to decodeBase64. Other
// base64 it refuses is refused here too, at the same byte, with b64
// written over up to the piece before.
func decodeBase64InPlace(b64 []byte) ([]byte, error) {
	const piece = 64 << 10 // of base64; a multiple of 4
	if pad := bytes.IndexByte(b64, '='); len(b64)%4 != 0 || pad >= 0 && pad < len(b64)-2 ||
		bytes.IndexByte(b64, '\r') >= 0 || bytes.IndexByte(b64, '\n') >= 0 {
		return decodeBase64(b64)
	}
	var tmp [piece / 4 * 3]byte
	n := 0
	for at := 0; at < len(b64); at += piece {
		m, err := base64.StdEncoding.Decode(tmp[:], b64[at:min(at+piece, len(b64))])
		if e, ok := err.(base64.CorruptInputError); ok {
			return nil, e + base64.CorruptInputError(at)
		} else if err != nil {
			return nil, err
		}
		n += copy(b64[n:], tmp[:m])
	}
	return b64[:n:n], nil
}

// canonicalString checks a JSON string of valid UTF-8 with no escapes
// but those appendString writes. end is the index of its closing quote
// in p, size its length unescaped; unescapeString, given p[1:end], cannot
// fail. An escape stands for an ASCII byte, so the string is valid UTF-8
// unescaped exactly when it is as it stands.
func canonicalString(p []byte) (end, size int, ok bool) {
	if len(p) == 0 || p[0] != '"' {
		return 0, 0, false
	}
	i := 1
	for i < len(p) && p[i] != '"' && p[i] != '\\' && p[i] >= 0x20 {
		i++ // most text has no escapes
	}
	size = i - 1
	for i < len(p) {
		c := p[i]
		switch {
		case c == '"':
			if !utf8.Valid(p[1:i]) {
				return 0, 0, false
			}
			return i, size, true
		case c < 0x20:
			return 0, 0, false
		case c != '\\':
			size++
			i++
			continue
		}
		if i+1 >= len(p) {
			return 0, 0, false
		}
		switch p[i+1] {
		case '"', '\\', 'n', 'r', 't':
			i += 2
		case 'u':
			// appendString escapes only control characters, as \u00XX.
			if i+6 > len(p) || p[i+2] != '0' || p[i+3] != '0' {
				return 0, 0, false
			}
			hi, lo := unhex(p[i+4]), unhex(p[i+5])
			if hi < 0 || lo < 0 || hi > 1 {
				return 0, 0, false
			}
			i += 6
		default:
			return 0, 0, false
		}
		size++
	}
	return 0, 0, false
}

// unescapeString writes text, a string's content that canonicalString
// has checked, unescaped to dst, which holds its size. dst may be text
// itself: nothing is written ahead of what has been read.
func unescapeString(dst, text []byte) {
	n := 0
	for {
		k := bytes.IndexByte(text, '\\')
		if k < 0 {
			copy(dst[n:], text)
			return
		}
		n += copy(dst[n:], text[:k])
		step := 2
		switch text[k+1] {
		case 'n':
			dst[n] = '\n'
		case 'r':
			dst[n] = '\r'
		case 't':
			dst[n] = '\t'
		case 'u':
			dst[n] = byte(unhex(text[k+4])<<4 | unhex(text[k+5]))
			step = 6
		default:
			dst[n] = text[k+1]
		}
		n++
		text = text[k+step:]
	}
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// decodeJSONRow is decodeRow through the JSON parser.
func decodeJSONRow(t extract.Table, line []byte) (extract.Row, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(line, &m); err != nil {
		return nil, fmt.Errorf("archive: %s row %.80q: %v", t.Name, line, err)
	}
	if len(m) != len(t.Columns) {
		return nil, fmt.Errorf("archive: %s row %.80q: %d members for %d columns", t.Name, line, len(m), len(t.Columns))
	}
	r := make(extract.Row, len(t.Columns))
	for i, c := range t.Columns {
		raw, ok := m[c.Name]
		if !ok {
			return nil, fmt.Errorf("archive: %s row %.80q: no column %s", t.Name, line, c.Name)
		}
		if string(raw) == "null" {
			continue
		}
		bad := func(err error) error {
			return fmt.Errorf("archive: %s.%s value %.40s: %v", t.Name, c.Name, raw, err)
		}
		switch c.Kind {
		case extract.Integer:
			n, err := strconv.ParseInt(string(raw), 10, 64)
			if err != nil {
				return nil, bad(err)
			}
			r[i] = n
		case extract.BLOB:
			// Base64 needs no JSON escapes: a document is decoded from the
			// line itself, not from a copy unquoted first.
			var b64 []byte
			if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' || bytes.IndexByte(raw, '\\') >= 0 {
				var s string
				if err := json.Unmarshal(raw, &s); err != nil {
					return nil, bad(err)
				}
				b64 = []byte(s)
			} else {
				b64 = raw[1 : len(raw)-1]
			}
			v, err := decodeBase64(b64)
			if err != nil {
				return nil, bad(err)
			}
			r[i] = v
		default:
			if len(raw) > 0 && raw[0] == '{' {
				var o struct{ Bytes []byte }
				if err := json.Unmarshal(raw, &o); err != nil {
					return nil, bad(err)
				}
				r[i] = string(o.Bytes)
				continue
			}
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, bad(err)
			}
			r[i] = s
		}
	}
	return r, nil
}

// decodeBigRow decodes a line holding a large document without making
// the JSON parser check, copy and unquote the document's base64: each
// BLOB member is cut out of the line, the rest decoded by decodeJSONRow, and
// the document decoded from the line where it stands. A JSON string
// escapes every quote, so the first `"NAME":"` of the line is the member's
// key; base64 holds neither a quote nor a backslash, so the next quote
// ends its value. ok is false when the line is not of that shape (a BLOB
// that is null, say), for the JSON parser.
func decodeBigRow(t extract.Table, line []byte, inPlace bool) (r extract.Row, ok bool, err error) {
	type span struct{ col, from, to int }
	var spans []span
	for i, c := range t.Columns {
		if c.Kind != extract.BLOB {
			continue
		}
		key := `"` + c.Name + `":"`
		at := bytes.Index(line, []byte(key))
		if at < 1 || (line[at-1] != '{' && line[at-1] != ',') {
			return nil, false, nil
		}
		from := at + len(key)
		n := bytes.IndexByte(line[from:], '"')
		if n < 0 || bytes.IndexByte(line[from:from+n], '\\') >= 0 {
			return nil, false, nil
		}
		spans = append(spans, span{i, from, from + n})
	}
	if len(spans) == 0 {
		return nil, false, nil
	}
	slices.SortFunc(spans, func(a, b span) int { return a.from - b.from })
	rest := make([]byte, 0, 4<<10)
	last := 0
	for _, s := range spans {
		if s.from < last {
			return nil, false, nil
		}
		rest = append(rest, line[last:s.from]...)
		last = s.to
	}
	rest = append(rest, line[last:]...)
	if r, err = decodeJSONRow(t, rest); err != nil {
		return nil, true, err
	}
	for _, s := range spans {
		b64 := line[s.from:s.to]
		head := string(b64[:min(len(b64), 40)]) // before it is written over
		decode := decodeBase64
		if inPlace {
			decode = decodeBase64InPlace
		}
		v, err := decode(b64)
		if err != nil {
			return nil, true, fmt.Errorf("archive: %s.%s value %s: %v", t.Name, t.Columns[s.col].Name, head, err)
		}
		r[s.col] = v
	}
	return r, true, nil
}

// description is the description of the STAR1 tables that travels in
// every bundle, so that a bundle can be read without this software.
type description struct {
	Format  string      `json:"format"`
	Reading []string    `json:"reading"`
	Tables  []tableDesc `json:"tables"`
}

type tableDesc struct {
	Name    string       `json:"name"`
	Comment string       `json:"comment"`
	Key     []string     `json:"primary_key"`
	Columns []columnDesc `json:"columns"`
}

type columnDesc struct {
	Name    string `json:"name"`
	Oracle  string `json:"oracle_type"`
	NotNull bool   `json:"not_null"`
	JSON    string `json:"json"`
	Comment string `json:"comment"`
}

func describeTables() []byte {
	d := description{
		Format: "starmig STAR1 archive bundle, format 1",
		Reading: []string{
			"This is a BagIt 1.0 bag (RFC 8493). Every file under data/ is encrypted with age (age-encryption.org/v1): decrypt with `age -d -i identity.txt FILE`.",
			"data/<TABLE>/<n>.jsonl.gz.age: rows of one STAR1 table, gzip (several members; `gunzip` reads them all) of JSON Lines, one object per row, members in column order.",
			"Values are exactly as STAR1 held them: null for NULL; ids as numbers; NUMBER(12,2) money as decimal strings; DATE as wall-clock strings YYYY-MM-DD HH:MM:SS in Europe/Tallinn time without zone; text as strings; BLOB as base64 strings (RFC 4648); text that was not valid UTF-8 as {\"bytes\": base64}.",
			"data/reference/: copies of the code lists (KLASSIFIKAATOR) and municipalities (KOV), in the same form, so that every bundle can be read alone; the rows counted for the batch are those under data/<TABLE>/.",
			"data/contents.json.age: the files of the bundle with row counts, SHA-256 of their plaintext (the JSON Lines before compression) and the gzip members (blocks) within them.",
			"index.bin (a tag file, in clear): records of 16 bytes, sorted: the first 10 bytes of HMAC-SHA-256(index key, \"kind:value\"), file number (2 bytes, big endian, into the files of contents.json), block number (4 bytes, big endian). Kinds: isikukood (ISIK.ISIKUKOOD without surrounding spaces), isik (ISIK_ID in ISIKU_SEOS both sides, POORDUMINE, MENETLUS), menetlus (MENETLUS_ID in OTSUS, JUHTUMIPLAAN, TOIMING, DOKUMENT), otsus (MAKSE.OTSUS_ID). A row's own id is found by the key range of each block in contents.json.",
			"tagmanifest-sha512.txt.sig: Ed25519 signature of tagmanifest-sha512.txt, verifiable with `openssl pkeyutl -verify -pubin -inkey signing.pub -rawin -in tagmanifest-sha512.txt -sigfile tagmanifest-sha512.txt.sig`.",
		},
	}
	kinds := map[extract.Kind]string{
		extract.Integer: "number", extract.Decimal: "decimal string", extract.Date: "wall-clock string",
		extract.Text: "string", extract.CLOB: "string", extract.BLOB: "base64 string",
	}
	for _, t := range extract.Tables {
		td := tableDesc{Name: t.Name, Comment: t.Comment, Key: t.Key}
		for _, c := range t.Columns {
			td.Columns = append(td.Columns, columnDesc{Name: c.Name, Oracle: c.Oracle, NotNull: c.NotNull, JSON: kinds[c.Kind], Comment: c.Comment})
		}
		d.Tables = append(d.Tables, td)
	}
	b, _ := json.MarshalIndent(d, "", "  ")
	return append(b, '\n')
}
