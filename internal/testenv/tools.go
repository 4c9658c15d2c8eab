package testenv

import (
	"os/exec"
	"testing"
)

// Tool returns the path of a command-line tool a test needs (systemd-analyze,
// dpkg-deb, chromium, …), found on PATH or among candidates. When it is
// missing the test is skipped, or fails under CI / SUPPORTD_REQUIRE_SERVERS=1
// (scripts/testenv install puts every such tool in place).
func Tool(t testing.TB, name string, candidates ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, c := range candidates {
		if isExecutable(c) {
			return c
		}
	}
	missingBinary(t, name, "not on PATH")
	return ""
}
