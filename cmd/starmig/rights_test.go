package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/starmig/starmig/internal/testenv"
)

// TestStorageRightsByRole runs each role's commands on MinIO with the
// storage rights the documentation gives that role, and no more: the
// writer archives without any right to delete, the archivist retrieves and
// restores, writing only audit entries, and the operator verifies with
// read-only rights. Each is then refused what it must not do.
func TestStorageRightsByRole(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 150, 6)
	keys := genKeys(t, dir)
	to := s3Bucket(t, true)                 // root's variables, replaced below
	bucket := strings.SplitN(to, "/", 4)[2] // s3://BUCKET/star1
	s3 := testenv.MinIO(t)

	// as sets the STARMIG_S3_* variables to a session with the rights of
	// the named policy, and returns a client with the same rights.
	as := func(t *testing.T, doc, name string) *minio.Client {
		ak, sk, token := testenv.MinIOSession(t, testenv.DocPolicy(t, doc, name, bucket))
		t.Setenv("STARMIG_S3_ACCESS_KEY", ak)
		t.Setenv("STARMIG_S3_SECRET_KEY", sk)
		t.Setenv("STARMIG_S3_SESSION_TOKEN", token)
		client, err := minio.New(s3.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(ak, sk, token)})
		if err != nil {
			t.Fatal(err)
		}
		return client
	}
	refused := func(t *testing.T, what string, err error) {
		t.Helper()
		if err == nil || minio.ToErrorResponse(err).Code != "AccessDenied" {
			t.Errorf("%s: %v, want AccessDenied", what, err)
		}
	}
	anyKey := func(t *testing.T, client *minio.Client) minio.ObjectInfo {
		t.Helper()
		lctx, cancel := context.WithCancel(ctx)
		defer cancel() // ends the listing after its first object
		o, ok := <-client.ListObjects(lctx, bucket, minio.ListObjectsOptions{Recursive: true, WithVersions: true})
		switch {
		case !ok:
			t.Fatal("the bucket is empty")
		case o.Err != nil:
			t.Fatal(o.Err)
		}
		return o
	}

	t.Run("writer", func(t *testing.T) {
		client := as(t, "../../docs/archive.md", "writer-policy.json")
		if code, _, stderr := run(t, ctx, "archive", "--source", "sqlite:"+db, "--to", to, "--batch", "all", "--keys", keys, "-q"); code != 0 {
			t.Fatalf("archive with the writer's rights: exit %d: %s", code, stderr)
		}
		if code, _, stderr := run(t, ctx, "retain", "--archive", to, "--retention", "20y", "-q"); code != 0 {
			t.Errorf("retain with the writer's rights: exit %d: %s", code, stderr)
		}
		// An upload in parts is started, sent and abandoned with the
		// writer's rights.
		core := minio.Core{Client: client}
		id, err := core.NewMultipartUpload(ctx, bucket, "star1/rights/parts", minio.PutObjectOptions{
			Mode: minio.Compliance, RetainUntilDate: time.Now().Add(time.Hour).UTC().Truncate(time.Second)})
		if err != nil {
			t.Fatalf("writer starts an upload in parts: %v", err)
		}
		if _, err := core.PutObjectPart(ctx, bucket, "star1/rights/parts", id, 1, strings.NewReader("part"), 4, minio.PutObjectPartOptions{}); err != nil {
			t.Errorf("writer sends a part: %v", err)
		}
		if err := core.AbortMultipartUpload(ctx, bucket, "star1/rights/parts", id); err != nil {
			t.Errorf("writer abandons an upload in parts: %v", err)
		}
		o := anyKey(t, client)
		refused(t, "writer deletes a version", client.RemoveObject(ctx, bucket, o.Key, minio.RemoveObjectOptions{VersionID: o.VersionID}))
		refused(t, "writer puts a delete marker", client.RemoveObject(ctx, bucket, o.Key, minio.RemoveObjectOptions{}))
		refused(t, "writer unlocks the bucket", client.SetBucketVersioning(ctx, bucket, minio.BucketVersioningConfiguration{Status: "Suspended"}))
	})

	t.Run("archivist", func(t *testing.T) {
		client := as(t, "../../docs/archive.md", "archivist-policy.json")
		code, out, stderr := run(t, ctx, "retrieve", "--archive", to, "--keys", keys, "--person", firstCode(t, db),
			"--reason", "rights test", "--operator", "archivist-2", "--out", filepath.Join(dir, "r"))
		if code != 0 || strings.Contains(out, "holds no rows") {
			t.Fatalf("retrieve with the archivist's rights: exit %d: %s %s", code, out, stderr)
		}
		restoreTo := testenv.Postgres(t)
		if code, _, stderr := run(t, ctx, "restore", "--archive", to, "--keys", keys, "--to", restoreTo, "-q"); code != 0 {
			t.Fatalf("restore with the archivist's rights: exit %d: %s", code, stderr)
		}
		audits := 0
		for o := range client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true, Prefix: "star1/audit/"}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			audits++
		}
		if audits < 2 {
			t.Errorf("%d audit entries after a retrieval and a restore, want 2", audits)
		}
		o := anyKey(t, client)
		_, err := client.PutObject(ctx, bucket, "star1/batches/forged", strings.NewReader("x"), 1, minio.PutObjectOptions{})
		refused(t, "archivist writes outside the audit", err)
		refused(t, "archivist deletes", client.RemoveObject(ctx, bucket, o.Key, minio.RemoveObjectOptions{VersionID: o.VersionID}))
	})

	t.Run("operator", func(t *testing.T) {
		client := as(t, "../../docs/runbook-operators.md", "verify-policy.json")
		pub := filepath.Join(dir, "operator-signing.pub")
		b, err := os.ReadFile(filepath.Join(keys, "signing.pub"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(pub, b, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, level := range []string{"list", "sample", "full"} {
			code, out, stderr := run(t, ctx, "verify", "--archive", to, "--sign-pub", pub, "--level", level)
			if code != 0 || !strings.Contains(out, "No findings") {
				t.Errorf("verify %s with the operator's rights: exit %d: %s %s", level, code, out, stderr)
			}
		}
		// The same credentials from a profile of a credentials file, as the
		// AWS command line keeps them, and none in the environment.
		creds := filepath.Join(dir, "operator-credentials")
		access, secret, token := os.Getenv("STARMIG_S3_ACCESS_KEY"), os.Getenv("STARMIG_S3_SECRET_KEY"), os.Getenv("STARMIG_S3_SESSION_TOKEN")
		profile := "[host-site]\naws_access_key_id = " + access + "\naws_secret_access_key = " + secret + "\naws_session_token = " + token + "\n"
		if err := os.WriteFile(creds, []byte(profile), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{"STARMIG_S3_ACCESS_KEY", "STARMIG_S3_SECRET_KEY", "STARMIG_S3_SESSION_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
			t.Setenv(v, "")
		}
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
		t.Setenv("AWS_PROFILE", "host-site")
		if code, out, stderr := run(t, ctx, "verify", "--archive", to, "--sign-pub", pub); code != 0 || !strings.Contains(out, "No findings") {
			t.Errorf("verify with the operator's credentials in a profile: exit %d: %s %s", code, out, stderr)
		}
		// The same credentials printed by a credential_process of a
		// profile of the config file (a site's vault, or the AWS command
		// line's own export-credentials), which starmig runs itself.
		printed, err := json.Marshal(map[string]any{"Version": 1, "AccessKeyId": access, "SecretAccessKey": secret, "SessionToken": token, "Expiration": "2099-01-01T00:00:00Z"})
		if err != nil {
			t.Fatal(err)
		}
		vault := filepath.Join(dir, "vault.json")
		if err := os.WriteFile(vault, printed, 0o600); err != nil {
			t.Fatal(err)
		}
		config := filepath.Join(dir, "operator-config")
		if err := os.WriteFile(config, []byte("[profile host-vault]\ncredential_process = cat "+vault+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("AWS_CONFIG_FILE", config)
		t.Setenv("AWS_PROFILE", "host-vault")
		if code, out, stderr := run(t, ctx, "verify", "--archive", to, "--sign-pub", pub, "--level", "sample", "--sample", "20"); code != 0 || !strings.Contains(out, "No findings") {
			t.Errorf("verify with the operator's credentials from a credential_process: exit %d: %s %s", code, out, stderr)
		}
		// Everything the storage needs in one profile of the config file,
		// as the AWS command line keeps it: the endpoint too, in the s3
		// settings of the services the profile names, and nothing of the
		// storage in the environment.
		endpoint := os.Getenv("STARMIG_S3_ENDPOINT")
		for _, v := range []string{"STARMIG_S3_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"} {
			t.Setenv(v, "")
		}
		all := "[profile host-all]\nregion = us-east-1\nservices = host-site\naws_access_key_id = " + access + "\naws_secret_access_key = " + secret +
			"\naws_session_token = " + token + "\n\n[services host-site]\ns3 =\n  endpoint_url = " + endpoint + "\n"
		if err := os.WriteFile(config, []byte(all), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("AWS_PROFILE", "host-all")
		if code, out, stderr := run(t, ctx, "verify", "--archive", to, "--sign-pub", pub); code != 0 || !strings.Contains(out, "No findings") {
			t.Errorf("verify with the endpoint and the credentials in a profile: exit %d: %s %s", code, out, stderr)
		}
		t.Setenv("STARMIG_S3_ENDPOINT", endpoint)

		t.Setenv("AWS_PROFILE", "elsewhere")
		if code, _, stderr := run(t, ctx, "verify", "--archive", to, "--sign-pub", pub); code != exitUsage || !strings.Contains(stderr, `profile "elsewhere" in `+creds) {
			t.Errorf("verify with a profile the file lacks: exit %d: %s", code, stderr)
		}

		o := anyKey(t, client)
		_, err = client.PutObject(ctx, bucket, "star1/audit/forged", strings.NewReader("x"), 1, minio.PutObjectOptions{})
		refused(t, "operator writes", err)
		refused(t, "operator deletes", client.RemoveObject(ctx, bucket, o.Key, minio.RemoveObjectOptions{VersionID: o.VersionID}))
	})

	// A command run with another role's credentials is refused by the
	// storage; starmig says that each role has credentials of its own, not
	// only the storage's "Access Denied.".
	t.Run("wrong role", func(t *testing.T) {
		for _, c := range []struct {
			doc, policy string
			args        []string
		}{
			{"../../docs/runbook-operators.md", "verify-policy.json",
				[]string{"archive", "--source", "sqlite:" + db, "--to", to, "--batch", "again", "--keys", keys, "-q"}},
			{"../../docs/runbook-operators.md", "verify-policy.json",
				[]string{"retrieve", "--archive", to, "--keys", keys, "--person", firstCode(t, db), "--reason", "rights test", "--out", filepath.Join(dir, "r2")}},
			{"../../docs/archive.md", "archivist-policy.json",
				[]string{"archive", "--source", "sqlite:" + db, "--to", to, "--batch", "again", "--keys", keys, "-q"}},
			{"../../docs/runbook-operators.md", "verify-policy.json",
				[]string{"retain", "--archive", to, "--retention", "30y", "-q"}},
		} {
			as(t, c.doc, c.policy)
			code, _, stderr := run(t, ctx, c.args...)
			if code != 1 || !strings.Contains(stderr, "Access Denied") || !strings.Contains(stderr, "each role has credentials of its own") {
				t.Errorf("%s with %s: exit %d, want 1 saying the role's credentials are wrong: %s", c.args[0], c.policy, code, stderr)
			}
		}
	})
}
