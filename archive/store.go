package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/starmig/starmig/internal/fileurl"
	"github.com/starmig/starmig/internal/secret"
)

// Store is where the archive lives: a flat namespace of keys such as
// "batch/run/bundle/data/x" naming immutable objects.
//
// The contract every backend keeps, and the shared suite in store_test.go
// checks:
//
//   - Put writes a new object of exactly size bytes read from r. It never
//     replaces an object: when the key already holds other bytes, Put
//     returns an error wrapping ErrExists and the existing object stays as
//     it was; when it holds these very bytes, Put succeeds without writing,
//     so that a write whose answer was lost can be retried. Put checks
//     after writing that the key holds one object of the size written. Where
//     the storage can lock (Locks), the object is locked in COMPLIANCE mode
//     until retainUntil. Put may read r more than once (after Seek to 0) to
//     retry a transient failure.
//   - Get streams an object from its start; Open gives random access for
//     reads of a few ranges. Where a key can hold several versions, every
//     method reads and describes its first: what the archive wrote, not
//     what anyone wrote over it later. Both return an error wrapping ErrNotExist for a
//     missing key. Open is given the object's size when the caller knows it
//     (from a signed catalog), and -1 otherwise; with a size it may skip
//     asking the store, and a missing key then shows at the first ReadAt,
//     as an error wrapping ErrNotExist. A read whose connection breaks in
//     the middle goes on from where it broke, where the storage is
//     reached over a network, and so does a listing: only a storage that
//     stays out of reach is an error.
//   - Stat and List describe objects without reading them: size, the
//     number of versions of the key, lock mode and retain-until date, and
//     when the store wrote the key, by the store's own clock. List
//     visits every key under a prefix once, in no promised order.
//   - Keys visits the same keys as List, with their sizes and nothing else:
//     on S3 it is one listing, where List also asks each key's retention,
//     a round trip per key. Readers that need no lock metadata use it.
//   - Dirs visits, once each and in no promised order, the names of the
//     folders directly under a prefix that ends in "/": the next part of
//     every key beneath it with a "/" after it, without the keys. On S3 it
//     is a listing with a delimiter, whose length does not grow with the
//     keys beneath; finding an archive's runs this way costs the same
//     however many objects each run holds.
//   - Any other error means the storage could not be asked (unreachable,
//     refused credentials): never "missing".
//   - No method deletes; a writer needs no delete permission.
type Store interface {
	Put(ctx context.Context, key string, r io.ReadSeeker, size int64, retainUntil time.Time) error
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	Open(ctx context.Context, key string, size int64) (Object, error)
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error
	Keys(ctx context.Context, prefix string, fn func(key string, size int64) error) error
	Dirs(ctx context.Context, prefix string, fn func(name string) error) error
	// CheckWritable returns nil when the store can take an archive: on S3,
	// the bucket exists and has Object Lock enabled.
	CheckWritable(ctx context.Context) error
	// Locks reports whether objects are locked against deletion; the local
	// folder store cannot lock.
	Locks() bool
	// String names the store without credentials.
	String() string
}

// Object is one stored object opened for random access.
type Object interface {
	io.ReaderAt
	Size() int64
	Close() error
}

// ObjectInfo describes one key of a store.
type ObjectInfo struct {
	Key         string
	Size        int64
	Versions    int       // versions of the key (1 on a store without versioning)
	Mode        string    // "COMPLIANCE", "GOVERNANCE", or "" when not locked
	RetainUntil time.Time // zero when not locked
	// Modified is when the store wrote the key's first version, by the
	// store's clock (on a folder, the file's modification time).
	Modified time.Time
}

var (
	// ErrExists is returned by Put for a key that is already written.
	ErrExists = errors.New("object already exists")
	// ErrNotExist is returned for a key that is not in the store.
	ErrNotExist = errors.New("object does not exist")
	// ErrNoLock is returned by CheckWritable for a bucket without Object Lock.
	ErrNoLock = errors.New("bucket has no Object Lock")
)

