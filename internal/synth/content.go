package synth

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/adler32"
	"hash/crc32"
)

// pdf makes a small well-formed PDF with one page of text, about size bytes.
func (g *generator) pdf(size int) []byte {
	text := g.words(max(4, size/10))
	var b bytes.Buffer
	var offs []int
	obj := func(s string) {
		offs = append(offs, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offs), s)
	}
	b.WriteString("%PDF-1.4\n")
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	obj("<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
	obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>")
	stream := "BT /F1 10 Tf 50 800 Td (" + asciiOnly(text) + ") Tj ET"
	obj(fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(stream), stream))
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offs)+1, xref)
	return b.Bytes()
}

func asciiOnly(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f && c != '(' && c != ')' && c != '\\' {
			out = append(out, c)
		}
	}
	return string(out)
}

// png makes a valid grayscale PNG of noise, about size bytes: stored
// (uncompressed) deflate blocks, so the size is predictable.
func (g *generator) png(size int) []byte {
	w := 32
	h := max(1, (size-80)/(w+1))
	raw := make([]byte, 0, h*(w+1))
	for range h {
		raw = append(raw, 0)
		for x := 0; x < w; x += 8 {
			raw = binary.LittleEndian.AppendUint64(raw, g.r.Uint64())
		}
	}
	z := storedZlib(raw)
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		_ = binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		_ = binary.Write(&b, binary.BigEndian, crc.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 8, 0 // 8-bit grayscale
	chunk("IHDR", ihdr)
	chunk("IDAT", z)
	chunk("IEND", nil)
	return b.Bytes()
}

// storedZlib wraps data in a zlib stream of stored (uncompressed) deflate
// blocks (RFC 1950, 1951): valid for any decoder, and far cheaper than
// setting up a compressor for each small image.
func storedZlib(data []byte) []byte {
	sum := adler32.Checksum(data)
	out := make([]byte, 0, len(data)+len(data)/65535*5+11)
	out = append(out, 0x78, 0x01)
	for first := true; first || len(data) > 0; first = false {
		n := min(len(data), 65535)
		final := byte(0)
		if n == len(data) {
			final = 1
		}
		out = append(out, final, byte(n), byte(n>>8), ^byte(n), ^byte(n>>8))
		out = append(out, data[:n]...)
		data = data[n:]
	}
	return binary.BigEndian.AppendUint32(out, sum)
}
