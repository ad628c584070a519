// Package testenv hands the real services that `withservices` started to
// the tests: a PostgreSQL server and a MinIO server. A test that needs one
// skips without it on a developer's laptop, and fails when CI is set.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/starmig/starmig/internal/pgserver"
)

// Environment variables that withservices sets for go test.
const (
	EnvPG          = "STARMIG_TEST_PG_DSN"
	EnvS3Endpoint  = "STARMIG_TEST_S3_ENDPOINT"
	EnvS3AccessKey = "STARMIG_TEST_S3_ACCESS_KEY"
	EnvS3SecretKey = "STARMIG_TEST_S3_SECRET_KEY"
)

// need skips, or fails under CI, when a service is missing.
func need(t testing.TB, what, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required under CI but %s is not set: run the tests with scripts/test.sh", what, env)
		}
		t.Skipf("no %s: %s not set (scripts/test.sh starts one)", what, env)
	}
	return v
}

// Tool returns the path of a program a test runs, such as a standard tool
// that reads the archive without starmig. It skips without it, or fails
// when CI is set (scripts/test.sh installs it).
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required under CI but is not on PATH: run the tests with scripts/test.sh", name)
		}
		t.Skipf("no %s on PATH (scripts/test.sh installs it)", name)
	}
	return p
}

// EnvAge names an age command of version 1.3 or later, which reads files
// encrypted to post-quantum recipients; scripts/test.sh builds one.
const EnvAge = "STARMIG_TEST_AGE"

