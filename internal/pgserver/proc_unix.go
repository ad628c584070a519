//go:build unix

package pgserver

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"

	"github.com/starmig/starmig/internal/procattr"
)

// runAs is the user initdb and postgres run as: nil for the current one.
type runAs = *syscall.Credential

// credential returns the postgres user's credential when running as root,
// after giving it the folder; nil otherwise.
func credential(dir string) (runAs, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgserver: running as root needs a postgres user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, fmt.Errorf("pgserver: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// own gives path to the user the server runs as.
func own(cred runAs, path string) error {
	if cred == nil {
		return nil
	}
	if err := os.Chown(path, int(cred.Uid), int(cred.Gid)); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	return nil
}

func run(ctx context.Context, cred runAs, dir, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	return cmd.CombinedOutput()
}

// serverAttr runs postgres as cred, apart from starmig's Ctrl-C, and
// interrupted when starmig dies where the system allows (procattr).
func serverAttr(cred runAs) *syscall.SysProcAttr {
	a := procattr.Child(syscall.SIGINT)
	a.Credential = cred
	return a
}
