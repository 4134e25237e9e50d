package notifier

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkThroughput measures jobs per second from the outbox through a
// fake 46elks that takes 50 ms to answer each send, with the vault's
// durable commits (claim, then notified) in the loop. Messages are accepted
// before the timer starts. Run it with a fixed count, e.g.
//
//	go test -run '^$' -bench Throughput -benchtime 3000x ./notifier/
func BenchmarkThroughput(b *testing.B) {
	for _, workers := range []int{32, 64, 128} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) { benchThroughput(b, workers) })
	}
}

func benchThroughput(b *testing.B, workers int) {
	var seq atomic.Int64
	srv := newTestServer(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		time.Sleep(50 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"created","id":"s%d"}`, seq.Add(1))
	}))
	elks, err := NewElks(ElksOptions{URL: srv.URL + "/a1/sms", Username: "u", Password: "p"})
	if err != nil {
		b.Fatal(err)
	}
	v := openVault(b, nil)
	// Accept b.N messages, eight at a time (as SMTP sessions would).
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 8 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				acceptOne(b, v, fmt.Sprintf("Ärende %d", i), smsTo(fmt.Sprintf("+4670%07d", i), pn1, "sv"))
			}
		})
	}
	wg.Wait()
	n, err := New(Options{
		Vault: v, Workers: workers, LinkBase: linkBase, OrgName: orgName, SMSSender: smsSender,
		SMS: elks, Email: mustSMTPSender(b, SMTPOptions{Addr: "127.0.0.1:1", From: "noreply@secure.example.se"}),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	b.ResetTimer()
	start := time.Now()
	go func() { done <- n.Run(ctx) }()
	for {
		k, err := v.OutboxLen()
		if err != nil {
			b.Fatal(err)
		}
		if k == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	if got := seq.Load(); got != int64(b.N) {
		b.Fatalf("%d sends for %d jobs", got, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
}
