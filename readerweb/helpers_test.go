package readerweb

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigill/addressing"
	"sigill/bankid"
	"sigill/bankid/bankidsim"
	"sigill/intake"
	"sigill/internal/testenv"
	"sigill/receipts"
	"sigill/receipts/mailbox"
	"sigill/vault"
)

var testOrg = receipts.Org{Name: "Vårdcentralen Exempel", Hostname: "localhost", From: "noreply@secure.test"}

// testMaxReply is the tests' smtp.max_message_bytes, for replies.
const testMaxReply = 64 << 10

// Skatteverket's test personal numbers, the only ones tests use.
const (
	pnA = "199908072391"
	pnB = "198611239883"
	pnC = "200211242383"
)

func newFakeClock() *testenv.Clock {
	return testenv.NewClock(time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC))
}

// env is a vault, the BankID simulator over mTLS on 127.0.0.1, a client for
// it and the reader's server on an httptest server.
type env struct {
	t   testing.TB
	v   *vault.Vault
	sim *bankidsim.Simulator
	rw  *Server
	ts  *httptest.Server
	// boxes holds the mailboxes replies are filed in.
	boxes *mailbox.Store
}

type envConfig struct {
	simClock   func() time.Time
	vaultClock func() time.Time
	opts       func(*Options)
	realLimits bool // keep the production rate limits (tests of them)
}

func newEnv(t testing.TB, cfgs ...envConfig) *env {
	t.Helper()
	var cfg envConfig
	if len(cfgs) > 0 {
		cfg = cfgs[0]
	}
	pki := testenv.DevPKI(t)
	sim := &bankidsim.Simulator{Now: cfg.simClock}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := sim.Server(pki)
	srv.ErrorLog = log.New(io.Discard, "", 0)
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	client, err := bankid.NewClient(bankidsim.ClientConfig(pki, "https://"+ln.Addr().String()+"/rp/v6.0/"))
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}

	boxes := mailbox.New(mailbox.Options{
		Org:       testOrg,
		ReplyCopy: "kansli@staff.test", Limits: intake.Rules{MaxBytes: testMaxReply}, Now: cfg.vaultClock,
	})
	v, err := vault.Open(vault.Options{Path: filepath.Join(t.TempDir(), "sigill.db"), Now: cfg.vaultClock, Hooks: []vault.Hook{boxes.Hook(), Hook()}})
	if err != nil {
		t.Fatalf("vault.Open: %v", err)
	}
	boxes.Attach(v)
	o := Options{
		Vault:           v,
		Replies:         boxes,
		MaxReplyBytes:   testMaxReply,
		BankID:          client,
		OrgName:         "Vårdcentralen Exempel",
		DefaultLang:     "sv",
		UserVisibleText: "Logga in för att läsa ett säkert meddelande",
		SessionTTL:      15 * time.Minute,
	}
	o.collectEvery = 20 * time.Millisecond
	o.takeoverEvery = 20 * time.Millisecond
	if !cfg.realLimits {
		o.limits = looseLimits()
	}
	if cfg.opts != nil {
		cfg.opts(&o)
	}
	rw, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(rw.Handler())
	t.Cleanup(func() {
		ts.Close()
		rw.Close()
		client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("simulator: %v", err)
		}
		v.Close()
	})
	return &env{t: t, v: v, sim: sim, rw: rw, ts: ts, boxes: boxes}
}

// looseLimits keep the rate limits out of the way of tests about other
// things, which poll fast.
func looseLimits() *limits {
	return &limits{
		ip:          newLimiterSet(1e6, 1e6, maxLimiterKeys),
		ipOrders:    newLimiterSet(1e6, 1e6, maxLimiterKeys),
		token:       newLimiterSet(1e6, 1e6, maxLimiterKeys),
		tokenOrders: newLimiterSet(1e6, 1e6, maxLimiterKeys),
		link:        newLimiterSet(1e6, 1e6, maxLimiterKeys),
		linkOrders:  newLimiterSet(1e6, 1e6, maxLimiterKeys),
		replies:     newLimiterSet(1e6, 1e6, maxLimiterKeys),
	}
}

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "mail", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func recipient(logins ...string) addressing.Recipient {
	if logins == nil {
		logins = []string{}
	}
	return addressing.Recipient{Channel: addressing.SMS, To: "+46701234567", Logins: logins, Born: []string{}, Lang: "sv"}
}

