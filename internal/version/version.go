// Package version says which build of starmig runs, for `starmig
// --version` and for the archive, whose catalogs and bundles name the
// build that wrote them: an archive is read for decades, and whoever reads
// it then may need to know which code wrote it.
package version

import (
	"runtime/debug"
	"strings"
)

// String is the build of the running program: its module version (as `go
// install …@v1.2.3` stamps it, "(devel)" for a build from a checkout), the
// commit it was built from and whether the checkout had changes, as `go
// build` stamps them, and the Go release: "starmig (devel), commit
// 0123456789ab (modified), go1.26.0".
func String() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "starmig (unknown build)"
	}
	return describe(info)
}

func describe(info *debug.BuildInfo) string {
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	parts := []string{"starmig " + v}
	var revision, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	// From Go 1.24 a build from a checkout is versioned by its commit
	// ("v0.0.0-20261124085259-0123456789ab+dirty"): the commit is said once.
	if revision != "" && !strings.Contains(v, revision[:min(12, len(revision))]) {
		c := "commit " + revision[:min(12, len(revision))]
		if modified == "true" {
			c += " (modified)"
		}
		parts = append(parts, c)
	}
	parts = append(parts, info.GoVersion)
	return strings.Join(parts, ", ")
}
