package main

import (
	"math"
	"runtime/debug"
	"testing"

	"sigill/config"
)

// [node]'s gc_percent and memory_limit_mb reach the runtime, unless the
// environment's GOGC or GOMEMLIMIT set them.
func TestApplyGC(t *testing.T) {
	percent, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(percent); debug.SetMemoryLimit(limit) })
	read := func() (int, int64) {
		p := debug.SetGCPercent(100)
		debug.SetGCPercent(p)
		return p, debug.SetMemoryLimit(-1)
	}
	noEnv := func(string) string { return "" }

	applyGC(config.Node{GCPercent: 300, MemoryLimitMB: 700}, noEnv)
	if p, l := read(); p != 300 || l != 700<<20 {
		t.Fatalf("gc_percent 300, memory_limit_mb 700: runtime has %d %%, %d bytes", p, l)
	}
	applyGC(config.Node{GCPercent: 250}, noEnv)
	if p, l := read(); p != 250 || l != math.MaxInt64 {
		t.Fatalf("memory_limit_mb 0: runtime has %d %%, limit %d; want no limit", p, l)
	}
	env := map[string]string{"GOGC": "150", "GOMEMLIMIT": "2GiB"}
	applyGC(config.Node{GCPercent: 900, MemoryLimitMB: 64}, func(k string) string { return env[k] })
	if p, l := read(); p != 250 || l != math.MaxInt64 {
		t.Fatalf("GOGC and GOMEMLIMIT set: the file's values were applied over them (%d %%, %d bytes)", p, l)
	}
	if d := config.Default().Node; d.GCPercent != 400 || d.MemoryLimitMB != 1024 {
		t.Fatalf("defaults %+v; BENCHMARKS.md measured gc_percent 400 with a 1024 MiB limit", d)
	}
}
