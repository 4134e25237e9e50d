package notifier

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sigill/config"
	"sigill/config/configtest"
	"sigill/vault"
)

// TestDevOutbox: in dev both channels go to outbox.jsonl as one JSON line
// each, with the errand and the link and nothing of the body, and
// /dev/outbox shows them newest first, escaped.
func TestDevOutbox(t *testing.T) {
	dir := t.TempDir()
	lp, err := NewLogProvider(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	e.start(lp, nil)
	a := acceptOne(t, e.v, "Provsvar <b>fet</b>", smsTo("+46701234567", pn1, "sv"))
	e.n.Kick()
	waitFor(t, "the SMS line", func() bool { return countKind(t, e.v, a.ID, vault.EventNotified) == 1 })
	b := acceptOne(t, e.v, "Kallelse", emailTo("anna@example.org", pn2, "en"))
	e.n.Kick()
	waitFor(t, "the e-mail line", func() bool { return countKind(t, e.v, b.ID, vault.EventNotified) == 1 })

	raw, err := os.ReadFile(filepath.Join(dir, OutboxFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(bodyCanary)) {
		t.Fatal("the body is in outbox.jsonl")
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), raw)
	}
	for i, c := range []struct {
		channel, to, errand string
		a                   vault.Accepted
	}{{"sms", "+46701234567", "Provsvar <b>fet</b>", a}, {"email", "anna@example.org", "Kallelse", b}} {
		var m map[string]string
		if err := json.Unmarshal([]byte(lines[i]), &m); err != nil {
			t.Fatal(err)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, []string{"channel", "id", "link", "message_id", "text", "to"}) {
			t.Errorf("line %d keys %v", i, keys)
		}
		// The id is the one recorded, which a lookup after a crash finds.
		evs, _ := e.v.Events(c.a.ID)
		if ev := evs[len(evs)-1]; ev.Kind != vault.EventNotified || ev.ProviderID != m["id"] {
			t.Errorf("line %d id %q, notified event %+v", i, m["id"], ev)
		}
		link := linkBase + "/m/" + c.a.Tokens[0]
		if m["channel"] != c.channel || m["to"] != c.to || m["link"] != link || m["message_id"] != c.a.ID ||
			!strings.Contains(m["text"], c.errand) || !strings.Contains(m["text"], link) {
			t.Errorf("line %d: %v", i, m)
		}
	}
	evs, _ := e.v.Events(b.ID)
	if ev := evs[len(evs)-1]; ev.Detail != "log" || ev.ProviderID == "" {
		t.Errorf("e-mail notified event %+v: want the log provider", ev)
	}

	page := httptest.NewRecorder()
	e.n.DevOutbox().ServeHTTP(page, httptest.NewRequest(http.MethodGet, "/dev/outbox", nil))
	body := page.Body.String()
	if page.Code != http.StatusOK || !strings.Contains(page.Header().Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("page: %d, CSP %q", page.Code, page.Header().Get("Content-Security-Policy"))
	}
	if strings.Contains(body, "<b>fet</b>") || !strings.Contains(body, "&lt;b&gt;fet&lt;/b&gt;") {
		t.Error("the errand is not escaped on the page")
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "src=") || strings.Contains(body, "<link") {
		t.Error("the page loads something")
	}
	if ia, ib := strings.Index(body, a.ID), strings.Index(body, b.ID); ia < 0 || ib < 0 || ib > ia {
		t.Error("the page does not show the newest first")
	}
	if !strings.Contains(body, `href="`+linkBase+"/m/"+a.Tokens[0]+`"`) {
		t.Error("the page does not link the notification")
	}
	post := httptest.NewRecorder()
	lp.ServeHTTP(post, httptest.NewRequest(http.MethodPost, "/dev/outbox", nil))
	if post.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /dev/outbox: %d", post.Code)
	}
}

