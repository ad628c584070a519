package verify

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"sort"
	"testing"
	"time"

	"github.com/starmig/starmig/archive"
)

// FuzzAnyChangeIsFound replaces one object of a clean archive (any of
// them: payload, manifest, tag file, index, signature, catalog) with other
// bytes. Whatever the bytes, verify --level full must not panic, must run
// (a damaged object is a finding, not a failure to verify), and must find
// the change.
//
//	go test -run '^$' -fuzz FuzzAnyChangeIsFound -fuzztime 60s -fuzzminimizetime 3s ./verify
func FuzzAnyChangeIsFound(f *testing.F) {
	var k keys
	_, st := folderArchive(f, &k)
	ctx := context.Background()
	var objects []string
	original := map[string][]byte{}
	if err := st.Keys(ctx, "", func(key string, _ int64) error {
		objects = append(objects, key)
		return nil
	}); err != nil {
		f.Fatal(err)
	}
	sort.Strings(objects)
	for _, key := range objects {
		rc, err := st.Get(ctx, key)
		if err != nil {
			f.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			f.Fatal(err)
		}
		original[key] = b
	}
	for i, key := range objects {
		b := original[key]
		f.Add(uint16(i), []byte{})
		f.Add(uint16(i), b[:len(b)/2])
		flipped := bytes.Clone(b)
		if len(flipped) > 0 {
			flipped[len(flipped)/3] ^= 0x20
		}
		f.Add(uint16(i), flipped)
	}
	f.Fuzz(func(t *testing.T, n uint16, data []byte) {
		key := objects[int(n)%len(objects)]
		if bytes.Equal(data, original[key]) {
			return
		}
		type result struct {
			rep *Report
			err error
		}
		done := make(chan result, 1)
		go func() {
			rep, err := Verify(ctx, Options{Store: overlay{st, key, data}, Pub: k.pub, Level: Full})
			done <- result{rep, err}
		}()
		var rep *Report
		var err error
		select {
		case r := <-done:
			rep, err = r.rep, r.err
		case <-time.After(20 * time.Second):
			buf := make([]byte, 1<<20)
			t.Fatalf("%s replaced by %d bytes (%q…): verify did not end in 20 s\n%s", key, len(data), data[:min(len(data), 40)], buf[:runtime.Stack(buf, true)])
		}
		if err != nil {
			t.Fatalf("%s replaced by %d bytes: verify could not run: %v", key, len(data), err)
		}
		if rep.OK() {
			t.Fatalf("%s replaced by %d bytes (%q…): verify full finds nothing", key, len(data), data[:min(len(data), 40)])
		}
	})
}

// overlay is a store in which one object holds other bytes.
type overlay struct {
	archive.Store
	key  string
	data []byte
}

func (o overlay) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if key == o.key {
		return io.NopCloser(bytes.NewReader(o.data)), nil
	}
	return o.Store.Get(ctx, key)
}

func (o overlay) Open(ctx context.Context, key string, size int64) (archive.Object, error) {
	if key == o.key {
		return overlayObject{bytes.NewReader(o.data)}, nil
	}
	return o.Store.Open(ctx, key, size)
}

func (o overlay) Stat(ctx context.Context, key string) (archive.ObjectInfo, error) {
	info, err := o.Store.Stat(ctx, key)
	if key == o.key {
		info.Size = int64(len(o.data))
	}
	return info, err
}

func (o overlay) List(ctx context.Context, prefix string, fn func(archive.ObjectInfo) error) error {
	return o.Store.List(ctx, prefix, func(info archive.ObjectInfo) error {
		if info.Key == o.key {
			info.Size = int64(len(o.data))
		}
		return fn(info)
	})
}

func (o overlay) Keys(ctx context.Context, prefix string, fn func(string, int64) error) error {
	return o.Store.Keys(ctx, prefix, func(key string, size int64) error {
		if key == o.key {
			size = int64(len(o.data))
		}
		return fn(key, size)
	})
}

type overlayObject struct{ *bytes.Reader }

func (overlayObject) Close() error { return nil }
