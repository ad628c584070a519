// Package procattr holds the process attributes of the servers that the
// demo and the tests start (PostgreSQL, MinIO), one file per kind of
// system, so that starmig builds for every system Go does.
package procattr
