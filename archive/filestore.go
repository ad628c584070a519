package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/starmig/starmig/internal/faultpoint"
	"github.com/starmig/starmig/internal/fileurl"
	"github.com/starmig/starmig/internal/pathcheck"
)

// FileStore is a Store in a local folder, for development and the demo.
// It cannot lock: objects are written read-only and never replaced, but
// anyone with rights on the folder can delete them, and verification says
// so.
type FileStore struct {
	root  string
	named bool // temporary files with names even where nameless ones can be made (tests)
}

const fileTmp = ".starmig-tmp"

// NewFileStore opens (and creates) the folder root as a store.
func NewFileStore(root string) (*FileStore, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("archive: store folder %s: %w", root, err)
	}
	return &FileStore{root: abs}, nil
}

// String is the folder's file:/// URL, escaped, so that it can be given
// to the next command as it is.
func (s *FileStore) String() string { return fileurl.FromAbs(s.root).String() }

// up is the store n folders above this one: the folder of the archive
// that a URL pointing inside it belongs to.
func (s *FileStore) up(n int) Store {
	root := s.root
	for range n {
		root = filepath.Dir(root)
	}
	return &FileStore{root: root, named: s.named}
}

// folders is the path of the store's folder, / between folders.
func (s *FileStore) folders() string { return filepath.ToSlash(s.root) }

// Locks is false: a folder cannot refuse a delete.
func (s *FileStore) Locks() bool { return false }

// CheckWritable creates the folder if it is missing.
func (s *FileStore) CheckWritable(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Join(s.root, fileTmp), 0o755); err != nil {
		if err := s.checkRoot(); err != nil {
			return err
		}
		return fmt.Errorf("archive: store folder %s: %w", s.root, err)
	}
	return nil
}

// checkRoot names the store's folder once when it is not there to read:
// readers never create it.
func (s *FileStore) checkRoot() error {
	fi, err := os.Stat(s.root)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("archive: store folder %s does not exist", s.root)
	}
	switch {
	case err != nil:
		return fmt.Errorf("archive: store folder %s: %w", s.root, pathcheck.Reason(s.root, err))
	case !fi.IsDir():
		return fmt.Errorf("archive: store folder %s is a file, not a folder", s.root)
	}
	return nil
}

func (s *FileStore) path(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") {
		return "", fmt.Errorf("archive: invalid key %q", key)
	}
	for _, part := range strings.Split(key, "/") {
		if part == "" || part == "." || part == ".." || part == fileTmp {
			return "", fmt.Errorf("archive: invalid key %q", key)
		}
	}
	return filepath.Join(s.root, filepath.FromSlash(key)), nil
}

// Put writes the object to a temporary file, syncs it, makes it read-only
// and links it into place; the link fails when the key exists, so an
// object is never replaced, not even by a concurrent writer. Where the
// system allows (Linux), the temporary file has no name until it is
// linked, so a writer killed half-way leaves nothing behind.
func (s *FileStore) Put(ctx context.Context, key string, r io.ReadSeeker, size int64, _ time.Time) error {
	final, err := s.path(key)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(final); err == nil {
		return s.exists(key, final, r, size)
	}
	if err := s.CheckWritable(ctx); err != nil {
		return err
	}
	err = errNoNameless
	if !s.named {
		err = s.put(key, final, r, size, true)
	}
	if errors.Is(err, errNoNameless) {
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("archive: put %s: %w", key, err)
		}
		err = s.put(key, final, r, size, false)
	}
	return s.full(err)
}

// full says what to do when the store's folder has no room left: the
// system's error names a file that has no name there (Linux) or the
// temporary one, not the archive.
func (s *FileStore) full(err error) error {
	return noRoom(err, fmt.Sprintf("the archive folder %s has no room left; make room on its disk, or copy the archive to a larger one, and run the command again (an archive run stopped so is completed by the next run, which accounts for its objects)", s.root))
}

// errNoNameless: the system cannot make a file without a name, or cannot
// link one.
var errNoNameless = errors.New("no nameless files here")

