package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

// TestDescribeNamesTheBuild: a build from a checkout names its commit,
// and says when the checkout had changes; an installed release names its
// version; the Go release is always there.
func TestDescribeNamesTheBuild(t *testing.T) {
	for want, info := range map[string]*debug.BuildInfo{
		"starmig (devel), commit 0123456789ab (modified), go1.26.0": {GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}},
		"starmig v1.2.0, go1.26.0":                       {GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.0"}},
		"starmig (devel), commit 0123456789ab, go1.26.0": {GoVersion: "go1.26.0", Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.modified", Value: "false"}}},
	} {
		if got := describe(info); got != want {
			t.Errorf("describe = %q, want %q", got, want)
		}
	}
	if s := String(); !strings.HasPrefix(s, "starmig ") || !strings.Contains(s, "go1.") {
		t.Errorf("String() = %q", s)
	}
}
