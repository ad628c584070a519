// Package fileurl turns local paths into file: URLs and back: the URLs
// SQLite opens a STAR1 stand-in by, and the file:/// URLs of archives in
// a local folder. A path is escaped, so that a name with a space, #, ?
// or % is the name it was, and a Windows drive letter gets its /.
package fileurl

import (
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
)

// FromPath is the file:/// URL of path, made absolute.
func FromPath(path string) (*url.URL, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	return FromAbs(abs), nil
}

// FromAbs is the file:/// URL of an absolute path.
func FromAbs(abs string) *url.URL { return fromSlashed(filepath.ToSlash(abs)) }

// fromSlashed is the file URL of an absolute path with / between its
// folders, such as /srv/star1.db, or C:/star1/star1.db on Windows.
func fromSlashed(slashed string) *url.URL {
	if !strings.HasPrefix(slashed, "/") {
		slashed = "/" + slashed // a drive letter: file:///C:/…
	}
	return &url.URL{Scheme: "file", Path: slashed}
}

// ToPath is the local path that the file URL u names.
func ToPath(u *url.URL) string {
	return filepath.FromSlash(slashedPath(u.Path, runtime.GOOS))
}

// slashedPath is a file URL's path as a path of the system goos, still
// with / between folders: on Windows /C:/x is C:/x.
func slashedPath(p, goos string) string {
	if goos == "windows" && len(p) >= 3 && p[0] == '/' && p[2] == ':' {
		return p[1:]
	}
	return p
}

// SQLite is the URI that SQLite opens the file at path by, with query
// (such as mode=ro) after it. Unescaped, SQLite reads "file:a#1.db" as the
// file "a" and "file:s%20x.db" as "s x.db".
func SQLite(path, query string) (string, error) {
	u, err := FromPath(path)
	if err != nil {
		return "", err
	}
	u.RawQuery = query
	return u.String(), nil
}
