package vault

// BenchmarkAccept: durable Accepts (real fsync, file in a temporary folder on
// the same disk as /tmp) of 2 KiB messages with one recipient, by 1 and by 8
// concurrent callers, through the vault's committer.
//
// It also reports the bytes the process had written to storage per message
// (bbolt's write amplification), the pages bbolt's commits wrote per
// message, and allocations (cmd/sigill's BenchmarkIngest is the whole way
// in, SMTP and notifier included). Figures, with the VM's spread over the day,
// are in BENCHMARKS.md ("Accept latency"), with those of bbolt's DB.Batch
// (MaxBatchDelay 1 ms) the committer was once compared with: a lone caller
// was always well ahead of Batch (it never waits out a batch delay; one
// commit is bbolt's page writes and two fdatasyncs); at 8 callers the two
// were within the spread.
// With N callers in a closed loop the groups alternate around N/2: the
// callers woken by one commit prepare their next message while the next
// group commits.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func BenchmarkAccept(b *testing.B) {
	body := strings.Repeat("Hej! Här kommer beslutet i ditt ärende. ", 64)
	raw := []byte("From: staff@kommun.example.se\r\nTo: <0701234567&login=199908072391&@secure.example.se>\r\n" +
		"Subject: Ditt arende\r\nMessage-ID: <bench@kommun.example.se>\r\n\r\n" + body)
	raw = raw[:2048]
	in := incoming(raw, smsRecipient("+46701234567", pn1))

	for _, p := range []int{1, 8} {
		b.Run(fmt.Sprintf("committer/p%d", p), func(b *testing.B) {
			var commits atomic.Int64
			v, err := Open(Options{
				Path:    filepath.Join(b.TempDir(), "bench.db"),
				onBatch: func(int) { commits.Add(1) },
			})
			if err != nil {
				b.Fatal(err)
			}
			defer v.Close()
			// One warm-up, so the file has its buckets and size.
			if _, err := v.Accept(context.Background(), in); err != nil {
				b.Fatal(err)
			}
			commits.Store(0)
			written := writtenBytes()
			before, err := v.EngineStats()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			var next atomic.Int64
			b.SetBytes(int64(len(raw)))
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for range p {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if _, err := v.Accept(context.Background(), in); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
			if n := commits.Load(); n > 0 {
				b.ReportMetric(float64(b.N)/float64(n), "msgs/commit")
			}
			after, err := v.EngineStats()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(after["pages_written"]-before["pages_written"])/float64(b.N), "pages/msg")
			if w := writtenBytes(); w > 0 {
				b.ReportMetric(float64(w-written)/1024/float64(b.N), "KiB-written/msg")
			}
		})
	}
}

// writtenBytes is what this process has had written to storage so far
// (/proc/self/io's write_bytes), or 0 where that is not to be had. It shows
// bbolt's write amplification: whole pages, and every branch page on the way
// to each changed leaf, for every commit. Read it with care since the
// write-ahead log: the kernel counts a write into a clean page-cache folio
// as the whole folio, and the log's zero-filled blocks sit in large folios
// (1 MiB on Linux 6.18), so each small append counts about 1 MiB here while
// the disk writes a few KiB (BENCHMARKS.md: /proc/diskstats, 2026-12-03).
func writtenBytes() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// BenchmarkEncryptMessage: sealing one message's MIME bytes (the SEIPDv2
// packet Accept stores), at the sizes bench/ingest.sh sends. Its B/op shows
// the copies the OpenPGP packet writers make of the body.
func BenchmarkEncryptMessage(b *testing.B) {
	key := randomBytes(sessionKeySize)
	for _, size := range []int{2048, 65536, 1 << 20} {
		raw := make([]byte, size)
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := encryptMessage(raw, key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
