// Package verify checks the archive for the operators abroad: every bundle
// there, whole, locked and signed, without any key but the signing key's
// public half (ARCHIVE.md, Verification).
package verify
