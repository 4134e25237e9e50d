// Command fill stores N messages in a vault as fast as the vault takes them
// (2 KiB, one SMS recipient each, from 8 goroutines) and prints the rate of
// every window of 50 000, so that intake into an empty vault and into one
// that already holds a million messages can be compared:
//
//	go run ./bench/fill -data DIR -n 1000000
//
// A notifier runs beside the writers, as in the daemon, with a provider that
// takes every SMS at once, so the vault ends as a production vault does after
// a million notifications: each message has its "notified" event and its
// delivery record, and the outbox is empty. The filled folder then serves
// `SIGILL_BENCH_DATA=DIR bench/ingest.sh`, whose notifier starts idle.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"sigill/addressing"
	"sigill/notifier"
	"sigill/vault"
)

// takeAll is an SMS provider that accepts every message at once.
type takeAll struct{ n atomic.Int64 }

func (p *takeAll) Name() string { return "fill" }

func (p *takeAll) Send(context.Context, notifier.SMS) (string, error) {
	return fmt.Sprintf("fill-%d", p.n.Add(1)), nil
}

func main() {
	data := flag.String("data", "./sigill-data", "the data folder (as sigill dev -data)")
	n := flag.Int("n", 1000000, "how many messages to store")
	flag.Parse()
	if err := os.MkdirAll(*data, 0o700); err != nil {
		log.Fatal(err)
	}
	v, err := vault.Open(vault.Options{Path: filepath.Join(*data, "sigill.db"), Hooks: []vault.Hook{notifier.Hook()}})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	rcpt := "0701234567&login=199908072391&@secure.test"
	r, err := addressing.Policy{Domains: []string{"secure.test"}, Region: "SE"}.Parse(rcpt)
	if err != nil {
		log.Fatal(err)
	}
	sms := &takeAll{}
	// Every recipient here is an SMS one: the smarthost is never dialled.
	mail, err := notifier.NewSMTPSender(notifier.SMTPOptions{Addr: "127.0.0.1:1", From: "noreply@secure.test"})
	if err != nil {
		log.Fatal(err)
	}
	notify, err := notifier.New(notifier.Options{
		Email: mail,
		Vault: v, LinkBase: "https://read.example.se", OrgName: "Region Exempel", SMSSender: "RegionEx",
		SMS: sms, Workers: 16, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	notified := make(chan error, 1)
	go func() { notified <- notify.Run(ctx) }()
	raw := []byte("Subject: Provsvar\r\n\r\n" + strings.Repeat(strings.Repeat("x", 76)+"\r\n", 26))
	const window = 50000
	var done atomic.Int64
	start := time.Now()
	var mu sync.Mutex
	windowStart := start
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				i := done.Add(1)
				if i > int64(*n) {
					return
				}
				if i%window == 0 {
					mu.Lock()
					fmt.Printf("messages %7d-%7d: %.0f msg/s\n", i-window, i, window/time.Since(windowStart).Seconds())
					windowStart = time.Now()
					mu.Unlock()
				}
				if _, err := v.Accept(context.Background(), vault.Incoming{
					Sender: "mta@example.se", Errand: "Provsvar", Raw: raw,
					Recipients: []vault.Recipient{{Address: rcpt, Recipient: r}},
				}); err != nil {
					log.Fatal(err)
				}
				notify.Kick()
			}
		})
	}
	wg.Wait()
	filled := time.Since(start)
	for {
		select {
		case err := <-notified:
			log.Fatalf("the notifier stopped before the outbox was empty: %v", err)
		default:
		}
		n, err := v.OutboxLen()
		if err != nil {
			log.Fatal(err)
		}
		if n == 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	stop()
	if err := <-notified; err != nil {
		log.Fatal(err)
	}
	fmt.Printf("stored %d messages in %v, all notified after %v (%d SMS)\n", *n, filled.Round(time.Second), time.Since(start).Round(time.Second), sms.n.Load())
	st, _ := v.Stats()
	fmt.Printf("the vault holds %d messages, %d bytes\n", st.Messages, st.FileBytes)
}
