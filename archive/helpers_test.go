package archive

import (
	"context"
	"crypto/ed25519"
	"testing"

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

func ed25519Verify(pub []byte, msg, sig []byte) bool { return ed25519.Verify(pub, msg, sig) }
