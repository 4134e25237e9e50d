package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"sigill/config"
	"sigill/internal/pgtest"
)

// BenchmarkIngest guards what one message costs on its whole way in, as
// bench/ingest.sh drives it, in this process: a relay connection per
// message (EHLO, MAIL, RCPT, DATA, QUIT) into `sigill dev`'s gateway
// (start, as serve and dev build it: every hook, the notifier with its log
// provider writing outbox.jsonl), the 250 after the durable commit, and the
// notifier's claim and outcome. An op is one message; the timer stops once
// the outbox is empty, so the notifier's work is inside.
//
// It reports what stays meaningful on a busy machine, never asserted on:
// allocs/op and B/op (the whole process, the benchmark's small client
// included), committer-ms/msg (the committer goroutine's busy time:
// its serial share of a message) and commit-ms/msg (the part of it in the
// engine's Commit: bbolt's page writes and fsyncs, PostgreSQL's commit
// round trip; the rest is the requests' own work), pages/msg and pwrites/msg (bbolt's
// pages written by all commits, and its write calls, per message) or, on
// PostgreSQL, round-trips/msg (statements and batches sent), commits/msg,
// and cpu-ms/msg
// (the process's user+system CPU time per message, from getrusage). Read
// the time figures only against a run of the same code on the same
// machine, back to back (benchstat):
//
//	go test -run='^$' -bench=Ingest -benchtime=2000x -count=5 ./cmd/sigill/
func BenchmarkIngest(b *testing.B) {
	for _, c := range []struct {
		size, sessions int
	}{{2048, 8}, {2048, 1}, {65536, 8}} {
		b.Run(fmt.Sprintf("size=%d/sessions=%d", c.size, c.sessions), func(b *testing.B) {
			benchIngest(b, c.size, c.sessions, "")
		})
	}
	// The same on the PostgreSQL engine (a cluster of the test binary's,
	// see internal/pgtest), where what a group commit costs is round trips.
	for _, c := range []struct {
		size, sessions int
	}{{2048, 8}, {2048, 1}} {
		b.Run(fmt.Sprintf("store=postgres/size=%d/sessions=%d", c.size, c.sessions), func(b *testing.B) {
			benchIngest(b, c.size, c.sessions, pgtest.Shared(b).NewSchema(b))
		})
	}
}

// benchIngest runs the benchmark on a fresh `sigill dev` (store: a
// PostgreSQL URL; empty: its bbolt file).
func benchIngest(b *testing.B, size, sessions int, store string) {
	cfg := config.Dev(b.TempDir(), freeOffset(b))
	cfg.Store.URL = store
	in, err := start(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer in.stop(context.Background())
	relay := cfg.SMTP.Relay.Listen[0]
	msg := benchMessage(size)
	// One warm-up message: buckets made, key store keys made, pools filled.
	if err := sendOne(relay, msg); err != nil {
		b.Fatal(err)
	}
	waitOutboxEmpty(b, in)
	before, err := in.vault.EngineStats()
	if err != nil {
		b.Fatal(err)
	}
	commits0, cpu0, busy0, commit0 := commitCount(b), processCPU(b), committerBusy(b), commitTime(b)

	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range sessions {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := sendOne(relay, msg); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	waitOutboxEmpty(b, in)
	b.StopTimer()

	cpu, commits, busy := processCPU(b)-cpu0, commitCount(b)-commits0, committerBusy(b)-busy0
	commit := commitTime(b) - commit0
	after, err := in.vault.EngineStats()
	if err != nil {
		b.Fatal(err)
	}
	n := float64(b.N)
	if store == "" {
		b.ReportMetric(float64(after["pages_written"]-before["pages_written"])/n, "pages/msg")
		b.ReportMetric(float64(after["page_writes"]-before["page_writes"])/n, "pwrites/msg")
	} else {
		b.ReportMetric(float64(after["round_trips"]-before["round_trips"])/n, "round-trips/msg")
	}
	b.ReportMetric(float64(commits)/n, "commits/msg")
	b.ReportMetric(cpu.Seconds()*1000/n, "cpu-ms/msg")
	b.ReportMetric(busy*1000/n, "committer-ms/msg")
	b.ReportMetric(commit*1000/n, "commit-ms/msg")
}

// benchMessage is a message of size bytes as smtp-source sends one: a
// few header lines and a body of short lines.
func benchMessage(size int) []byte {
	var m strings.Builder
	m.WriteString("From: <sender@staff.test>\r\nTo: <0701234567&login=199908072391&@secure.test>\r\nSubject: Provsvar\r\nMessage-ID: <bench@staff.test>\r\n\r\n")
	line := strings.Repeat("x", 76) + "\r\n"
	for m.Len()+len(line) <= size {
		m.WriteString(line)
	}
	return []byte(m.String())
}

// sendOne sends msg over one relay connection, as smtp-source does (no
// pipelining), and fails unless the message got its 250.
func sendOne(addr string, msg []byte) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(c)
	expect := func(code string) error {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if !strings.HasPrefix(line, code) {
				return fmt.Errorf("want %s, got %q", code, line)
			}
			if len(line) < 4 || line[3] != '-' {
				return nil
			}
		}
	}
	steps := []struct{ send, want string }{
		{"", "220"},
		{"EHLO bench.test\r\n", "250"},
		{"MAIL FROM:<sender@staff.test>\r\n", "250"},
		{"RCPT TO:<0701234567&login=199908072391&@secure.test>\r\n", "250"},
		{"DATA\r\n", "354"},
	}
	for _, s := range steps {
		if s.send != "" {
			if _, err := io.WriteString(c, s.send); err != nil {
				return err
			}
		}
		if err := expect(s.want); err != nil {
			return fmt.Errorf("after %q: %w", s.send, err)
		}
	}
	if _, err := c.Write(append(msg, ".\r\n"...)); err != nil {
		return err
	}
	if err := expect("250"); err != nil {
		return fmt.Errorf("after DATA: %w", err)
	}
	_, err = io.WriteString(c, "QUIT\r\n")
	return err
}

func waitOutboxEmpty(b *testing.B, in *instance) {
	b.Helper()
	for deadline := time.Now().Add(5 * time.Minute); ; {
		k, err := in.vault.OutboxLen()
		if err != nil {
			b.Fatal(err)
		}
		if k == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d jobs still in the outbox", k)
		}
		time.Sleep(time.Millisecond)
	}
}

// commitCount is the commits the vault's committer has made in this
// process: the sample count of sigill_vault_requests_per_commit, as
// /metrics shows it.
func commitCount(b *testing.B) int64 {
	return int64(metric(b, "sigill_vault_requests_per_commit").GetHistogram().GetSampleCount())
}

// committerBusy is the time the vault's committer goroutine has spent
// on groups so far (it serves one group at a time, so its time per
// message bounds the rate, whatever the cores).
func committerBusy(b *testing.B) float64 {
	return metric(b, "sigill_vault_committer_busy_seconds_total").GetCounter().GetValue()
}

// metric is the one metric of that name in the default registry.
// commitTime is the time the committer has spent in the engine's Commit
// so far: the sum of sigill_vault_commit_seconds.
func commitTime(b *testing.B) float64 {
	return metric(b, "sigill_vault_commit_seconds").GetHistogram().GetSampleSum()
}

func metric(b *testing.B, name string) *dto.Metric {
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0]
		}
	}
	b.Fatalf("no %s in the default registry", name)
	return nil
}

// processCPU is the user and system CPU time of this process so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
