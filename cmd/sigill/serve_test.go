package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"sigill/config/configtest"
	"sigill/internal/testenv"
)

// fakeElks is 46elks's SMS API as the docs describe it: a form POST with
// Basic auth, answered with JSON holding the message id.
type fakeElks struct {
	mu   sync.Mutex
	sent []url.Values
}

func (f *fakeElks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, _, ok := r.BasicAuth()
	if r.Method != http.MethodPost || r.URL.Path != "/a1/sms" || !ok || user != "elks-user" || r.ParseForm() != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.sent = append(f.sent, r.PostForm)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"id":"s1234","status":"created"}`)
}

func (f *fakeElks) waitForOne(t *testing.T) url.Values {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		f.mu.Lock()
		if len(f.sent) > 0 {
			defer f.mu.Unlock()
			return f.sent[0]
		}
		f.mu.Unlock()
	}
	t.Fatal("no SMS reached the fake 46elks")
	return nil
}

// sigill serve from sigill.example.toml, with every listener moved to a
// loopback port and the SMS API to a fake 46elks: TLS on every listener,
// AUTH only after STARTTLS, the SMS carries the link, the reader answers
// over HTTPS with HSTS, IMAP over implicit TLS.
func TestServeFromTheExampleConfig(t *testing.T) {
	elks := &fakeElks{}
	elksServer := httptest.NewTLSServer(elks)
	defer elksServer.Close()
	staffPort := freePort(t)
	path, ports := serveConfig(t, func(dir string, ports map[string]string) map[string]string {
		return map[string]string{
			`url = "https://api.46elks.com/a1/sms"`:                    `url = "` + elksServer.URL + `/a1/sms"`,
			`link_base = "https://read.example.se"`:                    `link_base = "https://` + ports["0.0.0.0:443"] + `"`,
			`listen = []                             # off unless set`: `listen = ["` + staffPort + `"] #`,
			`webhook_allow = []`:                                       `webhook_allow = ["192.0.2.0/24"]`,
		}
	})
	caFile := filepath.Join(filepath.Dir(path), "elks-ca.pem")
	configtest.Write(t, caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: elksServer.Certificate().Raw}))

	const staff, password = "anna@example.se", "a long staff password"
	if _, stderr, code := run(t, password+"\n", "user", "-config", path, "add", staff); code != 1 || !strings.Contains(stderr, "no vault") {
		t.Fatalf("user add before the first start: exit %d, %s", code, stderr)
	}

	serve := exec.Command(sigillBin, "serve", "-config", path)
	serve.Env = append(os.Environ(), "SSL_CERT_FILE="+caFile) // the fake 46elks's certificate
	// Written by exec's copier while waitPort may read it.
	var log testenv.SyncBuffer
	serve.Stderr = &log
	start := func() {
		t.Helper()
		serve.Stderr = &log
		if err := serve.Start(); err != nil {
			t.Fatal(err)
		}
		waitPort(t, ports["0.0.0.0:587"], &log)
	}
	stop := func() {
		serve.Process.Signal(syscall.SIGTERM)
		timer := time.AfterFunc(40*time.Second, func() { serve.Process.Signal(syscall.SIGQUIT) })
		defer timer.Stop()
		if err := serve.Wait(); err != nil {
			t.Fatalf("serve after SIGTERM: %v\n%s", err, log.String())
		}
	}
	// The first start makes the vault; accounts are added while it is stopped.
	start()
	stop()
	if _, stderr, code := run(t, password+"\n", "user", "-config", path, "add", staff); code != 0 {
		t.Fatalf("user add: %s", stderr)
	}
	// The example has staff.require_2fa on: mail clients log in with app passwords.
	appPassword := createAppPassword(t, "-config", path, staff)
	// The example's certificates last 400 days: the log warns of nothing.
	if strings.Contains(log.String(), `"warning"`) {
		t.Errorf("serve warned at start with sound certificates:\n%s", log.String())
	}
	serve = exec.Command(sigillBin, "serve", "-config", path)
	serve.Env = append(os.Environ(), "SSL_CERT_FILE="+caFile)
	start()
	defer stop()

	insecure := &tls.Config{InsecureSkipVerify: true} // the example's self-signed certificate
	// Outside dev, AUTH waits for TLS.
	plain, err := smtp.Dial(ports["0.0.0.0:587"])
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.Hello("client.example.se"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := plain.Extension("AUTH"); ok {
		t.Error("AUTH offered before STARTTLS in serve")
	}
	plain.Close()

	c, err := smtp.DialStartTLS(ports["0.0.0.0:587"], insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewLoginClient(staff, password)); err == nil || !strings.Contains(err.Error(), "app password") {
		t.Fatalf("AUTH LOGIN with the account password under staff.require_2fa: %v; want a refusal asking for an app password", err)
	}
	c.Close()
	if c, err = smtp.DialStartTLS(ports["0.0.0.0:587"], insecure); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewLoginClient(staff, appPassword)); err != nil {
		t.Fatalf("AUTH LOGIN after STARTTLS: %v", err)
	}
	rcpt := "0701234567&login=199908072391&@secure.example.se"
	if _, err := transact(c, staff, rcpt, "Subject: Provsvar\r\nMessage-ID: <serve-1@example.se>\r\n\r\nHej!\r\n"); err != nil {
		t.Fatalf("sending through serve: %v", err)
	}
	c.Close()

	sms := elks.waitForOne(t)
	if sms.Get("to") != "+46701234567" || sms.Get("from") != "RegionEx" || !strings.Contains(sms.Get("message"), "Provsvar") {
		t.Errorf("the SMS: %v", sms)
	}
	link := sms.Get("message")[strings.Index(sms.Get("message"), "https://"):]
	web := &http.Client{Transport: &http.Transport{TLSClientConfig: insecure}, Timeout: 10 * time.Second}
	resp, err := web.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "Provsvar") || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("the reader over HTTPS: %s, HSTS %q\n%.300s", resp.Status, resp.Header.Get("Strict-Transport-Security"), page)
	}

	// The staff listener speaks HTTPS with the configured certificate.
	resp, err = web.Get("https://" + staffPort + "/api/v1/nothing-here")
	if err != nil {
		t.Fatalf("the staff listener over HTTPS: %v", err)
	}
	resp.Body.Close()
	if resp.TLS == nil || resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("the staff listener: %s, %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	// The staff web there: under the example's staff.require_2fa the
	// password leads to TOTP enrolment before anything else, with a
	// __Host- cookie.
	web.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err = web.PostForm("https://"+staffPort+"/login", url.Values{"username": {staff}, "password": {password}})
	if err != nil {
		t.Fatalf("the staff web's sign-in: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login/enrol" || !strings.HasPrefix(resp.Header.Get("Set-Cookie"), "__Host-sigill-staff=") {
		t.Errorf("signing in to the staff web under staff.require_2fa: %s → %q, cookie %q", resp.Status, resp.Header.Get("Location"), resp.Header.Get("Set-Cookie"))
	}

	// The SSRF guard of serve: webhooks to loopback, private and link-local
	// addresses are refused, one api.webhook_allow names is taken.
	key := createKey(t, "create", staff, "-config", path)
	for url, want := range map[string]int{
		"https://127.0.0.1:" + strings.Split(staffPort, ":")[1] + "/": 422, "https://10.1.2.3/h": 422,
		"https://169.254.169.254/latest/meta-data/": 422, "https://localhost/h": 422,
		"https://192.0.2.10/h": 201,
	} {
		body, _ := json.Marshal(map[string]any{"url": url, "events": []string{"message.replied"}})
		req, _ := http.NewRequest("POST", "https://"+staffPort+"/api/v1/webhooks", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := web.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || (want == 422 && !strings.Contains(string(answer), `"field":"url"`)) {
			t.Errorf("serve, a webhook to %s: %d %s; want %d", url, resp.StatusCode, answer, want)
		}
	}

	imapc, err := imapclient.DialTLS(ports["0.0.0.0:993"], &imapclient.Options{TLSConfig: insecure})
	if err != nil {
		t.Fatal(err)
	}
	defer imapc.Close()
	if err := imapc.Login(staff, appPassword).Wait(); err != nil {
		t.Fatalf("IMAP LOGIN over TLS: %v", err)
	}
	if _, err := imapc.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("SELECT INBOX: %v", err)
	}
}

// freePort finds a free loopback port for a process the test starts. It
// draws from 20000-32767, below the kernel's ephemeral range: a port the
// kernel handed out (Listen on :0) is free again once checked, and the next
// outgoing connection of any test may take it before the process binds it.
// A port is handed out once per test binary: a config's listeners are
// all picked before the process binds any, and two of them drawn alike
// would make serve refuse its own second listener.
func freePort(t *testing.T) string {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 100 {
		port := 20000 + rand.IntN(12768)
		if handedOut.ports[port] {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			handedOut.ports[port] = true
			return addr
		}
	}
	t.Fatal("no free port in 20000-32767")
	return ""
}

var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

func waitPort(t *testing.T, addr string, log fmt.Stringer) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
	}
	t.Fatalf("nothing listens on %s; the log:\n%s", addr, log.String())
}
