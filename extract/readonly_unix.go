//go:build unix

package extract

import (
	"errors"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// readOnlyFS says whether path's folder lies on a file system mounted
// read-only.
func readOnlyFS(path string) bool {
	return errors.Is(unix.Access(filepath.Dir(path), unix.W_OK), syscall.EROFS)
}
