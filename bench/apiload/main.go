// Command apiload sends messages through sigill's REST API as fast as a
// number of concurrent clients can, and prints the rate: the API's side of
// bench/api.sh. Each request is one POST /api/v1/messages with its own
// Idempotency-Key and a body of the given size, to one SMS recipient, as
// compare-ingest.sh sends over SMTP; a request that is not answered 201 ends
// the run with its status and problem text.
//
//	go run ./bench/apiload -url http://127.0.0.1:28090 -key sgl_… [-c 8] [-n 2000] [-l 2048]
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:8090", "the staff listener")
	key := flag.String("key", "", "an API key with messages:send")
	clients := flag.Int("c", 8, "concurrent clients")
	total := flag.Int("n", 2000, "messages in all")
	size := flag.Int("l", 2048, "body bytes")
	flag.Parse()
	if *key == "" {
		fmt.Fprintln(os.Stderr, "apiload: -key is required")
		os.Exit(2)
	}
	body, err := json.Marshal(map[string]any{
		"subject":    "Provsvar",
		"text":       strings.Repeat("Hej! Ditt provsvar är klart. ", *size/30+1)[:*size],
		"recipients": []map[string]any{{"address": "0701234567&login=199908072391&"}},
	})
	if err != nil {
		panic(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *clients}, Timeout: time.Minute}
	run := time.Now().UnixNano()
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for failed.Load() == nil {
				i := next.Add(1)
				if i > int64(*total) {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, *base+"/api/v1/messages", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+*key)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", fmt.Sprintf("bench-%d-%d", run, i))
				resp, err := client.Do(req)
				if err != nil {
					failed.Store(err.Error())
					return
				}
				answer, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					failed.Store(fmt.Sprintf("%s: %s", resp.Status, answer))
				}
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f != nil {
		fmt.Fprintln(os.Stderr, "apiload: a request failed:", f)
		fmt.Println("fail")
		os.Exit(1)
	}
	fmt.Printf("%.0f\n", float64(*total)/time.Since(start).Seconds())
}
