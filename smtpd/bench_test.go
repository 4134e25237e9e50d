package smtpd

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// BenchmarkAcceptLatency: one relay transaction per op (connect, MAIL, RCPT,
// DATA of 2 KiB, 250 after the durable commit, QUIT) from 1 and 8 concurrent
// clients over loopback, into a real vault on disk. Reports the latency a
// client sees from connect to 250, at the median and the 99th percentile.
//
//	go test -run='^$' -bench=AcceptLatency -benchtime=2000x ./smtpd/
func BenchmarkAcceptLatency(b *testing.B) {
	body := plainMessage(testSubject, strings.Repeat(strings.Repeat("x", 76)+"\r\n", 26)) // ~2 KiB
	for _, clients := range []int{1, 8} {
		b.Run(map[int]string{1: "sessions=1", 8: "sessions=8"}[clients], func(b *testing.B) {
			g := startGateway(b)
			var (
				mu        sync.Mutex
				latencies []time.Duration
				next      = make(chan struct{})
				wg        sync.WaitGroup
			)
			b.ResetTimer()
			for range clients {
				wg.Go(func() {
					for range next {
						start := time.Now()
						c, err := smtp.Dial(g.relay)
						if err != nil {
							b.Error(err)
							return
						}
						if _, err := send(c, staff, []string{goodRcpt}, body); err != nil {
							b.Error(err)
						}
						c.Quit()
						mu.Lock()
						latencies = append(latencies, time.Since(start))
						mu.Unlock()
					}
				})
			}
			for range b.N {
				next <- struct{}{}
			}
			close(next)
			wg.Wait()
			b.StopTimer()
			slices.Sort(latencies)
			at := func(q float64) float64 {
				return float64(latencies[int(q*float64(len(latencies)-1))].Microseconds()) / 1000
			}
			b.ReportMetric(at(0.50), "p50-ms")
			b.ReportMetric(at(0.99), "p99-ms")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
