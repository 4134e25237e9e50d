package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// dist/sigill.service is a unit systemd takes without a word (verify prints
// nothing: it only warns of a misspelt key or value, and still exits 0),
// that keeps the hardening it promises, that systemd's own analysis rates
// well exposed at most 2.0 of 10, and that gives sigill's drain its time.
func TestSystemdUnit(t *testing.T) {
	analyze := testenv.Tool(t, "systemd-analyze", "systemd")
	unit, err := os.ReadFile("../../dist/sigill.service")
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(unit), "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	for _, want := range []string{
		"User=sigill", "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure",
		"StateDirectory=sigill", "ConfigurationDirectory=sigill", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
		"NoNewPrivileges=yes", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "AmbientCapabilities=CAP_NET_BIND_SERVICE",
		"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "SystemCallFilter=@system-service",
	} {
		if !lines[want] {
			t.Errorf("the unit has no line %q", want)
		}
	}

	// The stop timeout leaves room for the drain.
	var stopTimeout time.Duration
	for l := range lines {
		if v, ok := strings.CutPrefix(l, "TimeoutStopSec="); ok {
			stopTimeout, _ = time.ParseDuration(v)
		}
	}
	if stopTimeout <= drainTimeout {
		t.Errorf("TimeoutStopSec is %v; systemd would kill sigill inside its %v drain", stopTimeout, drainTimeout)
	}

	// ExecStart's command line is one serve takes: it reaches the
	// configuration, which is not there.
	const execStart = "ExecStart=/usr/local/bin/sigill "
	var args []string
	for l := range lines {
		if rest, ok := strings.CutPrefix(l, execStart); ok {
			args = strings.Fields(rest)
		}
	}
	if len(args) == 0 {
		t.Fatalf("the unit has no %s… line", execStart)
	}
	if _, stderr, code := run(t, "", args...); code != 1 || !strings.Contains(stderr, "/etc/sigill/sigill.toml") {
		t.Errorf("sigill %s (the unit's command): exit %d, %s", strings.Join(args, " "), code, stderr)
	}

	// verify wants ExecStart's binary to exist: a copy of the unit runs the
	// one the tests built.
	copy := filepath.Join(t.TempDir(), "sigill.service")
	if err := os.WriteFile(copy, []byte(strings.Replace(string(unit), "ExecStart=/usr/local/bin/sigill ", "ExecStart="+sigillBin+" ", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", copy).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	if out, err := exec.Command(analyze, "security", "--offline=true", "--threshold=20", copy).CombinedOutput(); err != nil {
		t.Errorf("systemd-analyze security rates the unit above 2.0: %v\n%s", err, out)
	}
}
