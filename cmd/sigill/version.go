package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// version is the release this binary was built as, set at link time:
//
//	go build -ldflags "-X main.version=1.2.0" -o sigill ./cmd/sigill
//
// A plain `go build` or `go install` leaves "devel"; the commit then tells
// builds apart.
var version = "devel"

// buildInfo is what `sigill version` prints and sigill_build_info carries.
type buildInfo struct {
	version   string
	revision  string // the VCS commit, "+dirty" when built from a modified tree; "unknown" outside a checkout
	goVersion string
}

func readBuildInfo() buildInfo {
	b := buildInfo{version: version, revision: "unknown", goVersion: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		b.revision = revision(info.Settings)
	}
	return b
}

// revision is the commit the go command stamped into the binary. It stamps
// none with -buildvcs=false, outside a checkout, or in a git worktree (whose
// .git is a file, which the go command does not take for a repository).
func revision(settings []debug.BuildSetting) string {
	rev, modified := "unknown", false
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if modified && rev != "unknown" {
		rev += "+dirty"
	}
	return rev
}

func (b buildInfo) String() string {
	return fmt.Sprintf("sigill %s (commit %s, %s)", b.version, b.revision, b.goVersion)
}

// sigill_build_info is a gauge of 1 labelled with the build, the usual way to
// put a version on a dashboard. collectors.NewBuildInfoCollector would label
// it with the module's version, which `go build` in a checkout leaves as
// "(devel)", and not with the commit; hence a gauge of sigill's own.
func init() {
	b := readBuildInfo()
	promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sigill_build_info",
		Help: "Always 1; the labels say which build of sigill runs.",
	}, []string{"version", "revision", "goversion"}).WithLabelValues(b.version, b.revision, b.goVersion).Set(1)
}

func runVersion(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	c := newCLI("version", `Usage: sigill version

Prints the version, the commit it was built from ("+dirty" when the tree had
changes) and the Go version. Also: sigill -version.`, stdout, stderr)
	if code, done := c.parseFlagsOnly(args); done {
		return code
	}
	fmt.Fprintln(stdout, readBuildInfo())
	return 0
}
