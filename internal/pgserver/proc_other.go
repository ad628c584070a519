//go:build !unix

package pgserver

import (
	"context"
	"os/exec"
	"syscall"

	"github.com/starmig/starmig/internal/procattr"
)

// runAs is the user initdb and postgres run as; on this system always the
// current one (PostgreSQL refuses to run with administrative rights).
type runAs = struct{}

func credential(string) (runAs, error) { return runAs{}, nil }

// own leaves path as it is: the server runs as the current user.
func own(runAs, string) error { return nil }

func run(ctx context.Context, _ runAs, dir, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	return cmd.CombinedOutput()
}

func serverAttr(runAs) *syscall.SysProcAttr { return procattr.Child(syscall.SIGINT) }
