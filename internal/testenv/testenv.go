// Package testenv holds the rules every sigill test follows about the machine
// it runs on: which system tools a test may need and what happens when one is
// missing. It is imported by tests only.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the test runs under .ci/run, where every system tool
// the tests need has been installed first.
func InCI() bool { return os.Getenv("CI") == "true" }

// Tool returns the path of a system tool the test needs. When the tool is
// missing the test is skipped with the Debian package that brings it, except
// under CI, where a missing tool means .ci/run forgot to install it and the
// test fails instead.
func Tool(t testing.TB, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	Missing(t, name, debianPackage)
	return ""
}

// Missing skips the test for want of something a Debian package brings, or
// fails it under CI.
func Missing(t testing.TB, what, debianPackage string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s is missing under CI=true: .ci/run must apt-get install %s", what, debianPackage)
	}
	t.Skipf("%s not found; apt-get install %s to run this test", what, debianPackage)
}
