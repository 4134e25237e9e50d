package main

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sigill/config"
)

// hookReceiver is a webhook endpoint on 127.0.0.1: it answers 500 while
// down, and keeps every delivery whose Standard Webhooks signature
// verifies under secret (set once registered), by webhook-id.
type hookReceiver struct {
	srv    *httptest.Server
	down   atomic.Bool
	secret atomic.Value // string
	mu     sync.Mutex
	tried  int
	taken  map[string]hookEvent
	forged int
}

type hookEvent struct {
	Type string `json:"type"`
	Data struct {
		Type, Message, Reference, By string
		Recipient                    int
	} `json:"data"`
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{taken: map[string]hookEvent{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.tried++
		if h.down.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		secret, _ := h.secret.Load().(string)
		key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(r.Header.Get("webhook-id") + "." + r.Header.Get("webhook-timestamp") + "." + string(body)))
		want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		if !strings.Contains(" "+r.Header.Get("webhook-signature")+" ", " "+want+" ") {
			h.forged++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev hookEvent
		json.Unmarshal(body, &ev)
		h.taken[r.Header.Get("webhook-id")] = ev
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// has reports whether an event of typ for the message's recipient was taken.
func (h *hookReceiver) has(typ, message string, recipient int) (hookEvent, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range h.taken {
		if ev.Type == typ && ev.Data.Message == message && ev.Data.Recipient == recipient {
			return ev, true
		}
	}
	return hookEvent{}, false
}

func (h *hookReceiver) attempts() int { h.mu.Lock(); defer h.mu.Unlock(); return h.tried }

func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// apiCall makes one request to the REST API with Go's net/http.
func apiCall(t *testing.T, method, url, key string, body any, into any) int {
	t.Helper()
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, url, bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "go-"+strings.ReplaceAll(t.Name(), "/", "-")+"-"+time.Now().Format(time.RFC3339Nano))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if into != nil && json.Unmarshal(out, into) != nil {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, out)
	}
	return resp.StatusCode
}

// smsLink is the link of the message's SMS in outbox.jsonl.
func smsLink(t *testing.T, data, id string) string {
	t.Helper()
	var link string
	waitCond(t, "the SMS in outbox.jsonl", func() bool {
		f, err := os.Open(filepath.Join(data, "outbox.jsonl"))
		if err != nil {
			return false
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var line outboxLine
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.MessageID == id && line.Channel == "sms" {
				link = line.Link
			}
		}
		return link != ""
	})
	return link
}

// Webhooks from the built binary: registered with Go's net/http, the
// events of a message to an SMS and an e-mail recipient are POSTed to a
// receiver that checks the signature as Standard Webhooks computes it;
// while the receiver answers 500 the deliveries are retried, a restart of
// sigill in between loses none, and the open through BankID arrives with
// the reader masked and the client's reference.
func TestWebhooksFromTheBuiltBinary(t *testing.T) {
	data := t.TempDir()
	d := startDev(t, data)
	base := "http://" + d.addr(config.DevStaffPort)
	key := createKey(t, "create", config.DevAccount, "-data", data)
	h := newHookReceiver(t)
	h.down.Store(true)

	var wh struct{ ID, Secret string }
	if st := apiCall(t, "POST", base+"/api/v1/webhooks", key, map[string]any{"url": h.srv.URL + "/hooks"}, &wh); st != 201 || !strings.HasPrefix(wh.Secret, "whsec_") {
		t.Fatalf("register: %d %+v", st, wh)
	}
	h.secret.Store(wh.Secret)
	var sent struct{ ID string }
	msg := map[string]any{"subject": "Provsvar", "text": "Hej! Ditt provsvar är klart.", "reference": "journal-4711",
		"recipients": []any{map[string]any{"sms": "0701234567", "logins": []string{"199908072391"}}, map[string]any{"email": "anna@example.com", "logins": []string{"*"}}}}
	if st := apiCall(t, "POST", base+"/api/v1/messages", key, msg, &sent); st != 201 {
		t.Fatalf("send: %d", st)
	}
	// Both notifications are refused (500) at least once, then sigill stops.
	waitCond(t, "two refused deliveries", func() bool { return h.attempts() >= 2 })
	d.stop(t)
	h.down.Store(false)
	d = startDev(t, data)
	for i := range 2 {
		waitCond(t, "recipient's notified delivered after the restart", func() bool { _, ok := h.has("message.notified", sent.ID, i); return ok })
	}

	// The link was printed before the restart, at the old reader port.
	_, path, _ := strings.Cut(smsLink(t, data, sent.ID), "/m/")
	link := "http://" + d.addr(config.DevReaderPort) + "/m/" + path
	if _, _, status := signInAtReader(t, d, link, "199908072391"); status != "complete" {
		t.Fatalf("BankID: %s", status)
	}
	var opened hookEvent
	waitCond(t, "the open delivered", func() bool { var ok bool; opened, ok = h.has("message.opened", sent.ID, 0); return ok })
	if opened.Data.By != "19990807-****" || opened.Data.Reference != "journal-4711" {
		t.Errorf("the open as delivered: %+v", opened)
	}
	h.mu.Lock()
	forged := h.forged
	h.mu.Unlock()
	if forged != 0 {
		t.Errorf("%d deliveries whose signature did not verify", forged)
	}
	if strings.Contains(d.stderr.String(), wh.Secret) || strings.Contains(d.stderr.String(), "199908072391") {
		t.Error("the log holds the secret or a personal number")
	}
}
