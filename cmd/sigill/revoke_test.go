package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"sigill/config"
	"sigill/config/configtest"
	"sigill/internal/devpki"
	"sigill/internal/testenv"
	"sigill/notifier"
	"sigill/vault"
	"sigill/vault/vaulttest"
)

// linkJSON asks a link's JSON endpoint as a script does.
func linkJSON(t *testing.T, link string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", link+"/message.json", nil)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitForReceiptOf logs in over IMAP and returns the receipt in INBOX whose
// X-Sigill-Receipt header starts with what, once there is one.
func waitForReceiptOf(t *testing.T, addr, user, password, what string) []byte {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, password).Wait(); err != nil {
		t.Fatalf("IMAP LOGIN: %v", err)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		box, err := c.Select("INBOX", nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if box.NumMessages > 0 {
			all := imap.SeqSet{}
			all.AddRange(1, box.NumMessages)
			msgs, err := c.Fetch(all, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
			if err != nil {
				t.Fatalf("FETCH BODY[]: %v", err)
			}
			for _, m := range msgs {
				if len(m.BodySection) == 1 && bytes.Contains(m.BodySection[0].Bytes, []byte("\r\nX-Sigill-Receipt: "+what)) {
					return m.BodySection[0].Bytes
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no receipt %q in INBOX within 15 s", what)
		}
	}
}

// TestRevokeInDev, against the built `sigill dev`: a message sent over
// SMTP to two recipients is withdrawn for one with `sigill message revoke`
// (through the running daemon's admin listener); that link's page says
// withdrawn with the errand and the sender and its JSON answers 410, the
// other still opens; a copy of the data folder made after opens nothing
// of the withdrawn copy with its token; the sender finds the DSN in IMAP,
// threaded with the sent mail. Then a message sent through the REST API is
// withdrawn with Python's urllib and curl.
func TestRevokeInDev(t *testing.T) {
	curl := testenv.Tool(t, "curl", "curl")
	python := testenv.Tool(t, "python3", "python3")
	data := t.TempDir()
	d := startDev(t, data)
	c, err := smtp.Dial(d.addr(config.DevSubmissionPort))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewLoginClient(config.DevAccount, devPassword)); err != nil {
		t.Fatal(err)
	}
	// Two recipients: the first is withdrawn, the second kept.
	if err := c.Mail(config.DevAccount, nil); err != nil {
		t.Fatal(err)
	}
	for _, rcpt := range []string{devRcpt, "anna.svensson=example.com&login=199908072391&@secure.test"} {
		if err := c.Rcpt(rcpt, nil); err != nil {
			t.Fatal(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "From: <"+config.DevAccount+">\r\nSubject: Provsvar-tillbaka\r\nMessage-ID: <revoke-1@staff.test>\r\n\r\nHej! Ditt provsvar är klart.\r\n")
	resp, err := w.CloseWithResponse()
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(resp.StatusText, "2.0.0 "), " queued")
	links := map[string]string{}
	for _, n := range waitForNotifications(t, data, id, 2) {
		links[n.To] = n.Link
	}
	withdrawn, kept := links["+46701234567"], links["anna.svensson@example.com"]
	if withdrawn == "" || kept == "" {
		t.Fatalf("notifications: %v", links)
	}
	token := withdrawn[strings.LastIndex(withdrawn, "/")+1:]

	out, stderr, code := run(t, "", "message", "revoke", "-data", data, "-recipient", "0", "-reason", "fel mottagare", id)
	if code != 0 || !strings.Contains(out, id+": withdrawn for recipient 0") || stderr != "" {
		t.Fatalf("message revoke: exit %d\n%s%s", code, out, stderr)
	}
	if out, _, code := run(t, "", "message", "revoke", "-data", data, "-recipient", "0", id); code != 0 || !strings.Contains(out, "already withdrawn for recipient 0") {
		t.Errorf("message revoke again: exit %d, %s", code, out)
	}
	if _, stderr, code := run(t, "", "message", "revoke", "-data", data, "-reason", "avsett för 199908072391", id); code != 2 || !strings.Contains(stderr, "personal number") || strings.Contains(stderr, "199908072391") {
		t.Errorf("a reason with a personal number: exit %d, %s", code, stderr)
	}
	if _, stderr, code := run(t, "", "message", "revoke", "-data", data, "nosuchmessage"); code != 1 || !strings.Contains(stderr, "not found") {
		t.Errorf("unknown message: exit %d, %s", code, stderr)
	}

	status, page := getPage(t, withdrawn)
	if status != 200 || !strings.Contains(page, "Meddelandet har dragits tillbaka") || !strings.Contains(page, "Provsvar-tillbaka") || !strings.Contains(page, config.DevAccount) || strings.Contains(page, "fel mottagare") {
		t.Errorf("the withdrawn link's page: %d\n%s", status, page)
	}
	if status, body := linkJSON(t, withdrawn); status != http.StatusGone || !strings.Contains(body, `"withdrawn"`) {
		t.Errorf("the withdrawn link's JSON: %d %s", status, body)
	}
	if status, page := getPage(t, kept); status != 200 || !strings.Contains(page, "Kan läsas till") {
		t.Errorf("the other link: %d", status)
	}

	// A copy of the data folder made now, with the key file and key store,
	// opens nothing of the withdrawn copy with its token; the kept one opens.
	keptToken := kept[strings.LastIndex(kept, "/")+1:]
	r := vaulttest.Scan(stolenDataFolder(t, data, nil, []string{token, keptToken}))
	for _, f := range r.Of(id) {
		if f.Token == token && (f.What == "message key" || f.What == "content") {
			t.Errorf("a copy made after the withdrawal opens it: %s", f)
		}
	}
	if r.WrappedKeys < 2 || !r.Has(id, "content") {
		t.Errorf("control: the kept copy does not open from the copy (%d wrapped keys): %v", r.WrappedKeys, r.Of(id))
	}

	dsn := waitForReceiptOf(t, d.addr(config.DevIMAPPort), config.DevAccount, devPassword, "revoked; message="+id+"; recipient=0")
	if !bytes.Contains(dsn, []byte("In-Reply-To: <revoke-1@staff.test>")) || !strings.Contains(reportPart(t, dsn, "message/delivery-status"), "Diagnostic-Code: X-Sigill; withdrawn: fel mottagare") {
		t.Errorf("the DSN:\n%s", dsn)
	}

	// The REST API: withdraw a message sent through it, with urllib, then
	// ask again with curl; the link says withdrawn.
	base := "http://" + d.addr(config.DevStaffPort)
	key := createKey(t, "create", config.DevAccount, "-data", data)
	sent := pySend(t, python, base, key, "revoke-1", "Remiss-tillbaka")
	var m struct{ ID string }
	if sent.status != "201" || json.Unmarshal([]byte(sent.body), &m) != nil {
		t.Fatalf("urllib send: %+v", sent)
	}
	apiLink := waitForNotification(t, data, m.ID).Link
	out2, err := exec.Command(python, "-c", revokePython, base, key, m.ID).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out2), "200\n") || !strings.Contains(string(out2), `"status":"revoked"`) || !strings.Contains(string(out2), `"reason":"skickat av misstag"`) {
		t.Errorf("urllib revoke: %v\n%s", err, out2)
	}
	again, err := exec.Command(curl, "-sS", "-w", "\n%{http_code}", "-X", "POST", "-H", "Authorization: Bearer "+key, base+"/api/v1/messages/"+m.ID+"/revoke").Output()
	if err != nil || !strings.HasSuffix(string(again), "\n200") {
		t.Errorf("curl revoke again: %v\n%s", err, again)
	}
	if status, body := linkJSON(t, apiLink); status != http.StatusGone {
		t.Errorf("the API message's link after the withdrawal: %d %s", status, body)
	}
	feed, err := exec.Command(curl, "-sSf", "-H", "Authorization: Bearer "+key, base+"/api/v1/events").Output()
	if err != nil || strings.Count(string(feed), `"type":"revoked"`) != 2 {
		t.Errorf("the event feed: %v\n%s", err, feed)
	}
}

// revokePython withdraws a message through the REST API with urllib and
// prints the status and the body.
const revokePython = `
import json, sys, urllib.request, urllib.error
base, key, id = sys.argv[1:4]
req = urllib.request.Request(base + "/api/v1/messages/" + id + "/revoke", method="POST",
    data=json.dumps({"reason": "skickat av misstag"}).encode(),
    headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
try:
    resp = urllib.request.urlopen(req)
except urllib.error.HTTPError as e:
    resp = e
print(resp.status)
print(resp.read().decode())
`

// gatedWebhook is the SMS webhook of a provider that is down until opened:
// it answers 503 until then, and records the numbers it took after.
type gatedWebhook struct {
	mu      sync.Mutex
	open    bool
	refused int
	taken   []string // the numbers of the SMS taken
}

func (g *gatedWebhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m struct{ To string }
	body, _ := io.ReadAll(r.Body)
	if r.Header.Get(notifier.SignatureHeader) != notifier.Sign([]byte(smsSecret), body) || json.Unmarshal(body, &m) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.open {
		g.refused++
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	g.taken = append(g.taken, m.To)
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":"wh-%d"}`, len(g.taken))
}

func (g *gatedWebhook) state() (refused int, taken []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.refused, append([]string(nil), g.taken...)
}

// TestRevokePendingNotSentInServe, against the built `sigill serve`: the
// SMS provider is down, so a message's two notifications wait for their
// retry; the first recipient is withdrawn meanwhile with `sigill message
// revoke`; once the provider is back, only the second recipient's SMS goes
// out, and the outbox is empty. (It waits out the first retry, 15–30 s.)
func TestRevokePendingNotSentInServe(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a retry of serve's notifier")
	}
	pki, err := devpki.New(filepath.Join(t.TempDir(), "pki"))
	if err != nil {
		t.Fatal(err)
	}
	hook := &gatedWebhook{}
	srv := httptest.NewUnstartedServer(hook)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.Server}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	path, ports := serveConfig(t, func(dir string, ports map[string]string) map[string]string {
		configtest.Write(t, filepath.Join(dir, "secrets/sms-password"), []byte(smsSecret+"\n"))
		return map[string]string{
			`provider = "46elks"`:                   `provider = "webhook"`,
			`url = "https://api.46elks.com/a1/sms"`: `url = "` + srv.URL + `/sms"`,
			`link_base = "https://read.example.se"`: `link_base = "https://` + ports["0.0.0.0:443"] + `"`,
			`smarthost = "mail.example.se:587"`:     `smarthost = "127.0.0.1:1"`,
			`mail_to_sender = true`:                 `mail_to_sender = false`,
		}
	})
	var log testenv.SyncBuffer
	serve := exec.Command(sigillBin, "serve", "-config", path)
	serve.Env = append(os.Environ(), "SSL_CERT_FILE="+filepath.Join(pki.Dir, "ca.pem"))
	serve.Stderr = &log
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { serve.Process.Kill(); serve.Wait() })
	waitPort(t, ports["0.0.0.0:25"], &log)

	// Through the relay, from the organisation's MTA: two SMS recipients.
	c, err := smtp.Dial(ports["0.0.0.0:25"])
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("mta@example.se", nil); err != nil {
		t.Fatal(err)
	}
	for _, rcpt := range []string{"0701234501&login=199908072391&@secure.example.se", "0701234502&login=198611239883&@secure.example.se"} {
		if err := c.Rcpt(rcpt, nil); err != nil {
			t.Fatal(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "From: <mta@example.se>\r\nSubject: Provsvar\r\n\r\nHej! Ditt provsvar är klart.\r\n")
	resp, err := w.CloseWithResponse()
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(resp.StatusText, "2.0.0 "), " queued")

	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if refused, _ := hook.state(); refused >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the provider was not tried for both recipients; serve's log:\n%s", log.String())
		}
	}
	if out, stderr, code := run(t, "", "message", "revoke", "-config", path, "-recipient", "0", id); code != 0 || !strings.Contains(out, "withdrawn for recipient 0") {
		t.Fatalf("message revoke: exit %d\n%s%s", code, out, stderr)
	}
	hook.mu.Lock()
	hook.open = true
	hook.mu.Unlock()
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		stdout, _, code := run(t, "", "vault", "-config", path, "stats")
		var st vault.Stats
		if code == 0 && json.Unmarshal([]byte(stdout), &st) == nil && st.Outbox == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the outbox is not empty after 90 s: %s\n%s", stdout, log.String())
		}
	}
	if _, taken := hook.state(); !slices.Equal(taken, []string{"+46701234502"}) {
		t.Errorf("SMS taken for %v; want only the recipient still there, +46701234502", taken)
	}
	serve.Process.Signal(syscall.SIGTERM)
	if err := serve.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v\n%s", err, log.String())
	}
}

// TestMessageRevokeUsage: usage errors exit 2 with the reason, before any
// vault is opened.
func TestMessageRevokeUsage(t *testing.T) {
	data := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"revoke"}, "missing the message ID"},
		{[]string{"revoke", "a", "b"}, `unexpected argument "b"`},
		{[]string{"revoke", "-recipient", "-2", "id"}, "-recipient -2 is not a recipient"},
		{[]string{"revoke", "-reason", strings.Repeat("x", 501), "id"}, "write at most 500"},
		{[]string{"expire", "-reason", "x", "id", "1h"}, "-recipient and -reason are revoke's"},
		{[]string{"withdraw", "id"}, "write expire or revoke"},
	} {
		_, stderr, code := run(t, "", append([]string{"message", "-data", data}, c.args...)...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("message %v: exit %d, %s; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
}
