package main

import (
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"sigill/config"
)

// stampedRevision reads back what the go command stamped into a binary, as
// `go version -m` shows it: the commit sigill must report.
func stampedRevision(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	var settings []debug.BuildSetting
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "build" {
			if k, v, ok := strings.Cut(f[1], "="); ok {
				settings = append(settings, debug.BuildSetting{Key: k, Value: v})
			}
		}
	}
	return revision(settings)
}

// A release build says its version (set with -ldflags -X), its commit and
// its Go version, as `sigill version` and as `sigill -version`.
func TestVersionCommand(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "sigill")
	// -buildvcs=auto on the command line wins over a GOFLAGS=-buildvcs=false
	// in the environment: in a clone the commit is stamped.
	build := exec.Command("go", "build", "-buildvcs=auto", "-ldflags", "-X main.version=1.2.3-test", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	want := "sigill 1.2.3-test (commit " + stampedRevision(t, bin) + ", " + runtime.Version() + ")\n"
	for _, args := range [][]string{{"version"}, {"-version"}} {
		out, err := exec.Command(bin, args...).Output()
		if err != nil || string(out) != want {
			t.Errorf("sigill %s: %q, %v; want %q", args[0], out, err, want)
		}
	}
	if _, stderr, code := run(t, "", "version", "extra"); code != 2 || !strings.Contains(stderr, `unexpected argument "extra"`) || !strings.Contains(stderr, "Usage: sigill version") {
		t.Errorf("sigill version extra: exit %d, %q", code, stderr)
	}
}

func TestRevision(t *testing.T) {
	for _, c := range []struct {
		settings []debug.BuildSetting
		want     string
	}{
		{nil, "unknown"},
		{[]debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "false"}}, "abc123"},
		{[]debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"}}, "abc123+dirty"},
	} {
		if got := revision(c.settings); got != c.want {
			t.Errorf("revision(%v) = %q; want %q", c.settings, got, c.want)
		}
	}
}

// sigill_build_info on /metrics carries the same three facts.
func TestBuildInfoMetric(t *testing.T) {
	d := startDev(t, t.TempDir())
	resp, err := http.Get("http://" + d.addr(config.DevAdminPort) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := `sigill_build_info{goversion="` + runtime.Version() + `",revision="` + stampedRevision(t, sigillBin) + `",version="devel"} 1`
	if !strings.Contains(string(body), want+"\n") {
		t.Errorf("/metrics has no %s", want)
	}
}
