package testenv

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/starmig/starmig/internal/pgserver"
)

// CertRole is the role that PostgresTLS lets in by its client certificate
// alone, and only over TLS.
const CertRole = "starmig_cert"

// TLSPostgres is a private PostgreSQL as a production STAR2 may be set up:
// TLS with a certificate of the site's own CA, for 127.0.0.1 only, and
// CertRole let in only over TLS, by a client certificate that CA signed.
type TLSPostgres struct {
	Addr              string // 127.0.0.1:PORT
	CAFile            string // the CA's certificate
	CertFile, KeyFile string // CertRole's certificate and key
	// ExpiredCertFile and ExpiredKeyFile are a certificate of CertRole,
	// and its key, that the CA signed and that expired a day ago;
	// ForeignCertFile and ForeignKeyFile one that another CA signed.
	ExpiredCertFile, ExpiredKeyFile string
	ForeignCertFile, ForeignKeyFile string

	srv *pgserver.Server
	ca  *testCA
}

// PostgresTLS starts such a server for the test, with a database star2
// that CertRole (a superuser) owns, and stops it when the test ends. It
// is a server of its own: the others' server takes plain sessions.
func PostgresTLS(t testing.TB) *TLSPostgres {
	t.Helper()
	PostgresServer(t) // skips, or fails under CI, as the tests' server does
	ca := newTestCA(t)
	serverDER, serverKey := ca.issue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "127.0.0.1"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	clientDER, clientKey := ca.issue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: CertRole}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	expiredDER, expiredKey := ca.issue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: CertRole}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		NotBefore: time.Now().AddDate(0, 0, -365), NotAfter: time.Now().AddDate(0, 0, -1),
	})
	foreignDER, foreignKey := newTestCA(t).issue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: CertRole}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := pgserver.StartWith(ctx, pgserver.Options{
		Files: map[string][]byte{"server.crt": certPEM(serverDER), "server.key": keyPEM(t, serverKey), "ca.crt": ca.pem()},
		HBA: "local all all trust\n" +
			"hostssl all " + CertRole + " 127.0.0.1/32 cert\n" +
			"host all postgres 127.0.0.1/32 trust\n",
		Settings: []string{"ssl=on", "ssl_cert_file=server.crt", "ssl_key_file=server.key", "ssl_ca_file=ca.crt"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("stop the TLS PostgreSQL: %v", err)
		}
	})
	dir := t.TempDir()
	p := &TLSPostgres{Addr: fmt.Sprintf("127.0.0.1:%d", srv.Port),
		CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "client.pem"), KeyFile: filepath.Join(dir, "client.key"),
		ExpiredCertFile: filepath.Join(dir, "expired.pem"), ExpiredKeyFile: filepath.Join(dir, "expired.key"),
		ForeignCertFile: filepath.Join(dir, "foreign.pem"), ForeignKeyFile: filepath.Join(dir, "foreign.key"),
		srv: srv, ca: ca}
	for path, b := range map[string][]byte{
		p.CAFile: ca.pem(), p.CertFile: certPEM(clientDER), p.KeyFile: keyPEM(t, clientKey),
		p.ExpiredCertFile: certPEM(expiredDER), p.ExpiredKeyFile: keyPEM(t, expiredKey),
		p.ForeignCertFile: certPEM(foreignDER), p.ForeignKeyFile: keyPEM(t, foreignKey),
	} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, srv.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, stmt := range []string{"CREATE ROLE " + CertRole + " LOGIN SUPERUSER", "CREATE DATABASE star2 OWNER " + CertRole} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	return p
}

// URL is the URL of the database star2 as CertRole, over TLS that checks
// the server's certificate and name (verify-full), with the client's
// certificate, as a migration engineer gives it; query, when not empty,
// replaces the TLS parameters.
func (p *TLSPostgres) URL(query url.Values) string {
	if query == nil {
		query = url.Values{"sslmode": {"verify-full"}, "sslrootcert": {p.CAFile}, "sslcert": {p.CertFile}, "sslkey": {p.KeyFile}}
	}
	u := url.URL{Scheme: "postgres", User: url.User(CertRole), Host: p.Addr, Path: "/star2", RawQuery: query.Encode()}
	return u.String()
}

// ServeAnExpiredCertificate has the server show, from now on, a
// certificate of its CA for 127.0.0.1 that expired a day ago, as a server
// whose certificate nobody renewed.
func (p *TLSPostgres) ServeAnExpiredCertificate(t testing.TB) {
	t.Helper()
	der, key := p.ca.issue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "127.0.0.1"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		NotBefore:   time.Now().AddDate(0, 0, -365), NotAfter: time.Now().AddDate(0, 0, -1),
	})
	for name, b := range map[string][]byte{"server.crt": certPEM(der), "server.key": keyPEM(t, key)} {
		if err := p.srv.WriteFile(name, b); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.srv.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	// The server reads its configuration again when its postmaster gets
	// to the signal: until a session over TLS meets the expired one.
	check := p.URL(url.Values{"sslmode": {"verify-full"}, "sslrootcert": {p.CAFile}, "sslcert": {p.CertFile}, "sslkey": {p.KeyFile}})
	for {
		c, err := pgx.Connect(ctx, check)
		if err == nil {
			c.Close(ctx)
		}
		switch {
		case err != nil && strings.Contains(err.Error(), "certificate has expired"):
			return
		case ctx.Err() != nil:
			t.Fatalf("the server still shows its valid certificate: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
