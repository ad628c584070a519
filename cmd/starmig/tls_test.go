package main

import (
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/starmig/starmig/internal/testenv"
)

// TestStorageBehindAPrivateCA: a storage that serves https with a
// certificate of the site's own CA is written, retrieved from and
// verified with STARMIG_S3_CA_FILE naming that CA, the endpoint given
// with https:// or without a scheme. Without the CA file, by another
// name than the certificate's, or with the certificate expired, the
// command stops with exit 1 and says what to do.
func TestStorageBehindAPrivateCA(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 60, 8)
	keys := genKeys(t, dir)
	to := s3Bucket(t, true)
	addr, ca := testenv.TLSFront(t, testenv.MinIO(t).Endpoint)

	t.Setenv("STARMIG_S3_ENDPOINT", "https://"+addr)
	t.Setenv("STARMIG_S3_CA_FILE", ca)
	if code, _, stderr := run(t, ctx, "archive", "--source", "sqlite:"+db, "--to", to, "--batch", "all", "--keys", keys, "-q"); code != 0 {
		t.Fatalf("archive over https: exit %d: %s", code, stderr)
	}
	t.Setenv("STARMIG_S3_ENDPOINT", addr) // https is the default
	if code, out, stderr := run(t, ctx, "verify", "--archive", to, "--sign-pub", filepath.Join(keys, "signing.pub"), "--level", "full"); code != 0 || !strings.Contains(out, "No findings") {
		t.Errorf("verify over https: exit %d: %s %s", code, out, stderr)
	}
	if code, _, stderr := run(t, ctx, "retrieve", "--archive", to, "--keys", keys, "--isik-id", "1", "--reason", "tls test", "--out", filepath.Join(dir, "r")); code != 0 {
		t.Errorf("retrieve over https: exit %d: %s", code, stderr)
	}

	// The certificate is for 127.0.0.1, not for localhost.
	t.Setenv("STARMIG_S3_ENDPOINT", "localhost:"+strings.Split(addr, ":")[1])
	code, _, stderr := run(t, ctx, "verify", "--archive", to, "--sign-pub", filepath.Join(keys, "signing.pub"))
	if code != exitError || !strings.Contains(stderr, "by a name its certificate is for") {
		t.Errorf("verify by another name: exit %d: %s; want exit 1 saying to give the certificate's name", code, stderr)
	}

	// A certificate of the same storage that nobody renewed.
	expired, expiredCA := testenv.ExpiredTLSFront(t, testenv.MinIO(t).Endpoint)
	t.Setenv("STARMIG_S3_ENDPOINT", expired)
	t.Setenv("STARMIG_S3_CA_FILE", expiredCA)
	code, _, stderr = run(t, ctx, "verify", "--archive", to, "--sign-pub", filepath.Join(keys, "signing.pub"))
	if code != exitError || !strings.Contains(stderr, "the storage's certificate has expired") || strings.Contains(stderr, "missing") {
		t.Errorf("verify, the storage's certificate expired: exit %d: %s; want exit 1 saying so", code, stderr)
	}

	t.Setenv("STARMIG_S3_ENDPOINT", addr)
	t.Setenv("STARMIG_S3_CA_FILE", "")
	code, _, stderr = run(t, ctx, "verify", "--archive", to, "--sign-pub", filepath.Join(keys, "signing.pub"))
	if code != exitError || !strings.Contains(stderr, "set STARMIG_S3_CA_FILE (or AWS_CA_BUNDLE) to that CA's certificate") {
		t.Errorf("verify without the CA: exit %d: %s; want exit 1 naming STARMIG_S3_CA_FILE", code, stderr)
	}
}

// TestSTAR2OverTLSWithAClientCertificate: a STAR2 that takes the
// migration's role only over TLS, with a certificate of the site's own CA,
// and lets it in by a client certificate, as a production server may.
// Every command that reads or writes PostgreSQL works with the URL's
// sslmode=verify-full, sslrootcert, sslcert and sslkey: schema apply, a
// batch, the deep reconciliation, status, resolve, a restore, a restore
// drill, and a batch from the restored STAR1. Without the CA, by another
// name than the certificate's, without the client's certificate, or
// without TLS, a command stops with exit 1 and says what the URL needs;
// so it does with a client certificate that expired or that another CA
// signed, and with the server's certificate expired. A client key that
// others may read stops it with exit 2, as psql refuses it.
func TestSTAR2OverTLSWithAClientCertificate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, keys, to := folderArchive(t, dir, 60, 21)
	pg := testenv.PostgresTLS(t)
	target := pg.URL(nil)
	for _, args := range postgresCommands(dir, db, keys, to, target, target+"&schema=star1_archive") {
		if code, _, stderr := run(t, ctx, append(args, "-q")...); code != 0 {
			t.Fatalf("%s over TLS: exit %d: %s", args[0], code, stderr)
		}
	}
	// A certificate the server refuses may be told by its alert, or by
	// the connection closed at the start (pgsession.closedAtStart).
	const closed = "it refused the one given (sslcert"
	for _, c := range []struct {
		name, url, want string
	}{
		{"without the CA", pg.URL(url.Values{"sslmode": {"verify-full"}, "sslcert": {pg.CertFile}, "sslkey": {pg.KeyFile}}), "sslrootcert=/path/to/ca.pem"},
		{"by another name", strings.Replace(target, "127.0.0.1", "localhost", 1), "give the host by a name the certificate is for"},
		{"without the client's certificate", pg.URL(url.Values{"sslmode": {"verify-full"}, "sslrootcert": {pg.CAFile}}), "sslcert=/path/to/client.pem&sslkey="},
		{"without TLS", pg.URL(url.Values{"sslmode": {"disable"}}), "takes this role only over TLS"},
		{"with an expired client certificate", pg.URL(url.Values{"sslmode": {"verify-full"}, "sslrootcert": {pg.CAFile}, "sslcert": {pg.ExpiredCertFile}, "sslkey": {pg.ExpiredKeyFile}}), "refused the client certificate (sslcert) as expired"},
		{"with a client certificate of another CA", pg.URL(url.Values{"sslmode": {"verify-full"}, "sslrootcert": {pg.CAFile}, "sslcert": {pg.ForeignCertFile}, "sslkey": {pg.ForeignKeyFile}}), "does not trust the CA that signed the client certificate"},
	} {
		code, _, stderr := run(t, ctx, "status", "--target", c.url)
		if code != exitError || !strings.Contains(stderr, c.want) && !(strings.Contains(c.name, "client certificate") && strings.Contains(stderr, closed)) {
			t.Errorf("status %s: exit %d, %s; want exit %d and %q", c.name, code, stderr, exitError, c.want)
		}
	}
	// A client key that others may read: psql refuses it, and so does
	// starmig, before it connects.
	refusedAsByPsql(t, ctx, pg.KeyFile, target, "a client key",
		"private key file "+pg.KeyFile+" (sslkey) has group or world access (mode 0644)", "PRIVATE KEY")

	pg.ServeAnExpiredCertificate(t)
	want := "The PostgreSQL server's certificate has expired"
	if code, _, stderr := run(t, ctx, "status", "--target", target); code != exitError || !strings.Contains(stderr, want) {
		t.Errorf("status, the server's certificate expired: exit %d, %s; want exit %d and %q", code, stderr, exitError, want)
	}
}
