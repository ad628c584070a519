package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TLSFront serves https on a loopback port in front of target, a server
// of plain http (MinIO), with a certificate for 127.0.0.1 that a CA of its
// own signed, as a storage behind a site's private CA does. It returns
// the port's address and the file of the CA's certificate (PEM). The
// bytes go through unchanged, so the Host header a client signs is the
// one the server checks. It stops when the test ends.
func TLSFront(t testing.TB, target string) (addr, caFile string) {
	t.Helper()
	return tlsFront(t, target, time.Time{})
}

// ExpiredTLSFront is TLSFront with a certificate that expired a day ago,
// as a storage's whose certificate nobody renewed.
func ExpiredTLSFront(t testing.TB, target string) (addr, caFile string) {
	t.Helper()
	return tlsFront(t, target, time.Now().AddDate(0, 0, -1))
}

// tlsFront is TLSFront with a certificate valid until notAfter; the zero
// time for the CA's default.
func tlsFront(t testing.TB, target string, notAfter time.Time) (addr, caFile string) {
	t.Helper()
	ca := newTestCA(t)
	leaf := &x509.Certificate{
		Subject: pkix.Name{CommonName: "127.0.0.1"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if !notAfter.IsZero() {
		leaf.NotBefore, leaf.NotAfter = notAfter.AddDate(-1, 0, 0), notAfter
	}
	leafDER, key := ca.issue(t, leaf)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.pem(), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				out, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer out.Close()
				done := make(chan struct{})
				go func() { _, _ = io.Copy(out, in); out.(*net.TCPConn).CloseWrite(); close(done) }()
				_, _ = io.Copy(in, out)
				in.Close()
				<-done
			}()
		}
	}()
	return ln.Addr().String(), caFile
}

// testCA is a certificate authority of a test's own, as a site's private
// CA.
type testCA struct {
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	serial int64
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "starmig test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, serial: 1}
}

// issue returns a certificate (DER) for tmpl's names and uses, valid for
// a day, signed by the CA, and its new key.
func (ca *testCA) issue(t testing.TB, tmpl *x509.Certificate) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca.serial++
	now := time.Now()
	tmpl.SerialNumber = big.NewInt(ca.serial)
	if tmpl.NotAfter.IsZero() { // else the caller's dates
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(24*time.Hour)
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

// pem is the CA's certificate, PEM.
func (ca *testCA) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

// certPEM and keyPEM are a certificate and a key as files hold them.
func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func keyPEM(t testing.TB, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}
