package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/starmig/starmig/internal/testenv"
)

func TestRetrievalFolderIsNewOrEmpty(t *testing.T) {
	t.Chdir(t.TempDir())
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	first, err := retrievalFolder("", now)
	if err != nil || first != "retrieval-20261121T100000Z" {
		t.Fatalf("default folder: %q %v", first, err)
	}
	os.Mkdir(first, 0o700)
	// A second retrieval in the same second gets a folder of its own.
	if second, err := retrievalFolder("", now); err != nil || second != first+"-2" {
		t.Errorf("second default folder: %q %v", second, err)
	}
	// A chosen folder may be new or empty.
	if out, err := retrievalFolder("new", now); err != nil || out != "new" {
		t.Errorf("new folder: %q %v", out, err)
	}
	if out, err := retrievalFolder(first, now); err != nil || out != first {
		t.Errorf("empty folder: %q %v", out, err)
	}
	// Not one that holds something, nor a file.
	os.WriteFile(filepath.Join(first, "retrieval.json"), []byte("{}"), 0o600)
	if _, err := retrievalFolder(first, now); err == nil {
		t.Error("a folder holding a retrieval was accepted")
	}
	if _, err := retrievalFolder(filepath.Join(first, "retrieval.json"), now); err == nil {
		t.Error("a file was accepted as the folder")
	}
}

// TestDemoRunsAgain: the README's first command works, and works again in
// the same folder (its retrieval folder is its own to replace).
func TestDemoRunsAgain(t *testing.T) {
	testenv.PostgresServer(t) // the demo starts a server of its own from the same binaries
	dir := filepath.Join(t.TempDir(), "demo")
	for i := range 2 {
		code, out, stderr := run(t, context.Background(), "demo", "--dir", dir, "--persons", "300", "--as-of", "2026-11-01")
		if code != 0 || !strings.Contains(out, "Retrieved person with personal code") {
			t.Fatalf("demo, run %d: exit %d: %s %s", i+1, code, out, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "retrieval", "retrieval.md")); err != nil {
		t.Error(err)
	}
}
