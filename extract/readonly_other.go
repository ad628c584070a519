//go:build !unix

package extract

// readOnlyFS says whether path's folder lies on a file system mounted
// read-only; on this system starmig cannot tell, and relies on the
// permissions alone.
func readOnlyFS(string) bool { return false }