// TestEmptyOutboxPage: no file yet is an empty page, not an error.
func TestEmptyOutboxPage(t *testing.T) {
	lp, err := NewLogProvider(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	lp.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/dev/outbox", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Nothing yet") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

func TestNewSMSProvider(t *testing.T) {
	dir := t.TempDir()
	if p, err := NewSMSProvider(config.SMS{Provider: "log"}, dir); err != nil || p.Name() != "log" {
		t.Errorf("log: %v, %v", p, err)
	}
	if p, err := NewSMSProvider(config.SMS{Provider: "46elks", URL: "https://api.46elks.com/a1/sms", Username: "u", Password: "p"}, dir); err != nil || p.Name() != "46elks" {
		t.Errorf("46elks: %v, %v", p, err)
	}
	if p, err := NewSMSProvider(config.SMS{Provider: "webhook", URL: "https://sms.example.se/send", Password: "a-secret-of-32-bytes-or-so-here"}, dir); err != nil || p.Name() != "webhook" {
		t.Errorf("webhook: %v, %v", p, err)
	}
	for _, bad := range []config.SMS{
		{Provider: "carrier-pigeon"},
		{Provider: "46elks", URL: "https://api.46elks.com/a1/sms", Username: "u"},
		{Provider: "46elks", URL: "api.46elks.com", Username: "u", Password: "p"},
		{Provider: "webhook", URL: "https://sms.example.se/send", Password: "short"},
		{Provider: "log"}, // with no data folder, below
	} {
		d := dir
		if bad.Provider == "log" {
			d = ""
		}
		if _, err := NewSMSProvider(bad, d); err == nil {
			t.Errorf("%+v: accepted", bad)
		}
	}
}

// TestFromConfig: the dev configuration gives the log provider for both
// channels; the example production file gives 46elks and the smarthost.
func TestFromConfig(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dev := config.Dev(t.TempDir(), 0)
	v := openVault(t, nil)
	n, err := FromConfig(dev, v, log)
	if err != nil {
		t.Fatal(err)
	}
	lp, ok := n.sms.(*LogProvider)
	if !ok || n.mail != lp.Mail() || n.DevOutbox() != http.Handler(lp) || n.o.PollEvery > 250*time.Millisecond {
		t.Errorf("dev: sms %T, mail %T, poll %v", n.sms, n.mail, n.o.PollEvery)
	}
	if want := filepath.Join(dev.DataDir, OutboxFile); !ok || lp.Path() != want {
		t.Errorf("dev outbox at %s, want %s", lp.Path(), want)
	}

	cfg, err := config.Load(configtest.Example(t, time.Now().Add(365*24*time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	// A configuration that passed Load has what NewElks needs; one built
	// by hand without it is still refused, naming the key.
	cfg.Notifier.SMS.Username = ""
	if _, err := FromConfig(cfg, v, log); err == nil || !strings.Contains(err.Error(), "notifier.sms.username") {
		t.Errorf("46elks without a username: %v, want the key named", err)
	}
	cfg.Notifier.SMS.Username = "u1234"
	n, err = FromConfig(cfg, v, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := n.sms.(*Elks); !ok || n.DevOutbox() != nil {
		t.Errorf("production SMS provider %T", n.sms)
	}
	if s, ok := n.mail.(*SMTPSender); !ok || s.From() != "noreply@secure.example.se" {
		t.Errorf("production mail sender %T", n.mail)
	}
	if n.o.ReportURL != "https://read.example.se/hooks/sms" || n.o.Workers != 8 || n.o.MaxAge != 48*time.Hour || n.link != "https://read.example.se/m/" {
		t.Errorf("options %+v", n.o)
	}
}

// TestLogAroundWraps: the log provider is a decorator. Around 46elks, each
// SMS goes to 46elks and its line, with 46elks' id and the job's message and
// link (from the send's origin, not the wire types), to outbox.jsonl; the
// event names 46elks, delivery reports are 46elks' own, and /readyz checks
// 46elks. Wrapping nothing, it takes no reports and has no check.
func TestLogAroundWraps(t *testing.T) {
	dir := t.TempDir()
	elks := newFakeElks(t)
	lp, err := LogAround(dir, elks.provider(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	e.start(lp, nil)
	a := acceptOne(t, e.v, "Provsvar", smsTo("+46701234567", pn1, "sv"))
	e.n.Kick()
	waitFor(t, "notified", func() bool { return countKind(t, e.v, a.ID, vault.EventNotified) == 1 })
	sent := elks.sent()
	if len(sent) != 1 {
		t.Fatalf("%d SMS at 46elks, want 1", len(sent))
	}
	entries, err := lp.Entries(0)
	if err != nil {
		t.Fatal(err)
	}
	link := linkBase + "/m/" + a.Tokens[0]
	if len(entries) != 1 || entries[0].ID != sent[0].ID || entries[0].MessageID != a.ID || entries[0].Link != link || entries[0].Text != sent[0].Message {
		t.Fatalf("outbox.jsonl %+v; 46elks took %+v", entries, sent[0])
	}
	evs, _ := e.v.Events(a.ID)
	if ev := evs[len(evs)-1]; ev.Detail != "46elks" || ev.ProviderID != sent[0].ID {
		t.Errorf("notified event %+v, want 46elks' id", ev)
	}
	if code := elks.report(sent[0], "delivered"); code != http.StatusOK || countKind(t, e.v, a.ID, vault.EventDelivered) != 1 {
		t.Errorf("46elks' report through the log provider: HTTP %d, events %v", code, eventKinds(t, e.v, a.ID))
	}
	if check, ok := e.n.Checks()["sms"]; !ok || check(context.Background()) != nil {
		t.Error("no check of the wrapped 46elks")
	}

	bare := newEnv(t)
	plain, err := NewLogProvider(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bare.start(plain, nil)
	if _, ok := bare.n.Checks()["sms"]; ok {
		t.Error("the log provider wrapping nothing has a check")
	}
	resp, err := http.PostForm(bare.hooks.URL+"/hooks/sms", url.Values{"id": {"log-1"}, "status": {"delivered"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("a report to the log provider wrapping nothing: HTTP %d, want 404", resp.StatusCode)
	}
}
