// Package minioserver starts a private MinIO server on loopback with a
// temporary data folder, for the tests and benchmarks.
package minioserver

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/starmig/starmig/internal/procattr"
)

// Version is the MinIO server the project tests against.
const Version = "github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c"

// Server is a running MinIO.
type Server struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
	dir       string
	cmd       *exec.Cmd
	done      chan error
}

// Binary finds the minio program: $STARMIG_MINIO, PATH, or the Go bin
// folder where `go install` puts it.
func Binary() (string, error) {
	if p := os.Getenv("STARMIG_MINIO"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	gobin := os.Getenv("GOBIN")
	if gobin == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gobin = filepath.Join(strings.TrimSpace(string(out)), "bin")
		}
	}
	if p := filepath.Join(gobin, "minio"); gobin != "" {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("minioserver: minio not found: go install %s", Version)
}

// KMSKey names the key of the server's KMS (MinIO's built-in one, a
// single key): a bucket may encrypt its objects with it (SSE-KMS), as
// sites that require encryption at rest set their buckets.
const KMSKey = "starmig-test"

// Start runs MinIO on a free loopback port with a fresh data folder.
func Start(ctx context.Context) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "starmig-minio-")
	if err != nil {
		return nil, fmt.Errorf("minioserver: %w", err)
	}
	port, console, err := freePorts()
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	kmsKey := make([]byte, 32)
	_, _ = rand.Read(kmsKey)
	s := &Server{
		Endpoint:  fmt.Sprintf("127.0.0.1:%d", port),
		AccessKey: "starmig-test",
		SecretKey: hex.EncodeToString(secret),
		dir:       dir,
	}
	logf, err := os.Create(filepath.Join(dir, "minio.log"))
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	defer logf.Close()
	s.cmd = exec.Command(bin, "server", filepath.Join(dir, "data"), "--address", s.Endpoint,
		"--console-address", fmt.Sprintf("127.0.0.1:%d", console), "--quiet")
	s.cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+s.AccessKey, "MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_KMS_SECRET_KEY="+KMSKey+":"+base64.StdEncoding.EncodeToString(kmsKey))
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = procattr.Child(syscall.SIGTERM)
	if err := s.cmd.Start(); err != nil {
		return nil, errors.Join(fmt.Errorf("minioserver: start: %w", err), os.RemoveAll(dir))
	}
	s.done = make(chan error, 1)
	go func() { s.done <- s.cmd.Wait() }()
	if err := s.waitReady(ctx, logf.Name()); err != nil {
		return nil, errors.Join(err, s.Stop())
	}
	return s, nil
}

func (s *Server) waitReady(ctx context.Context, logName string) error {
	deadline := time.Now().Add(60 * time.Second)
	url := "http://" + s.Endpoint + "/minio/health/ready"
	for {
		select {
		case err := <-s.done:
			s.done <- err
			logText, _ := os.ReadFile(logName)
			return fmt.Errorf("minioserver: minio exited: %v\n%s", err, logText)
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("minioserver: not ready on %s: %v", s.Endpoint, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop ends MinIO and removes its data.
func (s *Server) Stop() error {
	if s.cmd != nil && s.cmd.Process != nil {
		if s.cmd.Process.Signal(syscall.SIGTERM) != nil {
			_ = s.cmd.Process.Kill() // no SIGTERM on this system
		}
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	return os.RemoveAll(s.dir)
}

func freePorts() (int, int, error) {
	var ports [2]int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, 0, fmt.Errorf("minioserver: find a free port: %w", err)
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports[0], ports[1], nil
}
