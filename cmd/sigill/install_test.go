package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigill/internal/testenv"
)

// repoRoot is the top of the git checkout the test runs in; the test is
// skipped outside one (a source tarball has no .gitignore to check).
func repoRoot(t *testing.T) string {
	t.Helper()
	git := testenv.Tool(t, "git", "git")
	out, err := exec.Command(git, "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skip("not in a git checkout")
	}
	return strings.TrimSpace(string(out))
}

// Nothing `sigill dev` writes, and no build output, is offered for a commit:
// every file dev leaves in its data folder is ignored as ./sigill-data, the
// default, and so are the binary and test and profile outputs; no tracked
// file is.
func TestGitIgnoresDataAndBuildOutputs(t *testing.T) {
	root := repoRoot(t)
	data := t.TempDir()
	d := startDev(t, data)
	d.stop(t)
	paths := []string{"sigill", "cmd/sigill/sigill", "cmd/sigill/sigill.test", "cpu.prof", "vault/cpu.out", "smtpd/mem.pprof"}
	filepath.WalkDir(data, func(path string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			rel, _ := filepath.Rel(data, path)
			paths = append(paths, filepath.Join("sigill-data", rel))
		}
		return nil
	})
	if len(paths) < 8 {
		t.Fatalf("sigill dev wrote almost nothing to check: %v", paths)
	}
	for _, p := range paths {
		cmd := exec.Command("git", "check-ignore", "--no-index", "-q", p)
		cmd.Dir = root
		if err := cmd.Run(); err != nil {
			t.Errorf("git would offer %s for a commit (check-ignore: %v)", p, err)
		}
	}
	ls := exec.Command("git", "ls-files", "--cached", "--ignored", "--exclude-standard")
	ls.Dir = root
	if out, err := ls.Output(); err != nil || len(out) > 0 {
		t.Errorf("tracked files that .gitignore matches: %q, %v", out, err)
	}
}
