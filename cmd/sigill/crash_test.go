package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sigill/config/configtest"
	"sigill/internal/devpki"
	"sigill/internal/testenv"
	"sigill/notifier"
	"sigill/vault"
)

// serveConfig writes sigill.example.toml for a serve run by a test: every
// listener moved to a free loopback port (ports maps the example's address
// to it), the relay open to loopback peers, and each of edits' example
// lines replaced. edits gets the config's folder and the ports.
func serveConfig(t *testing.T, edits func(dir string, ports map[string]string) map[string]string) (path string, ports map[string]string) {
	t.Helper()
	path = configtest.Example(t, time.Now().Add(400*24*time.Hour))
	dir := filepath.Dir(path)
	ports = map[string]string{}
	text, _ := os.ReadFile(path)
	conf := string(text)
	for _, listen := range []string{"0.0.0.0:587", "0.0.0.0:465", "0.0.0.0:25", "0.0.0.0:443", "0.0.0.0:993", "127.0.0.1:9090"} {
		ports[listen] = freePort(t)
		conf = strings.Replace(conf, `"`+listen+`"`, `"`+ports[listen]+`"`, 1)
	}
	replace := edits(dir, ports)
	replace[`trusted_networks = ["10.0.0.0/8"]`] = `trusted_networks = ["127.0.0.0/8"]`
	for from, to := range replace {
		if !strings.Contains(conf, from) {
			t.Fatalf("the example has no %q", from)
		}
		conf = strings.Replace(conf, from, to, 1)
	}
	configtest.Write(t, path, []byte(conf))
	return path, ports
}

// smsSecret is the 46elks API password, or the webhook's HMAC key.
const smsSecret = "elks-user-secret-0123456789"

// crashProvider is an SMS provider over HTTPS that a serve killed in
// mid-send leaves with sends it took but never answered.
type crashProvider interface {
	url() string
	taken() int      // SMS taken
	duplicates() int // SMS whose number and text an earlier one had
	// check fails t unless a kill hit the window (a send taken, its answer
	// never heard) and the provider's side of it went as it should, given
	// serve's log; it returns a summary.
	check(t *testing.T, log string) string
}

// TestSIGKILLSendsNoSMSTwice: sigill serve under an 8-session load through
// the relay, killed (SIGKILL) three times while its workers wait for the
// provider's answers to SMS the provider has taken (each answer comes
// 50 ms after), then run until the outbox is empty. Every acknowledged
// message is notified once, and no SMS is taken twice: with 46elks the jobs
// in doubt are found in its log of sent SMS (the fake's GET /a1/sms), with
// the webhook they are sent again with their idempotency key, which the
// receiver (as its contract says) answers with its first id.
func TestSIGKILLSendsNoSMSTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts serve")
	}
	for _, provider := range []string{"46elks", "webhook"} {
		t.Run(provider, func(t *testing.T) {
			pki, err := devpki.New(filepath.Join(t.TempDir(), "pki"))
			if err != nil {
				t.Fatal(err)
			}
			var prov crashProvider
			if provider == "46elks" {
				testenv.Tool(t, "python3", "python3")
				prov = startFake46elks(t, pki)
			} else {
				wh := &webhookReceiver{byKey: map[string]string{}, keyOf: map[string]string{}}
				srv := httptest.NewUnstartedServer(wh)
				srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.Server}}
				srv.StartTLS()
				t.Cleanup(srv.Close)
				wh.base = srv.URL
				prov = wh
			}
			path, ports := serveConfig(t, func(dir string, ports map[string]string) map[string]string {
				// 46elks' API password, or the webhook's secret (16 bytes or more).
				configtest.Write(t, filepath.Join(dir, "secrets/sms-password"), []byte(smsSecret+"\n"))
				return map[string]string{
					`provider = "46elks"`:                   `provider = "` + provider + `"`,
					`url = "https://api.46elks.com/a1/sms"`: `url = "` + prov.url() + `"`,
					`link_base = "https://read.example.se"`: `link_base = "https://` + ports["0.0.0.0:443"] + `"`,
					`smarthost = "mail.example.se:587"`:     `smarthost = "127.0.0.1:1"`,
					`mail_to_sender = true`:                 `mail_to_sender = false`,
				}
			})
			crashUnderLoad(t, path, ports, pki, prov)
		})
	}
}

