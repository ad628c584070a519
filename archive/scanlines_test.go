package archive

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/klauspost/compress/gzip"
)

// nextLine gives the lines bufio.ScanLines gives.
func TestNextLineIsScanLines(t *testing.T) {
	long := strings.Repeat("x", 3<<20)
	for _, in := range []string{"", "\n", "a", "a\n", "a\nb", "a\r\nb\r", "\n\n\r\n", long, long + "\n" + long + "\r\n", "a\n" + long} {
		want := lines(t, strings.NewReader(in), bufio.ScanLines)
		var got []string
		for rest := []byte(in); len(rest) > 0; {
			var line []byte
			line, rest = nextLine(rest)
			got = append(got, string(line))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%.20q: %d lines, bufio.ScanLines %d", in, len(got), len(want))
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

// A block's buffer is the size of its plaintext, as the gzip trailer gives
// it, and never more than deflate could expand the block to, whatever the
// trailer says. The line buffer of a streamed payload file (plainSize) is
// one more, and never less than 1 MiB.
func TestBlockBufferIsThePlaintextSize(t *testing.T) {
	member := func(plain []byte) []byte {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
		zw.Write(plain)
		zw.Close()
		return b.Bytes()
	}
	random := make([]byte, 3<<20)
	rand.Read(random)
	text := bytes.Repeat([]byte("a line of a document\n"), 400_000)
	damaged := member([]byte("short"))
	binary.LittleEndian.PutUint32(damaged[len(damaged)-4:], 1<<31)
	for _, c := range []struct {
		name string
		gz   []byte
		want int
	}{
		{"random bytes", member(random), len(random)},
		{"text that compresses", member(text), len(text)},
		{"a small block", member([]byte("a\n")), 2},
		{"no trailer", []byte{1, 2, 3}, 0},
		{"a damaged trailer", damaged, 1032 * len(damaged)},
	} {
		if got := memberSize(c.gz); got != c.want {
			t.Errorf("%s: %d bytes, want %d", c.name, got, c.want)
		}
		if len(c.gz) >= 18 {
			isize := binary.LittleEndian.Uint32(c.gz[len(c.gz)-4:])
			if got, want := plainSize(isize, int64(len(c.gz))), max(c.want+1, 1<<20); got != want {
				t.Errorf("%s: line buffer of %d bytes, want %d", c.name, got, want)
			}
		}
	}
	big := member(bytes.Repeat([]byte{'x'}, 8<<20))
	binary.LittleEndian.PutUint32(big[len(big)-4:], 1<<31)
	if got := memberSize(big); got != 1032*len(big) {
		t.Errorf("a damaged trailer claiming 2 GiB for %d bytes: %d, want %d", len(big), got, 1032*len(big))
	}
}

// lineReader gives the lines bufio.ScanLines gives, however the input is
// cut into reads, in a buffer as small as a few bytes, and with any size
// told for a line (too small, right, too large; for a line that is not
// there, it returns the end). A line read with a size is in a buffer of
// its own, which the next lines do not write over.
func TestLineReaderIsScanLines(t *testing.T) {
	long := strings.Repeat("x", 3<<20)
	readers := map[string]func(string) io.Reader{
		"whole":    func(s string) io.Reader { return strings.NewReader(s) },
		"one byte": func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) },
		"halves":   func(s string) io.Reader { return iotest.HalfReader(strings.NewReader(s)) },
		"data+EOF": func(s string) io.Reader { return iotest.DataErrReader(strings.NewReader(s)) },
	}
	for _, in := range []string{"", "\n", "a", "a\n", "a\nb", "a\r\nb\r", "\n\n\r\n", long, long + "\n" + long + "\r\n", "a\n" + long, "a\nb\nc\nd\n" + long + "\ne"} {
		for name, r := range readers {
			if name == "one byte" && len(in) > 1<<20 {
				continue
			}
			want := lines(t, r(in), bufio.ScanLines)
			for _, buf := range []int{4, 1 << 20} {
				for _, own := range []func(i int) int{
					func(int) int { return 0 },
					func(i int) int { return 1 + i%3*len(long)/2 },
					func(i int) int {
						if i < len(want) {
							return len(want[i]) + 1
						}
						return 5
					},
				} {
					lr := &lineReader{r: r(in), buf: make([]byte, buf)}
					var got []string
					var kept [][]byte
					for i := 0; ; i++ {
						line, err := lr.line(own(i))
						if err == io.EOF {
							break
						} else if err != nil {
							t.Fatal(err)
						}
						got = append(got, string(line))
						if own(i) > 0 {
							kept = append(kept, line)
						}
					}
					if !slices.Equal(got, want) {
						t.Fatalf("%.20q read %s, buffer %d: %d lines %.20q, bufio.ScanLines %d %.20q", in, name, buf, len(got), got, len(want), want)
					}
					at := 0
					for i, line := range got {
						if own(i) > 0 {
							if string(kept[at]) != line {
								t.Fatalf("%.20q read %s: line %d, read into its own buffer, was written over", in, name, i)
							}
							at++
						}
					}
				}
			}
		}
	}
	lr := &lineReader{r: iotest.TimeoutReader(strings.NewReader("a\nbc")), buf: make([]byte, 16)}
	if line, err := lr.line(0); string(line) != "a" || err != nil {
		t.Fatalf("first line %q, %v", line, err)
	}
	if _, err := lr.line(0); err != iotest.ErrTimeout {
		t.Errorf("a failed read: %v, want its error", err)
	}
}