func (s *FileStore) put(key, final string, r io.ReadSeeker, size int64, nameless bool) error {
	dir := filepath.Join(s.root, fileTmp)
	var tmp *os.File
	var err error
	if nameless {
		tmp, err = createNameless(dir)
	} else {
		tmp, err = os.CreateTemp(dir, "put-*")
	}
	if err != nil {
		if errors.Is(err, errNoNameless) {
			return err
		}
		return fmt.Errorf("archive: put %s: %w", key, err)
	}
	defer func() {
		tmp.Close()
		if !nameless {
			os.Remove(tmp.Name())
		}
	}()
	n, err := io.Copy(tmp, r)
	faultpoint.Hit("archive-put") // written, not yet under its key
	if err == nil && n != size {
		err = fmt.Errorf("read %d bytes, want %d", n, size)
	}
	if err == nil {
		err = tmp.Chmod(0o444)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if err == nil {
		err = os.MkdirAll(filepath.Dir(final), 0o755)
	}
	if err != nil {
		return fmt.Errorf("archive: put %s: %w", key, err)
	}
	if nameless {
		err = linkNameless(tmp, final)
	} else {
		err = os.Link(tmp.Name(), final)
	}
	if err != nil {
		if errors.Is(err, errNoNameless) {
			return err
		}
		if errors.Is(err, fs.ErrExist) {
			return s.exists(key, final, r, size)
		}
		return fmt.Errorf("archive: put %s: %w", key, err)
	}
	if fi, err := os.Stat(final); err != nil || fi.Size() != size {
		return fmt.Errorf("archive: put %s: the stored object is not the one written", key)
	}
	return nil
}

// exists answers a Put of a key that is there already: nil when it holds
// the very bytes of r, so that a retried write is not refused, and
// ErrExists otherwise.
func (s *FileStore) exists(key, final string, r io.ReadSeeker, size int64) error {
	refused := fmt.Errorf("archive: put %s: %w", key, ErrExists)
	f, err := os.Open(final)
	if err != nil {
		return refused
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() != size {
		return refused
	}
	same, err := sameBytes(f, r, size)
	switch {
	case err != nil:
		return fmt.Errorf("archive: put %s: comparing with the object there: %w", key, err)
	case !same:
		return refused
	}
	return nil
}

func notExist(key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("archive: %s: %w", key, ErrNotExist)
	}
	return fmt.Errorf("archive: %s: %w", key, err)
}

func (s *FileStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, notExist(key, err)
	}
	return f, nil
}

type fileObject struct {
	*os.File
	size int64
}

func (o fileObject) Size() int64 { return o.size }

// Open asks the folder even when the size is known: it costs nothing.
func (s *FileStore) Open(ctx context.Context, key string, _ int64) (Object, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, notExist(key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, notExist(key, err)
	}
	return fileObject{f, fi.Size()}, nil
}

func (s *FileStore) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	p, err := s.path(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return ObjectInfo{}, notExist(key, err)
	}
	if fi.IsDir() {
		return ObjectInfo{}, fmt.Errorf("archive: %s: %w", key, ErrNotExist)
	}
	return ObjectInfo{Key: key, Size: fi.Size(), Versions: 1, Modified: fi.ModTime().UTC()}, nil
}

func (s *FileStore) Keys(ctx context.Context, prefix string, fn func(string, int64) error) error {
	return s.List(ctx, prefix, func(o ObjectInfo) error { return fn(o.Key, o.Size) })
}

func (s *FileStore) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	if err := s.checkRoot(); err != nil {
		return err
	}
	// Walk from the deepest folder the prefix names.
	start := s.root
	if i := strings.LastIndex(prefix, "/"); i > 0 {
		start = filepath.Join(s.root, filepath.FromSlash(prefix[:i]))
	}
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			if d.Name() == fileTmp {
				return filepath.SkipDir
			}
			// A folder beside the prefix (the bundles of a run, when the
			// prefix is its catalog) holds no key under it.
			if dir := key + "/"; p != start && !strings.HasPrefix(dir, prefix) && !strings.HasPrefix(prefix, dir) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(ObjectInfo{Key: key, Size: fi.Size(), Versions: 1, Modified: fi.ModTime().UTC()})
	})
	if err != nil {
		return fmt.Errorf("archive: list %s: %w", prefix, err)
	}
	return nil
}

// Dirs reads the one folder the prefix names. A folder with no file
// beneath it holds no key, and is not visited.
func (s *FileStore) Dirs(ctx context.Context, prefix string, fn func(string) error) error {
	if err := dirPrefix(prefix); err != nil {
		return err
	}
	if err := s.checkRoot(); err != nil {
		return err
	}
	dir := filepath.Join(s.root, filepath.FromSlash(prefix))
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("archive: list %s: %w", prefix, err)
	}
	for _, e := range entries {
		if !e.IsDir() || e.Name() == fileTmp {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !holdsFile(filepath.Join(dir, e.Name())) {
			continue
		}
		if err := fn(e.Name()); err != nil {
			return err
		}
	}
	return nil
}

// holdsFile reports whether a file lies anywhere beneath dir.
func holdsFile(dir string) bool {
	found := errors.New("found")
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			return found
		}
		return nil
	})
	return err == found
}