func crashUnderLoad(t *testing.T, path string, ports map[string]string, pki *devpki.PKI, prov crashProvider) {
	relay := ports["0.0.0.0:25"]
	var log testenv.SyncBuffer // every run's stderr, written by exec's copiers
	start := func() *exec.Cmd {
		t.Helper()
		serve := exec.Command(sigillBin, "serve", "-config", path)
		serve.Env = append(os.Environ(), "SSL_CERT_FILE="+filepath.Join(pki.Dir, "ca.pem"))
		serve.Stderr = &log
		if err := serve.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { serve.Process.Kill(); serve.Wait() })
		waitPort(t, relay, &log)
		return serve
	}
	rcpt := func(n int) string { return fmt.Sprintf("07012345%02d&login=199908072391&@secure.example.se", n%100) }
	msg := func(n int) string {
		return fmt.Sprintf("From: <mta@example.se>\r\nTo: <%s>\r\nSubject: Provsvar %d\r\n\r\nHej! Ditt provsvar är klart.\r\n", rcpt(n), n)
	}
	var acked []ack
	const rounds = 3
	for range rounds {
		serve := start()
		before := prov.taken()
		l := startLoadOf(relay, "mta@example.se", rcpt, msg)
		l.waitFor(t, 50)
		// The workers are busy: each holds a send the provider has taken.
		for deadline := time.Now().Add(30 * time.Second); prov.taken() < before+16; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the provider took %d SMS in 30 s; serve's log:\n%s", prov.taken()-before, log.String())
			}
		}
		serve.Process.Signal(syscall.SIGKILL)
		serve.Wait()
		acked = append(acked, l.end()...)
	}

	serve := start()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		stdout, _, code := run(t, "", "vault", "-config", path, "stats")
		var st vault.Stats
		if code == 0 && json.Unmarshal([]byte(stdout), &st) == nil && st.Outbox == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the outbox is not empty after 2 minutes: %s", stdout)
		}
	}
	serve.Process.Signal(syscall.SIGTERM)
	if err := serve.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v\n%s", err, log.String())
	}

	v, err := vault.Open(vault.Options{Path: filepath.Join(filepath.Dir(path), "sigill.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for _, a := range acked {
		events, err := v.Events(a.id)
		notified := 0
		for _, e := range events {
			if e.Kind == vault.EventNotified {
				notified++
			}
		}
		if err != nil || notified != 1 {
			t.Errorf("acknowledged message %s: %d notified events, want 1 (%v)", a.id, notified, err)
		}
	}
	if d := prov.duplicates(); d != 0 {
		t.Errorf("%d SMS taken twice over %d kills", d, rounds)
	}
	if prov.taken() < len(acked) {
		t.Errorf("%d SMS for %d acknowledged messages", prov.taken(), len(acked))
	}
	t.Logf("%d kills under load: %d messages acknowledged, %d SMS taken; %s",
		rounds, len(acked), prov.taken(), prov.check(t, log.String()))
}

// startUntil starts cmd and waits (at most within) for a line of its
// stdout that begins with ready; it returns the lines so far and cmd's
// stderr. The process is killed when the test ends.
func startUntil(t *testing.T, cmd *exec.Cmd, ready string, within time.Duration) (banner string, stderr *testenv.SyncBuffer) {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr = &testenv.SyncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 1)
	go func() {
		var b strings.Builder
		sc := bufio.NewScanner(stdout)
		for sent := false; sc.Scan(); {
			b.WriteString(sc.Text() + "\n")
			if !sent && strings.HasPrefix(sc.Text(), ready) {
				lines <- b.String()
				sent = true
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case banner = <-lines:
	case <-time.After(within):
		t.Fatalf("%s printed no %q in %v; stderr:\n%s", filepath.Base(cmd.Path), ready, within, stderr)
	}
	return banner, stderr
}

// fake46elks is test/util/fake46elks.py as a process, holding each answer
// 50 ms after it has taken the SMS.
type fake46elks struct {
	base   string
	client *http.Client
	t      *testing.T
}

func startFake46elks(t *testing.T, pki *devpki.PKI) *fake46elks {
	addr := freePort(t)
	dir := t.TempDir()
	configtest.Write(t, filepath.Join(dir, "password"), []byte(smsSecret+"\n"))
	cmd := exec.Command("python3", "../../test/util/fake46elks.py", "--listen", addr,
		"--cert", filepath.Join(pki.Dir, "server.pem"), "--key", filepath.Join(pki.Dir, "server.key"),
		"--user", "elks-user", "--password-file", filepath.Join(dir, "password"),
		"--out", filepath.Join(dir, "sms.jsonl"), "--answer-delay", "0.05")
	startUntil(t, cmd, "listening", 20*time.Second)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pki.CAPool}
	return &fake46elks{base: "https://" + addr, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}, t: t}
}