// AgePostQuantum returns the path of an age command that decrypts files
// encrypted to post-quantum recipients: $STARMIG_TEST_AGE, or the age on
// PATH when it is version 1.3 or later.
func AgePostQuantum(t testing.TB) string {
	t.Helper()
	p := os.Getenv(EnvAge)
	if p == "" {
		p, _ = exec.LookPath("age")
	}
	if p != "" {
		out, err := exec.Command(p, "--version").Output()
		v := strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
		var major, minor int
		if _, serr := fmt.Sscanf(v, "%d.%d", &major, &minor); err == nil && serr == nil && (major > 1 || major == 1 && minor >= 3) {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("an age of version 1.3 or later is required under CI (set %s, or run the tests with scripts/test.sh, which builds one)", EnvAge)
	}
	t.Skipf("no age of version 1.3 or later (set %s; scripts/test.sh builds one)", EnvAge)
	return ""
}

// PostgresServer returns the DSN of the server's maintenance database.
func PostgresServer(t testing.TB) string {
	return need(t, "PostgreSQL", EnvPG)
}

// Postgres creates a fresh database for the test, drops it afterwards,
// and returns its DSN.
func Postgres(t testing.TB) string {
	t.Helper()
	return database(t, "")
}

// PostgresCopy creates a database for the test as a copy of the one dsn
// names, which nothing may be connected to, drops it afterwards, and
// returns its DSN.
func PostgresCopy(t testing.TB, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return database(t, " TEMPLATE "+pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize())
}

// PostgresEncoded creates a database for the test whose text is in the
// encoding given (LATIN9, say, rather than UTF8), drops it afterwards, and
// returns its DSN.
func PostgresEncoded(t testing.TB, encoding string) string {
	t.Helper()
	return database(t, " ENCODING '"+encoding+"' TEMPLATE template0 LOCALE_PROVIDER libc LC_COLLATE 'C' LC_CTYPE 'C'")
}

// database creates a database for the test with the options given to
// CREATE DATABASE, drops it afterwards, and returns its DSN.
func database(t testing.TB, options string) string {
	t.Helper()
	admin := PostgresServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to the test PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	name := "t_" + randomHex(6)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+options); err != nil {
		t.Fatalf("create database%s: %v", options, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop test database: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// Connect connects to dsn; the connection is closed when the test ends.
func Connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// RoleWithoutCreate makes a login role that may not create a schema in
// the database dsn names, dropped when the test ends, and returns the DSN
// that connects as it.
func RoleWithoutCreate(t testing.TB, dsn string) string {
	t.Helper()
	_, roleDSN := Role(t, dsn, "norights_", "")
	return roleDSN
}

// Role makes a login role named with prefix, with the attributes given
// to CREATE ROLE (such as SUPERUSER) and each setting given to ALTER ROLE
// SET (such as statement_timeout = '1ms'), and returns its name and the
// DSN that connects as it to the database dsn names. When the test ends,
// what it owns there is handed to the test's own role, and it is dropped.
func Role(t testing.TB, dsn, prefix, attrs string, settings ...string) (name, roleDSN string) {
	t.Helper()
	admin := Connect(t, dsn)
	ctx := context.Background()
	name = Name(prefix)
	if _, err := admin.Exec(ctx, "CREATE ROLE "+name+" LOGIN "+attrs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "REASSIGN OWNED BY "+name+" TO CURRENT_USER")
		_, _ = admin.Exec(context.Background(), "DROP OWNED BY "+name)
		if _, err := admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+name); err != nil {
			t.Errorf("drop test role %s: %v", name, err)
		}
	})
	for _, s := range settings {
		if _, err := admin.Exec(ctx, "ALTER ROLE "+name+" SET "+s); err != nil {
			t.Fatal(err)
		}
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(name)
	return name, u.String()
}

// S3 is a MinIO server's address and root credentials.
type S3 struct {
	Endpoint, AccessKey, SecretKey string
}

// MinIO returns the test MinIO server.
func MinIO(t testing.TB) S3 {
	t.Helper()
	return S3{
		Endpoint:  need(t, "MinIO", EnvS3Endpoint),
		AccessKey: need(t, "MinIO", EnvS3AccessKey),
		SecretKey: need(t, "MinIO", EnvS3SecretKey),
	}
}

// Name returns a random lower-case name with a prefix, for buckets and
// databases.
func Name(prefix string) string { return prefix + randomHex(6) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// MinIOSession returns temporary credentials on the test MinIO whose rights
// are those of policy, an IAM policy document, and no more: a session of
// the root user narrowed by STS AssumeRole.
func MinIOSession(t testing.TB, policy string) (accessKey, secretKey, sessionToken string) {
	t.Helper()
	s3 := MinIO(t)
	creds, err := credentials.NewSTSAssumeRole("http://"+s3.Endpoint, credentials.STSAssumeRoleOptions{
		AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, Policy: policy, DurationSeconds: 3600,
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := creds.GetWithContext(&credentials.CredContext{})
	if err != nil {
		t.Fatalf("STS AssumeRole on MinIO: %v", err)
	}
	return v.AccessKeyID, v.SecretAccessKey, v.SessionToken
}

// DocPolicy reads the IAM policy that a Markdown file of the project shows
// as an indented block after a line naming it (“`NAME`:”), with the
// documented bucket star1-archive replaced by bucket.
func DocPolicy(t testing.TB, path, name, bucket string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if !strings.Contains(l, "`"+name+"`") || !strings.HasSuffix(strings.TrimSpace(l), ":") {
			continue
		}
		var block []string
		for _, l := range lines[i+1:] {
			if strings.TrimSpace(l) == "" {
				if len(block) > 0 {
					break
				}
				continue
			}
			if !strings.HasPrefix(l, "    ") {
				break
			}
			block = append(block, l)
		}
		policy := strings.ReplaceAll(strings.Join(block, "\n"), "star1-archive", bucket)
		if !json.Valid([]byte(policy)) {
			t.Fatalf("%s: the block after %s is not JSON:\n%s", path, name, policy)
		}
		return policy
	}
	t.Fatalf("%s shows no %s", path, name)
	return ""
}

// PgBouncer starts a PgBouncer in the pool mode given (session,
// transaction or statement) in front of the server of dsn, a database of
// the test PostgreSQL, stops it when the test ends, and returns dsn
// through it. It skips without pgbouncer, or fails when CI is set
// (scripts/test.sh installs it).
func PgBouncer(t testing.TB, dsn, mode string) string {
	t.Helper()
	bin := "/usr/sbin/pgbouncer" // Debian's, off a user's PATH
	if _, err := os.Stat(bin); err != nil {
		bin = Tool(t, "pgbouncer")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := pgserver.StartPgBouncer(ctx, bin, dsn, mode)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("stop pgbouncer: %v", err)
		}
	})
	return p.DSN
}
