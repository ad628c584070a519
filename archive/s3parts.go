package archive

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/minio/minio-go/v7"
)

// defaultPartSize is the size of each part of an object that goes up in
// parts. A part whose connection breaks is sent again alone; over a long
// link that resets a connection every so many megabytes, a payload file
// (up to 32 MiB before compression, more for a large document) sent in
// one request would never get through. Each part costs one round trip
// more than one request would, hidden by the writer's parallel uploads;
// S3 takes parts of 5 MiB and up.
const defaultPartSize = 8 << 20

func (s *S3Store) parts() int64 {
	if s.partSize > 0 {
		return s.partSize
	}
	return defaultPartSize
}

func partCount(size, partSize int64) int64 { return (size + partSize - 1) / partSize }

// putInParts writes r as an upload in parts: the retention goes with the
// upload's start, each part is sent with its MD5 and tried again on its
// own, and the completion carries If-None-Match: * so that an existing
// key is never replaced. An upload that does not complete is abandoned
// (best effort: a bucket's rule for stale uploads removes what is left,
// see docs/archive.md).
func (s *S3Store) putInParts(ctx context.Context, key string, r io.ReadSeeker, ra io.ReaderAt, size int64, retainUntil time.Time) error {
	core := minio.Core{Client: s.client}
	full, ps := s.full(key), s.parts()
	count := partCount(size, ps)
	var id string
	err := s.tryAgain(ctx, func() error {
		var err error
		id, err = core.NewMultipartUpload(ctx, s.cfg.Bucket, full, minio.PutObjectOptions{
			Mode:            minio.Compliance,
			RetainUntilDate: retainUntil.UTC().Truncate(time.Second),
			ContentType:     "application/octet-stream",
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("archive: put %s: starting an upload in parts: %w", key, s.refused(err))
	}
	completed := false // by an answer to the completion
	defer func() {
		if !completed {
			s.abandon(ctx, full, id)
		}
	}()
	done := make([]minio.CompletePart, 0, count)
	for i := int64(1); i <= count; i++ {
		off := (i - 1) * ps
		n := min(ps, size-off)
		sum := md5.New()
		if _, err := io.Copy(sum, io.NewSectionReader(ra, off, n)); err != nil {
			return fmt.Errorf("archive: put %s: %w", key, err)
		}
		var part minio.ObjectPart
		err := s.tryAgain(ctx, func() error {
			var err error
			part, err = core.PutObjectPart(ctx, s.cfg.Bucket, full, id, int(i), io.NewSectionReader(ra, off, n), n,
				minio.PutObjectPartOptions{Md5Base64: base64.StdEncoding.EncodeToString(sum.Sum(nil))})
			return err
		})
		if err != nil {
			return fmt.Errorf("archive: put %s: part %d of %d: %w", key, i, count, s.refused(err))
		}
		done = append(done, minio.CompletePart{PartNumber: int(i), ETag: part.ETag})
	}
	cond := minio.PutObjectOptions{}
	cond.SetMatchETagExcept("*")
	t := s.tries()
	for {
		_, err := core.CompleteMultipartUpload(ctx, s.cfg.Bucket, full, id, done, cond)
		if err == nil {
			completed = true
			return s.checkPut(ctx, key, size)
		}
		code := minio.ToErrorResponse(err).Code
		if code != "PreconditionFailed" && code != "NoSuchUpload" && !transient(err) || ctx.Err() != nil {
			return fmt.Errorf("archive: put %s: completing the upload in parts: %w", key, s.refused(err))
		}
		// The key holds an object (PreconditionFailed), or an answer was
		// lost: the completion may have been made, by this ask or by one
		// of the client library's own retries, which then finds the
		// upload gone (NoSuchUpload). What the key holds tells.
		// An upload left open beside the key's object (PreconditionFailed)
		// is abandoned, as any whose completion was not answered.
		settled, err2 := s.settle(ctx, key, r, size)
		if settled {
			return err2
		}
		if code == "NoSuchUpload" && minio.ToErrorResponse(err2).Code == "NoSuchKey" {
			return fmt.Errorf("archive: put %s: the upload in parts is gone and the key holds nothing: %w", key, err)
		}
		if !t.again(ctx) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("archive: put %s: completing the upload in parts: %s: %w", key, t.gaveUp(), err)
		}
	}
}

// tryAgain runs ask, a request that can be sent again as it is, again
// while it fails for the network's or the server's sake (after the client
// library's own retries), as long as tries lets it.
func (s *S3Store) tryAgain(ctx context.Context, ask func() error) error {
	t := s.tries()
	for {
		err := ask()
		if err == nil || !transient(err) || ctx.Err() != nil {
			return err
		}
		if !t.again(ctx) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%s: %w", t.gaveUp(), err)
		}
	}
}

// tries starts the pacing of one write request.
func (s *S3Store) tries() tries {
	t := tries{wait: s.writeWait, unit: s.pause}
	if t.unit <= 0 {
		t.unit = 200 * time.Millisecond
	}
	return t
}

// tries paces the tries of one write request: after its n-th failure it
// waits n² × 0.2 s (n² units), at most 30 s, before the next. It gives up
// after five tries, or, with a wait set (S3Store.SetWriteWait), once the
// pauses would add up to more than the wait.
type tries struct {
	wait   time.Duration
	unit   time.Duration
	n      int
	waited time.Duration
}

// again waits before the next try and reports whether there is one.
func (t *tries) again(ctx context.Context) bool {
	t.n++
	d := min(time.Duration(t.n*t.n)*t.unit, 30*time.Second)
	if t.n >= 5 && t.waited+d > t.wait {
		return false
	}
	t.waited += d
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// gaveUp names how long a write kept asking.
func (t *tries) gaveUp() string {
	return fmt.Sprintf("gave up after %d attempts, %s of pauses", t.n, t.waited.Round(100*time.Millisecond))
}

// abandon asks the storage to drop the parts of an upload that will not
// complete. It is best effort: the run is failing already, and a bucket's
// rule for stale uploads removes what is left.
func (s *S3Store) abandon(ctx context.Context, full, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = minio.Core{Client: s.client}.AbortMultipartUpload(ctx, s.cfg.Bucket, full, id)
}

// partsETag is the ETag S3 gives an object uploaded in parts of partSize:
// the hex MD5 of the parts' MD5s, a dash and the number of parts.
func partsETag(ra io.ReaderAt, size, partSize int64) (string, error) {
	all := md5.New()
	for off := int64(0); off < size; off += partSize {
		h := md5.New()
		if _, err := io.Copy(h, io.NewSectionReader(ra, off, min(partSize, size-off))); err != nil {
			return "", err
		}
		all.Write(h.Sum(nil))
	}
	return fmt.Sprintf("%s-%d", hex.EncodeToString(all.Sum(nil)), partCount(size, partSize)), nil
}
