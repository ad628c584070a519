package archive

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/starmig/starmig/internal/testenv"
)

// TestObjectLockSmoke proves the test MinIO is the real thing the archive
// relies on: a bucket with Object Lock, an object in COMPLIANCE mode, and a
// refused delete of that object version.
func TestObjectLockSmoke(t *testing.T) {
	s3 := testenv.MinIO(t)
	ctx := context.Background()
	client, err := minio.New(s3.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s3.AccessKey, s3.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	bucket := testenv.Name("smoke-")
	if err := client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{ObjectLocking: true}); err != nil {
		t.Fatal(err)
	}
	enabled, _, _, _, err := client.GetObjectLockConfig(ctx, bucket)
	if err != nil || enabled != "Enabled" {
		t.Fatalf("object lock on new bucket: %q %v", enabled, err)
	}
	until := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	body := []byte("bundle bytes")
	info, err := client.PutObject(ctx, bucket, "b/bagit.txt", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{
		Mode: minio.Compliance, RetainUntilDate: until,
	})
	if err != nil {
		t.Fatal(err)
	}
	if info.VersionID == "" {
		t.Fatal("no version id: versioning is off")
	}
	mode, got, err := client.GetObjectRetention(ctx, bucket, "b/bagit.txt", info.VersionID)
	if err != nil {
		t.Fatal(err)
	}
	if mode == nil || *mode != minio.Compliance || got == nil || !got.Equal(until) {
		t.Fatalf("retention %v until %v, want COMPLIANCE until %v", mode, got, until)
	}
	err = client.RemoveObject(ctx, bucket, "b/bagit.txt", minio.RemoveObjectOptions{VersionID: info.VersionID})
	if err == nil {
		t.Fatal("deleting a COMPLIANCE-locked version succeeded")
	}
	if !strings.Contains(strings.ToLower(err.Error()), "retention") && !strings.Contains(strings.ToLower(err.Error()), "worm") {
		t.Errorf("delete refused for another reason: %v", err)
	}
	// Even the root user cannot shorten COMPLIANCE retention with governance bypass.
	err = client.RemoveObject(ctx, bucket, "b/bagit.txt", minio.RemoveObjectOptions{VersionID: info.VersionID, GovernanceBypass: true})
	if err == nil {
		t.Fatal("governance bypass deleted a COMPLIANCE-locked version")
	}
	obj, err := client.GetObject(ctx, bucket, "b/bagit.txt", minio.GetObjectOptions{VersionID: info.VersionID})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(obj); err != nil || !bytes.Equal(buf.Bytes(), body) {
		t.Fatalf("object after refused delete: %q %v", buf.Bytes(), err)
	}
}
