//go:build !unix

package pgsession

import "io/fs"

// ownedByRoot says whether root owns the file fi describes: no file here,
// where there is no root.
func ownedByRoot(fs.FileInfo) bool { return false }
