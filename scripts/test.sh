#!/usr/bin/env bash
# Runs every starmig test against real services: installs what the tests
# need (a MinIO server and age 1.3 built from the Go module proxy, Debian's
# PostgreSQL server, PgBouncer, age and OpenSSL when missing), then starts a private
# PostgreSQL and MinIO, runs `go test ./...`, and stops both afterwards.
# Under CI (CI set) it runs with the race detector, then once more without
# it on a PostgreSQL that collates text by et-EE. Before the tests, go vet
# checks the code and the tests as built for Linux, macOS and Windows.
# Extra arguments go to `go test` (for example -run or -v).
set -euo pipefail
cd "$(dirname "$0")/.."

minio_version="github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c"
gobin="$(go env GOPATH)/bin"
if [[ -z "${STARMIG_MINIO:-}" ]] && ! command -v minio >/dev/null && [[ ! -x "$gobin/minio" ]]; then
  echo "scripts/test.sh: building the MinIO server (a few minutes the first time)" >&2
  go install "$minio_version"
fi
# An age of version 1.3 or later reads files encrypted to post-quantum
# recipients (keys gen --post-quantum); Debian's is older, so the one that
# TestStandardToolsReadAPostQuantumBundle reads with is built from the Go
# module proxy (a few seconds), into a folder of its own.
age_version="v1.3.2"
age_dir="$(go env GOPATH)/starmig-tools/age-$age_version"
if [[ -z "${STARMIG_TEST_AGE:-}" ]]; then
  if [[ ! -x "$age_dir/age" ]]; then
    echo "scripts/test.sh: building age $age_version" >&2
    GOBIN="$age_dir" go install "filippo.io/age/cmd/age@$age_version"
  fi
  export STARMIG_TEST_AGE="$age_dir/age"
fi
# Debian packages: the PostgreSQL server, PgBouncer, and the standard
# tools that archive's TestStandardToolsReadABundle reads a bundle with.
packages=()
for bin in initdb postgres; do
  if ! command -v "$bin" >/dev/null && ! ls /usr/lib/postgresql/*/bin/"$bin" >/dev/null 2>&1; then
    packages+=(postgresql)
    break
  fi
done
command -v age >/dev/null || packages+=(age)
# PgBouncer, which a site may put in front of STAR2 (TestThroughPgBouncer).
command -v pgbouncer >/dev/null || [[ -x /usr/sbin/pgbouncer ]] || packages+=(pgbouncer)
command -v openssl >/dev/null || packages+=(openssl)
# Under CI the tests run with the race detector, which needs cgo and a C
# compiler: archive, restore, verify and the load overlap their work on
# several goroutines.
race=()
if [[ -n "${CI:-}" ]]; then
  command -v "$(go env CC)" >/dev/null || packages+=(gcc libc6-dev)
  race=(-race)
  export CGO_ENABLED=1
fi
if (( ${#packages[@]} )) && [[ $(id -u) -eq 0 ]]; then
  echo "scripts/test.sh: installing ${packages[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
elif (( ${#packages[@]} )); then
  echo "scripts/test.sh: not root, so not installing ${packages[*]}: the tests that need them skip (under CI they fail)" >&2
fi

go vet ./...
# starmig and its tests build for the systems its users may run it on, not
# Linux alone: an operator abroad may verify from macOS or Windows.
for os in darwin windows; do
  GOOS=$os CGO_ENABLED=0 go vet ./...
done
go run ./internal/testenv/withservices -- go test "${race[@]}" -count=1 -timeout 60m "$@" ./...
if [[ -n "${CI:-}" ]]; then
  # Once more on a PostgreSQL whose default collation is Estonian (ICU
  # et-EE), as a STAR2 server in Estonia may have, where the run above
  # sorts text bytewise: nothing may lean on the server's text order.
  echo "scripts/test.sh: again, with PostgreSQL collating by et-EE" >&2
  STARMIG_TEST_PG_LOCALE=et-EE go run ./internal/testenv/withservices -- go test -count=1 -timeout 60m "$@" ./...
fi