// learner is a store whose readers learn from listings what they read:
// on S3, each key's first version (S3Store.Learn).
type learner interface {
	Learn(ctx context.Context, prefix string) error
}

// learn lists a folder of st for its readers, where the store needs it
// and no listing of the folder has ended; on other stores it does nothing.
// Its error is the storage's: a reader that leaves out what it cannot
// read must not take a link that went down for damage.
func learn(ctx context.Context, st Store, prefix string) error {
	if l, ok := st.(learner); ok {
		return fromStore(l.Learn(ctx, prefix))
	}
	return nil
}

// dirPrefix refuses a prefix of Dirs that is not a folder's.
func dirPrefix(prefix string) error {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		return fmt.Errorf("archive: folders under %q: a folder's prefix ends in /", prefix)
	}
	return nil
}

// checkLength refuses a body whose length is not the size announced.
func checkLength(r io.Seeker, size int64) error {
	n, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("body of %d bytes, %d announced", n, size)
	}
	return nil
}

// OpenStore opens a store from its URL: file:///path for a local folder,
// s3://bucket/prefix for object storage configured by env (S3Config).
func OpenStore(raw string, env func(string) string) (Store, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes the URL whole, password and all.
		return nil, fmt.Errorf("archive: store URL %q: %v", secret.RedactURL(raw), errors.Unwrap(err))
	}
	if i := strings.IndexAny(raw, "#?"); i >= 0 && (u.Scheme == "file" || u.Scheme == "s3") {
		// A URL's path ends at # or ?: the rest would be dropped, and the
		// archive written to or read from another place.
		return nil, fmt.Errorf("archive: store URL %q: a URL's path ends at # or ?, so %q would be left out of the %s; write # as %%23 and ? as %%3F in a name",
			secret.RedactURL(raw), raw[i:], map[string]string{"file": "folder", "s3": "prefix"}[u.Scheme])
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("archive: store URL %q: a file URL names a local folder, file:///path", secret.RedactURL(raw))
		}
		if u.Path == "" {
			return nil, fmt.Errorf("archive: store URL %q has no folder", secret.RedactURL(raw))
		}
		return NewFileStore(fileurl.ToPath(u))
	case "s3":
		if u.Host == "" {
			return nil, fmt.Errorf("archive: store URL %q has no bucket: want s3://bucket/prefix", secret.RedactURL(raw))
		}
		cfg, err := S3ConfigFromEnv(env)
		if err != nil {
			return nil, err
		}
		cfg.Bucket = u.Host
		cfg.Prefix = strings.Trim(u.Path, "/")
		return NewS3Store(cfg)
	default:
		return nil, fmt.Errorf("archive: store URL %q: want file:///path or s3://bucket/prefix%s", secret.RedactURL(raw), localFolder(u))
	}
}

// localFolder is the hint for a store URL with no scheme that names a
// local folder (starmig-demo/archive): its file URL, "" for anything
// else. The folder is not taken as meant: a bucket's name given without
// s3:// would otherwise start an archive on the local disk.
func localFolder(u *url.URL) string {
	if u.Scheme != "" || u.Host != "" || u.Path == "" {
		return ""
	}
	abs, err := filepath.Abs(u.Path)
	if err != nil {
		return ""
	}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return ""
	}
	return "; the local folder " + u.Path + " is " + fileurl.FromAbs(abs).String()
}

// sameBytes reports whether stored holds exactly the size bytes that r
// holds from its start: how a Put that meets an existing key tells a
// retried write from an overwrite. An error, of reading either, says that
// it could not tell.
func sameBytes(stored io.Reader, r io.ReadSeeker, size int64) (bool, error) {
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return false, err
	}
	a, b := sha256.New(), sha256.New()
	if _, err := io.Copy(a, stored); err != nil {
		return false, err
	}
	n, err := io.Copy(b, r)
	if err != nil {
		return false, err
	}
	return n == size && bytes.Equal(a.Sum(nil), b.Sum(nil)), nil
}
