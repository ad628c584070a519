package archive

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/starmig/starmig/internal/testenv"
)

// bucket makes a fresh MinIO bucket, with Object Lock or without, and
// returns an S3Store on it and a client for the test's own checks.
func bucket(t testing.TB, lock bool) (*S3Store, *minio.Client) {
	t.Helper()
	s3 := testenv.MinIO(t)
	client, err := minio.New(s3.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s3.AccessKey, s3.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	name := testenv.Name("archive-")
	if err := client.MakeBucket(context.Background(), name, minio.MakeBucketOptions{ObjectLocking: lock}); err != nil {
		t.Fatal(err)
	}
	st, err := NewS3Store(S3Config{Endpoint: s3.Endpoint, AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, Bucket: name, Prefix: "star1"})
	if err != nil {
		t.Fatal(err)
	}
	return st, client
}

// farArchive is an archive of a 300-person STAR1 in a locked bucket, for
// tests of the link to the storage: through gives a reader of it over a
// proxy at addr.
type farArchive struct {
	st   *S3Store
	k    keys
	path string // the STAR1
	code string // a person with rows in many tables
}

// newFarArchive writes runs archive runs of one STAR1, a day apart.
func newFarArchive(t *testing.T, runs int) *farArchive {
	t.Helper()
	st, _ := bucket(t, true)
	f := &farArchive{st: st, k: testKeys(t), path: star1(t, 300)}
	cfg := small(config(st, f.k))
	for range runs {
		archiveSTAR1(t, f.path, cfg)
		cfg.Now, cfg.RetainUntil = cfg.Now.Add(24*time.Hour), cfg.RetainUntil.Add(24*time.Hour)
	}
	f.code = richPerson(t, f.path)
	return f
}

func (f *farArchive) through(t *testing.T, addr string) *Reader {
	t.Helper()
	s3 := testenv.MinIO(t)
	far, err := NewS3Store(S3Config{Endpoint: addr, AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, Bucket: f.st.cfg.Bucket, Prefix: "star1"})
	if err != nil {
		t.Fatal(err)
	}
	return NewReader(far, f.k.pub, f.k.identities, f.k.index)
}

func ed25519Verify(pub []byte, msg, sig []byte) bool { return ed25519.Verify(pub, msg, sig) }
