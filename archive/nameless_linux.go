package archive

import (
	"errors"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// createNameless opens a file in dir that has no name until link gives it
// one (O_TMPFILE), so that a writer killed before then leaves nothing in
// dir. errNoNameless where the file system cannot.
func createNameless(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL) {
			return nil, errNoNameless
		}
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), dir+"/(nameless)"), nil
}

// linkNameless gives a file of createNameless the name final; it fails
// with fs.ErrExist when final exists.
func linkNameless(f *os.File, final string) error {
	err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(int(f.Fd())), unix.AT_FDCWD, final, unix.AT_SYMLINK_FOLLOW)
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.EEXIST) {
		return &os.LinkError{Op: "link", Old: f.Name(), New: final, Err: os.ErrExist}
	}
	if errors.Is(err, unix.ENOENT) { // no /proc
		return errNoNameless
	}
	return &os.LinkError{Op: "link", Old: f.Name(), New: final, Err: err}
}
