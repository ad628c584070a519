// Package archive writes and reads the STAR1 archive: immutable,
// encrypted, signed BagIt bundles in object storage (ARCHIVE.md).
package archive
