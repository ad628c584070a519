package archive

import (
	"bufio"
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// scanLines gives the lines bufio.ScanLines gives, however the input is
// cut into reads.
func TestScanLinesIsScanLines(t *testing.T) {
	long := strings.Repeat("x", 3<<20)
	for _, in := range []string{"", "\n", "a", "a\n", "a\nb", "a\r\nb\r", "\n\n\r\n", long, long + "\n" + long + "\r\n", "a\n" + long} {
		for name, r := range map[string]func(string) io.Reader{
			"whole":    func(s string) io.Reader { return strings.NewReader(s) },
			"one byte": func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) },
			"halves":   func(s string) io.Reader { return iotest.HalfReader(strings.NewReader(s)) },
		} {
			if name == "one byte" && len(in) > 1<<20 {
				continue
			}
			want := lines(t, r(in), bufio.ScanLines)
			got := lines(t, r(in), scanLines())
			if !slices.Equal(got, want) {
				t.Errorf("%.20q read %s: %d lines, bufio.ScanLines %d", in, name, len(got), len(want))
			}
		}
	}
}

func lines(t *testing.T, r io.Reader, split bufio.SplitFunc) []string {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 16), 1<<30)
	sc.Split(split)
	var out []string
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// BenchmarkScanLongLine reads one 16 MiB line (a document) in the 32 KiB
// pieces a decompressor gives: bufio.ScanLines against scanLines.
func BenchmarkScanLongLine(b *testing.B) {
	line := append(bytes.Repeat([]byte("x"), 16<<20), '\n')
	for name, split := range map[string]func() bufio.SplitFunc{
		"bufio.ScanLines": func() bufio.SplitFunc { return bufio.ScanLines },
		"scanLines":       scanLines,
	} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(line)))
			for range b.N {
				sc := bufio.NewScanner(&pieces{b: line, n: 32 << 10})
				sc.Buffer(make([]byte, 1<<20), 1<<30)
				sc.Split(split())
				for sc.Scan() {
				}
			}
		})
	}
}

type pieces struct {
	b []byte
	n int
}

func (p *pieces) Read(b []byte) (int, error) {
	if len(p.b) == 0 {
		return 0, io.EOF
	}
	n := copy(b[:min(len(b), p.n)], p.b)
	p.b = p.b[n:]
	return n, nil
}
