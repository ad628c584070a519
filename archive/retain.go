package archive

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
)

// A lock lasts as long as the retention the archive was written with. An
// archive that must be kept longer (a law that changed, STAR1 switched
// off with its last run's locks ending in some years) needs its locks
// lengthened before they end: COMPLIANCE mode lets a lock be lengthened,
// never shortened, by credentials with s3:PutObjectRetention, which the
// writer's have.

// ErrCannotLock is returned by Lengthen on a store that cannot lock.
var ErrCannotLock = errors.New("the store cannot lock objects")

// Retain locks the first version of key, what the archive wrote, in
// COMPLIANCE mode until until. The storage refuses to shorten a lock.
func (s *S3Store) Retain(ctx context.Context, key string, until time.Time) error {
	v, err := s.firstVersion(ctx, key)
	if err != nil {
		return err
	}
	mode := minio.Compliance
	until = until.UTC().Truncate(time.Second)
	err = askAgain(ctx, func() error {
		return s.client.PutObjectRetention(ctx, s.cfg.Bucket, s.full(key), minio.PutObjectRetentionOptions{
			Mode: &mode, RetainUntilDate: &until, VersionID: v,
		})
	})
	if err != nil {
		return s.wrap(key, err)
	}
	return nil
}

// retainer is a store that can lengthen the lock of an object it holds.
type retainer interface {
	Retain(ctx context.Context, key string, until time.Time) error
}

// LengthenResult says what Lengthen did.
type LengthenResult struct {
	Until      time.Time `json:"until"`
	Objects    int       `json:"objects"`    // objects under the prefixes
	Lengthened int       `json:"lengthened"` // locked until an earlier date, or not at all, before
	// Later are the objects locked until a later date already, which
	// stay so.
	Later int `json:"later"`
	// Governance are the keys of objects locked in GOVERNANCE mode,
	// which no archive writer makes: such a lock is changed to COMPLIANCE
	// only with the right to bypass it, which no role of the archive
	// has. They are left as they are, and verify reports them.
	Governance []string `json:"governance"`
}

// lengthenAtOnce is how many locks Lengthen sets at once: one round trip
// each, which a long link makes slow one after another.
const lengthenAtOnce = 16

// ArchivePrefixes are the folders of an archive's objects: its runs and
// its audit log. Whatever else a bucket holds beside them is another's.
var ArchivePrefixes = []string{BatchesPrefix, AuditPrefix}

// Lengthen locks every object under the prefixes in COMPLIANCE mode until
// at least until: those locked until an earlier date, or not locked, are
// locked until then; those locked longer stay as they are, and so do
// those in GOVERNANCE mode (Governance). progress, when set, is called
// with the objects done so far. A foreign object under the prefixes is
// locked too, which harms nothing and is reported by verify as before.
func Lengthen(ctx context.Context, st Store, prefixes []string, until time.Time, progress func(done, total int)) (LengthenResult, error) {
	res := LengthenResult{Until: until.UTC().Truncate(time.Second), Governance: []string{}}
	r, ok := st.(retainer)
	if !st.Locks() || !ok {
		return res, fmt.Errorf("archive: %s: %w: nothing to lengthen", st, ErrCannotLock)
	}
	var short []string
	for _, prefix := range prefixes {
		if err := st.List(ctx, prefix, func(info ObjectInfo) error {
			res.Objects++
			switch {
			case info.Mode == string(minio.Compliance) && !info.RetainUntil.Before(res.Until):
				res.Later++
				return nil
			case info.Mode == string(minio.Governance):
				res.Governance = append(res.Governance, info.Key)
				return nil
			}
			short = append(short, info.Key)
			return nil
		}); err != nil {
			return res, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		first error
		done  int
		wg    sync.WaitGroup
	)
	keys := make(chan string)
	for range min(lengthenAtOnce, len(short)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range keys {
				err := r.Retain(ctx, k, res.Until)
				mu.Lock()
				if err != nil && first == nil {
					first = err
					cancel()
				}
				if err == nil {
					done++
					res.Lengthened++
					if progress != nil {
						progress(done, len(short))
					}
				}
				mu.Unlock()
			}
		}()
	}
	for _, k := range short {
		select {
		case keys <- k:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(keys)
	wg.Wait()
	if first != nil {
		return res, first
	}
	return res, ctx.Err()
}