func (f *fake46elks) url() string { return f.base + "/a1/sms" }

func (f *fake46elks) stats() (sms, duplicates int) {
	f.t.Helper()
	var st struct{ SMS, Duplicates int }
	getJSON(f.t, f.client, http.MethodGet, f.base+"/fake/stats", &st)
	return st.SMS, st.Duplicates
}

func (f *fake46elks) taken() int      { n, _ := f.stats(); return n }
func (f *fake46elks) duplicates() int { _, d := f.stats(); return d }
func (f *fake46elks) check(t *testing.T, log string) string {
	found := strings.Count(log, "the provider had the message in doubt; recorded")
	if found == 0 {
		t.Error("no job in doubt was found in 46elks' log: no kill came between a send 46elks took and its answer")
	}
	return fmt.Sprintf("%d jobs in doubt found in 46elks' log, not sent again", found)
}

// webhookReceiver takes SMS as the webhook's contract asks: by
// Idempotency-Key, answering a key it has seen with its first id and
// sending nothing more. It answers 50 ms after it has taken an SMS.
type webhookReceiver struct {
	base string

	mu      sync.Mutex
	byKey   map[string]string // key → to and text
	keyOf   map[string]string // to and text → key
	n       int               // SMS taken
	dups    int               // a number and text taken under a second key
	repeats int               // requests with a key taken before
	changed int               // repeats whose number or text differ
}

func (w *webhookReceiver) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	var m struct {
		To             string `json:"to"`
		Message        string `json:"message"`
		IdempotencyKey string `json:"idempotency_key"`
	}
	body, _ := io.ReadAll(r.Body)
	if r.Header.Get(notifier.SignatureHeader) != notifier.Sign([]byte(smsSecret), body) {
		http.Error(rw, "bad signature", http.StatusUnauthorized)
		return
	}
	if err := json.Unmarshal(body, &m); err != nil || m.IdempotencyKey == "" || r.Header.Get("Idempotency-Key") != m.IdempotencyKey {
		http.Error(rw, "bad request", http.StatusBadRequest)
		return
	}
	sms := m.To + "\n" + m.Message
	w.mu.Lock()
	prev, seen := w.byKey[m.IdempotencyKey]
	switch {
	case seen:
		w.repeats++
		if prev != sms {
			w.changed++
		}
	default:
		w.byKey[m.IdempotencyKey] = sms
		if _, dup := w.keyOf[sms]; dup {
			w.dups++
		}
		w.keyOf[sms] = m.IdempotencyKey
		w.n++
	}
	w.mu.Unlock()
	if !seen {
		time.Sleep(50 * time.Millisecond)
	}
	rw.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(rw, `{"id":"wh-%s"}`, m.IdempotencyKey)
}

func (w *webhookReceiver) url() string { return w.base + "/sms" }

func (w *webhookReceiver) taken() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

func (w *webhookReceiver) duplicates() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dups
}

func (w *webhookReceiver) check(t *testing.T, _ string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.changed != 0 {
		t.Errorf("%d repeated keys came with another number or text", w.changed)
	}
	if w.repeats == 0 {
		t.Error("no send was repeated: no kill came between a send the webhook took and its answer")
	}
	return fmt.Sprintf("%d jobs in doubt sent again with their key and answered with the first id", w.repeats)
}
