// Command fill stores N messages in a vault as fast as the vault takes them
// (2 KiB, one SMS recipient each, from 8 goroutines) and prints the rate of
// every window of 50 000, so that intake into an empty vault and into one
// that already holds a million messages can be compared:
//
//	go run ./bench/fill -data DIR -n 1000000
//
// The filled folder also works with `SIGILL_BENCH_DATA=DIR bench/ingest.sh`,
// but its notifier then starts on the stored messages' pending notifications.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"sigill/addressing"
	"sigill/vault"
)

func main() {
	data := flag.String("data", "./sigill-data", "the data folder (as sigill dev -data)")
	n := flag.Int("n", 1000000, "how many messages to store")
	flag.Parse()
	if err := os.MkdirAll(*data, 0o700); err != nil {
		log.Fatal(err)
	}
	v, err := vault.Open(vault.Options{Path: filepath.Join(*data, "sigill.db")})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	rcpt := "0701234567&login=199908072391&@secure.test"
	r, err := addressing.Policy{Domains: []string{"secure.test"}, Region: "SE"}.Parse(rcpt)
	if err != nil {
		log.Fatal(err)
	}
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
			}
		})
	}
	wg.Wait()
	st, _ := v.Stats()
	fmt.Printf("stored %d messages in %v; the vault holds %d messages, %d bytes\n", *n, time.Since(start).Round(time.Second), st.Messages, st.FileBytes)
}