// accept stores raw for rcpt and returns the message id and link token.
func (e *env) accept(errand string, raw []byte, rcpt addressing.Recipient) (string, string) {
	e.t.Helper()
	return e.acceptFrom("dev@staff.test", "dev@staff.test", errand, raw, rcpt)
}

// acceptFrom is accept for a message from account (submission) or, when
// account is "", relayed with the envelope sender.
func (e *env) acceptFrom(account, envelope, errand string, raw []byte, rcpt addressing.Recipient) (string, string) {
	e.t.Helper()
	a, err := e.v.Accept(context.Background(), vault.Incoming{
		Sender: envelope, Account: account, Errand: errand, Raw: raw,
		Recipients: []vault.Recipient{{Address: "0701234567&login=x@secure.test", Recipient: rcpt}},
	})
	if err != nil {
		e.t.Fatalf("Accept: %v", err)
	}
	return a.ID, a.Tokens[0]
}

// events returns the kinds of a message's events after "accepted".
func (e *env) events(id string) []vault.Event {
	e.t.Helper()
	evs, err := e.v.Events(id)
	if err != nil {
		e.t.Fatalf("Events: %v", err)
	}
	var out []vault.Event
	for _, ev := range evs {
		if ev.Kind != vault.EventAccepted {
			out = append(out, ev)
		}
	}
	return out
}

// browser is one browser: its own cookie jar.
type browser struct {
	e *env
	c *http.Client
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{
		Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

type resp struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(req *http.Request) resp {
	b.e.t.Helper()
	r, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	return resp{status: r.StatusCode, header: r.Header, body: string(body)}
}

func (b *browser) get(path string, hdr ...string) resp {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.e.ts.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return b.do(req)
}

func (b *browser) head(path string) resp {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodHead, b.e.ts.URL+path, nil)
	return b.do(req)
}

func (b *browser) postForm(path string, form url.Values, hdr ...string) resp {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.e.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return b.do(req)
}

// start posts the JSON start of an order as the page's script does.
func (b *browser) start(token, device string) authStart {
	b.e.t.Helper()
	r := b.postForm("/m/"+token+"/auth", url.Values{"device": {device}}, "Accept", "application/json")
	if r.status != http.StatusOK {
		b.e.t.Fatalf("POST auth: %d %s", r.status, r.body)
	}
	var a authStart
	mustJSON(b.e.t, r.body, &a)
	return a
}

func (b *browser) poll(token string) (authStatus, int) {
	b.e.t.Helper()
	r := b.get("/m/"+token+"/auth", "Accept", "application/json")
	var st authStatus
	mustJSON(b.e.t, r.body, &st)
	return st, r.status
}

// waitStatus polls until the order leaves pending (or the time is up).
func (b *browser) waitStatus(token string) authStatus {
	b.e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ := b.poll(token)
		if st.Status != "pending" || time.Now().After(deadline) {
			return st
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitOrder waits until the server's collector has seen the order leave
// pending, without asking through any session.
func (e *env) waitOrder(pred func(o *order) bool) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		e.rw.mu.Lock()
		for _, ss := range e.rw.sessions {
			if ss.order != nil && pred(ss.order) {
				e.rw.mu.Unlock()
				return
			}
		}
		e.rw.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	e.t.Fatal("timed out waiting for the order")
}

func (b *browser) cookie() string {
	u, _ := url.Parse(b.e.ts.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "sigill" {
			return c.Value
		}
	}
	return ""
}

func (b *browser) setCookie(value string) {
	u, _ := url.Parse(b.e.ts.URL)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "sigill", Value: value, Path: "/"}})
}

func mustJSON(t testing.TB, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("decoding %q: %v", body, err)
	}
}

// openWithQR runs the whole QR flow as person pn and returns the final poll.
func (b *browser) openWithQR(token, pn string) authStatus {
	b.e.t.Helper()
	b.start(token, "other")
	st, _ := b.poll(token)
	if st.Status != "pending" || !strings.HasPrefix(st.QR, "bankid.") {
		b.e.t.Fatalf("poll after start: %+v", st)
	}
	if _, err := b.e.sim.Approve(bankidsim.PhoneRequest{QR: st.QR, PersonalNumber: pn}); err != nil {
		b.e.t.Fatalf("Approve: %v", err)
	}
	return b.waitStatus(token)
}
