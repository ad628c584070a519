package archive

import (
	"context"
	"sync"
	"testing"
	"time"
)

// gateStore holds every ranged read until need of them are in flight, or
// until a long wait ends: reads that a reader makes together pass at once,
// reads made one after another each wait it out, and are counted.
type gateStore struct {
	Store
	mu     sync.Mutex
	need   int
	in     int
	open   chan struct{}
	reads  int
	alone  int
	ranges [][2]int64
}

func (g *gateStore) expect(need int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.need, g.in, g.open, g.reads, g.alone, g.ranges = need, 0, make(chan struct{}), 0, 0, nil
}

func (g *gateStore) Open(ctx context.Context, key string, size int64) (Object, error) {
	o, err := g.Store.Open(ctx, key, size)
	if err != nil {
		return nil, err
	}
	return gateObject{o, g}, nil
}

type gateObject struct {
	Object
	g *gateStore
}

func (o gateObject) ReadAt(p []byte, off int64) (int, error) {
	g := o.g
	g.mu.Lock()
	g.reads++
	g.in++
	g.ranges = append(g.ranges, [2]int64{off, int64(len(p))})
	if g.in == g.need {
		close(g.open)
	}
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
	case <-time.After(5 * time.Second):
		g.mu.Lock()
		g.alone++
		g.mu.Unlock()
	}
	return o.Object.ReadAt(p, off)
}

// A block of a payload file not opened yet comes with age's header and
// final chunk, all three reads at once: one round trip to storage abroad,
// not two (or one read fewer where they touch). A block over several age chunks of a file already open comes
// in one read, not one per chunk.
func TestABlockIsOneRoundTrip(t *testing.T) {
	path := star1Docs(t, 100, 30000)
	k := testKeys(t)
	fs, cats := archivedFolder(t, path, k, nil)
	ctx := context.Background()
	g := &gateStore{Store: fs}
	b, err := NewReader(g, k.pub, k.identities, k.index).OpenBundle(ctx, cats[0].Bundles[0])
	if err != nil {
		t.Fatal(err)
	}
	// A file with two blocks over two age chunks or more each, away from
	// the header's page and the final chunk (a read of those would take
	// the block's with it).
	chunks := func(blk [5]int64) int64 {
		return (blk[0]+blk[1]-1)/(ageChunk-16) - blk[0]/(ageChunk-16) + 1
	}
	file, spread := -1, []int{}
	for i, f := range b.contents.Files {
		spread = spread[:0]
		size := b.size(f.Path)
		for j, blk := range f.Blocks {
			from, n, ok := cipherRange(f.Blocks, blk, &pageCache{size: size})
			if ok && chunks(blk) >= 2 && from > cachePage && from+n < size-ageChunk {
				spread = append(spread, j)
			}
		}
		// Pages apart, so that the first block's read brings none of the
		// last one's.
		if len(spread) >= 2 && f.Blocks[spread[len(spread)-1]][0]-f.Blocks[spread[0]][0] > 4*ageChunk {
			file = i
			break
		}
	}
	if file < 0 {
		t.Fatal("no payload file with two blocks over two age chunks each")
	}
	f := b.contents.Files[file]
	for _, step := range []struct {
		block, reads int
	}{{spread[0], 3}, {spread[len(spread)-1], 1}} {
		g.expect(step.reads)
		_, rows, err := b.readBlock(ctx, file, step.block)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(rows)) != f.Blocks[step.block][2] {
			t.Errorf("%s block %d: %d rows, the contents say %d", f.Path, step.block, len(rows), f.Blocks[step.block][2])
		}
		if g.reads != step.reads || g.alone > 0 {
			t.Errorf("%s block %d over %d age chunks: %d reads %v, %d of them one after another; want %d at once",
				f.Path, step.block, chunks(f.Blocks[step.block]), g.reads, g.ranges, g.alone, step.reads)
		}
	}
}

// BenchmarkReadBlock reads every block of every payload file of a bundle
// of 2 000 generated persons, as a retrieval reads the blocks that hold a
// record: go test -run '^$' -bench ReadBlock -benchmem ./archive
func BenchmarkReadBlock(b *testing.B) {
	path := star1(b, 2000)
	k := testKeys(b)
	fs, cats := archivedFolder(b, path, k, nil)
	ctx := context.Background()
	r := NewReader(fs, k.pub, k.identities, k.index)
	var rows int64
	b.ResetTimer()
	for b.Loop() {
		rows = 0
		for _, e := range cats[0].Bundles {
			bun, err := r.OpenBundle(ctx, e)
			if err != nil {
				b.Fatal(err)
			}
			for i, f := range bun.contents.Files {
				for j := range f.Blocks {
					_, got, err := bun.readBlock(ctx, i, j)
					if err != nil {
						b.Fatal(err)
					}
					rows += int64(len(got))
				}
			}
		}
	}
	b.ReportMetric(float64(rows), "rows/op")
}
