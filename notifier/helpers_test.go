package notifier

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sigill/internal/testenv"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"sigill/addressing"
	"sigill/vault"
)

// The only personal numbers test data may use.
const (
	pn1 = "199908072391"
	pn2 = "198611239883"
	pn3 = "200211242383"
)

const (
	orgName   = "Region Exempel"
	smsSender = "RegionEx"
	linkBase  = "https://read.example.se"
)

func newClock() *testenv.Clock { return testenv.NewClock(time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)) }

// waitFor polls cond until it holds or the deadline passes. The deadline is
// generous: it only bounds a test that would otherwise hang.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func openVault(t testing.TB, now func() time.Time) *vault.Vault {
	t.Helper()
	v, err := vault.Open(vault.Options{Path: filepath.Join(t.TempDir(), "sigill.db"), Now: now, Hooks: []vault.Hook{Hook()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func smsTo(number, login, lang string) vault.Recipient {
	return vault.Recipient{
		Address: strings.TrimPrefix(number, "+46") + "&login=" + login + "&@secure.example.se",
		Recipient: addressing.Recipient{
			Channel: addressing.SMS, To: number, Logins: []string{login}, Born: []string{}, Lang: lang,
		},
	}
}

func emailTo(addr, login, lang string) vault.Recipient {
	return vault.Recipient{
		Address: strings.ReplaceAll(addr, "@", "=") + "&login=" + login + "&@secure.example.se",
		Recipient: addressing.Recipient{
			Channel: addressing.Email, To: addr, Logins: []string{login}, Born: []string{}, Lang: lang,
		},
	}
}

// bodyCanary is in every test message's body: it must appear in no
// notification, log line or request.
const bodyCanary = "BODY-CANARY-d41d8cd98f00b204"

func acceptOne(t testing.TB, v *vault.Vault, errand string, rcpts ...vault.Recipient) vault.Accepted {
	t.Helper()
	raw := "From: Handläggare <staff@kommun.example.se>\r\nSubject: " + errand +
		"\r\nMessage-ID: <abc@kommun.example.se>\r\n\r\nHej! Beslutet: " + bodyCanary + "\r\n"
	a, err := v.Accept(context.Background(), vault.Incoming{
		Sender: "staff@kommun.example.se", Account: "staff@kommun.example.se",
		Errand: errand, MessageID: "abc@kommun.example.se", Raw: []byte(raw), Recipients: rcpts,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func eventKinds(t testing.TB, v *vault.Vault, id string) []vault.EventKind {
	t.Helper()
	evs, err := v.Events(id)
	if err != nil {
		t.Fatal(err)
	}
	var out []vault.EventKind
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return out
}

func countKind(t testing.TB, v *vault.Vault, id string, kind vault.EventKind) int {
	n := 0
	for _, k := range eventKinds(t, v, id) {
		if k == kind {
			n++
		}
	}
	return n
}

// waitForRetry waits for the vault's one job to have a retry scheduled,
// and returns it.
func waitForRetry(t testing.TB, v *vault.Vault) vault.Job {
	t.Helper()
	var j vault.Job
	waitFor(t, "the retry to be scheduled", func() bool {
		jobs := pending(t, v)
		if len(jobs) == 1 && jobs[0].LastError != "" {
			j = jobs[0]
			return true
		}
		return false
	})
	return j
}

func pending(t testing.TB, v *vault.Vault) []vault.Job {
	t.Helper()
	jobs, err := v.PendingJobs()
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

// fakeElks speaks 46elks' documented SMS API: POST /a1/sms, a form of from,
// to, message and whendelivered with Basic auth, answered with JSON; it
// posts delivery reports (form id, status, delivered) to whendelivered. It
// can refuse (5xx), be slow, and send reports twice or out of order.
type fakeElks struct {
	t    testing.TB
	srv  *httptest.Server
	user string
	pass string

	held      atomic.Int32 // sends answered only on release (holdAnswers)
	pageMax   atomic.Int32 // when > 0: at most this many SMS a page of GET /a1/sms
	lookups   atomic.Int32 // GET /a1/sms requests
	lookupErr atomic.Int32 // when not 0: answer GET /a1/sms with this status

	status atomic.Int32 // when not 0: answer every send with this status
	fail   atomic.Int32 // answer this many sends with 500 first
	delay  atomic.Int64 // ns to wait before answering the next slow sends
	slow   atomic.Int32 // how many sends are slow
	seq    atomic.Int64

	mu        sync.Mutex
	holdAfter int           // see holdAnswers
	release   chan struct{} // nil: no answer is held
	accepted  []elksSMS
	refused   int
	bodies    []string // every request body, for the canary check
}

type elksSMS struct {
	ID, From, To, Message, WhenDelivered string
	Created                              time.Time
	Status, Delivered                    string // "" is "created"
}

func newFakeElks(t testing.TB) *fakeElks {
	f := &fakeElks{t: t, user: "u1234", pass: "elks-secret-" + randomHex(4)}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func newTestServer(t testing.TB, h http.Handler) *httptest.Server {
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (f *fakeElks) URL() string { return f.srv.URL + "/a1/sms" }

func (f *fakeElks) provider(t testing.TB) *Elks {
	e, err := NewElks(ElksOptions{URL: f.URL(), Username: f.user, Password: f.pass})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (f *fakeElks) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/a1/sms" || r.Method != http.MethodPost && r.Method != http.MethodGet {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || u != f.user || p != f.pass {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	if r.Method == http.MethodGet {
		f.history(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.bodies = append(f.bodies, string(body))
	f.mu.Unlock()
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("from") == "" || form.Get("to") == "" || form.Get("message") == "" {
		http.Error(w, "Missing key from, to or message", http.StatusBadRequest)
		return
	}
	if f.slow.Add(-1) >= 0 {
		select {
		case <-time.After(time.Duration(f.delay.Load())):
		case <-r.Context().Done():
			return // the client gave up: nothing was sent
		}
	}
	refuse := 0
	if s := f.status.Load(); s != 0 {
		refuse = int(s)
	} else if f.fail.Add(-1) >= 0 {
		refuse = http.StatusInternalServerError
	}
	if refuse != 0 {
		f.mu.Lock()
		f.refused++
		f.mu.Unlock()
		http.Error(w, "Service temporarily unavailable", refuse)
		return
	}
	sms := elksSMS{
		ID:   fmt.Sprintf("s%032x", f.seq.Add(1)),
		From: form.Get("from"), To: form.Get("to"), Message: form.Get("message"),
		WhenDelivered: form.Get("whendelivered"),
	}
	f.mu.Lock()
	sms.Created = time.Now().UTC().Truncate(time.Microsecond) // as 46elks writes it
	f.accepted = append(f.accepted, sms)
	release := f.release
	hold := release != nil && len(f.accepted) > f.holdAfter
	f.mu.Unlock()
	if hold {
		f.held.Add(1)
		<-release
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(elksRecord(sms))
}

func elksRecord(sms elksSMS) map[string]any {
	r := map[string]any{
		"status": "created", "direction": "outgoing", "from": sms.From, "to": sms.To,
		"created": sms.Created.Format("2006-01-02T15:04:05.000000"), "parts": 1,
		"message": sms.Message, "cost": 3500, "id": sms.ID,
	}
	if sms.Status != "" {
		r["status"] = sms.Status
	}
	if sms.Delivered != "" {
		r["delivered"] = sms.Delivered
	}
	return r
}

// holdAnswers makes every send after the first after ones wait, accepted
// and in the log already, until release is called, before it is answered:
// a client that dies or gives up meanwhile never hears of it. held counts
// them. release may be called more than once.
func (f *fakeElks) holdAnswers(after int) (release func()) {
	ch := make(chan struct{})
	f.mu.Lock()
	f.holdAfter, f.release = after, ch
	f.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

// took puts an SMS in the log as if 46elks had taken it (from a process
// that died before it heard the answer).
func (f *fakeElks) took(sms elksSMS) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accepted = append(f.accepted, sms)
}

// history answers GET /a1/sms as 46elks documents it: the account's SMS
// newest first, filtered by to, created before start and after end, at
// most limit (100) a page; "next" is the start of the next page.
func (f *fakeElks) history(w http.ResponseWriter, r *http.Request) {
	f.lookups.Add(1)
	if s := f.lookupErr.Load(); s != 0 {
		http.Error(w, "Service temporarily unavailable", int(s))
		return
	}
	q := r.URL.Query()
	var start, end time.Time
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"start", &start}, {"end", &end}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.ParseInLocation("2006-01-02T15:04:05.999999", v, time.UTC)
			if err != nil {
				http.Error(w, "Bad "+p.name, http.StatusBadRequest)
				return
			}
			*p.t = t
		}
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			http.Error(w, "Bad limit", http.StatusBadRequest)
			return
		}
		limit = n
	}
	if m := int(f.pageMax.Load()); m > 0 {
		limit = min(limit, m)
	}
	all := f.sent()
	var match []elksSMS
	for i := len(all) - 1; i >= 0; i-- {
		s := all[i]
		if (q.Get("to") == "" || s.To == q.Get("to")) && (start.IsZero() || !s.Created.After(start)) && !s.Created.Before(end) {
			match = append(match, s)
		}
	}
	page := map[string]any{}
	data := []map[string]any{}
	for i, s := range match {
		if i == limit {
			page["next"] = s.Created.Format("2006-01-02T15:04:05.000000")
			break
		}
		data = append(data, elksRecord(s))
	}
	page["data"] = data
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(page)
}

func (f *fakeElks) sent() []elksSMS {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]elksSMS(nil), f.accepted...)
}

func (f *fakeElks) refusedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused
}

// report posts a delivery report for sms as 46elks does, to the URL it was
// given, and returns the HTTP status.
func (f *fakeElks) report(sms elksSMS, status string) int {
	f.t.Helper()
	form := url.Values{"id": {sms.ID}, "status": {status}}
	if status == "delivered" {
		form.Set("delivered", "2026-03-02T09:31:05.581795")
	}
	resp, err := http.PostForm(sms.WhenDelivered, form)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// env is a running notifier against a fresh vault.
type env struct {
	t      testing.TB
	clock  *testenv.Clock
	v      *vault.Vault
	n      *Notifier
	hooks  *httptest.Server
	logs   *testenv.SyncBuffer
	cancel context.CancelFunc
	done   chan error
}

// newEnv makes the vault and a report listener; start runs the notifier
// with the options mod adjusts.
func newEnv(t testing.TB) *env {
	e := &env{t: t, clock: newClock(), logs: &testenv.SyncBuffer{}}
	e.v = openVault(t, e.clock.Now)
	return e
}

func (e *env) start(sms SMSProvider, mod func(*Options)) *Notifier {
	e.t.Helper()
	var handler atomic.Pointer[http.Handler]
	e.hooks = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := handler.Load(); h != nil && r.URL.Path == "/hooks/sms" {
			(*h).ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	}))
	e.t.Cleanup(e.hooks.Close)
	o := Options{
		Vault: e.v, Workers: 4, MaxAge: 48 * time.Hour, LinkBase: linkBase,
		OrgName: orgName, SMSSender: smsSender, SMS: sms,
		ReportURL: e.hooks.URL + "/hooks/sms",
		Logger:    slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:       e.clock.Now, PollEvery: 5 * time.Millisecond,
	}
	if _, isLog := sms.(*LogProvider); !isLog {
		// A smarthost nobody listens on: e-mail jobs would only be retried.
		o.Email = mustSMTPSender(e.t, SMTPOptions{Addr: "127.0.0.1:1", From: "noreply@secure.example.se"})
	}
	if mod != nil {
		mod(&o)
	}
	n, err := New(o)
	if err != nil {
		e.t.Fatal(err)
	}
	h := n.ReportHandler()
	handler.Store(&h)
	ctx, cancel := context.WithCancel(context.Background())
	e.n, e.cancel, e.done = n, cancel, make(chan error, 1)
	go func() { e.done <- n.Run(ctx) }()
	e.t.Cleanup(e.stop)
	return n
}

func (e *env) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	e.cancel = nil
	select {
	case err := <-e.done:
		if err != nil {
			e.t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		e.t.Error("Run did not return after its context ended")
	}
}

// checkLogs fails the test if the logs carry a token, a link or the body.
func (e *env) checkLogs(tokens ...string) {
	e.t.Helper()
	logs := e.logs.String()
	for _, s := range append(tokens, bodyCanary, "/m/") {
		if s != "" && strings.Contains(logs, s) {
			e.t.Errorf("logs carry %q", s)
		}
	}
}

// advance moves the shared clock and wakes the workers.
func (e *env) advance(d time.Duration) {
	e.clock.Advance(d)
	e.n.Kick()
}

func mustSMTPSender(t testing.TB, o SMTPOptions) *SMTPSender {
	t.Helper()
	s, err := NewSMTPSender(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// smarthost is a real go-smtp server on 127.0.0.1 with STARTTLS (a
// throwaway certificate) and AUTH PLAIN, keeping what it receives.
type smarthost struct {
	srv      *smtp.Server
	addr     string
	roots    *x509.CertPool
	user     string
	pass     string
	rcptCode atomic.Int32 // when not 0: refuse RCPT with this code
	dropData atomic.Int32 // when > 0: keep the next message, then drop the connection without a reply

	mu   sync.Mutex
	msgs []smtpMsg
}

type smtpMsg struct {
	From string
	To   []string
	Data []byte
	TLS  bool
	User string
}

func newSmarthost(t testing.TB, startTLS bool) *smarthost {
	t.Helper()
	cert, roots := selfSigned(t)
	h := &smarthost{user: "notifier", pass: "smtp-secret-" + randomHex(4), roots: roots}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{h: h, c: c}, nil
	}))
	s.Domain = "smarthost.test"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	if startTLS {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	} else {
		s.AllowInsecureAuth = true
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	h.srv, h.addr = s, ln.Addr().String()
	return h
}

func (h *smarthost) options() SMTPOptions {
	return SMTPOptions{
		Addr: h.addr, Username: h.user, Password: h.pass, From: "noreply@secure.example.se",
		TLS: &tls.Config{RootCAs: h.roots},
	}
}

func (h *smarthost) received() []smtpMsg {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]smtpMsg(nil), h.msgs...)
}

type smtpSession struct {
	h    *smarthost
	c    *smtp.Conn
	user string
	msg  smtpMsg
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != s.h.user || pass != s.h.pass {
			return errors.New("invalid credentials")
		}
		s.user = user
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.msg = smtpMsg{From: from, User: s.user}
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if c := s.h.rcptCode.Load(); c != 0 {
		return &smtp.SMTPError{Code: int(c), EnhancedCode: smtp.EnhancedCode{int(c) / 100, 1, 1}, Message: "No such user here"}
	}
	s.msg.To = append(s.msg.To, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, s.msg.TLS = s.c.TLSConnectionState()
	s.msg.Data = b
	s.h.mu.Lock()
	s.h.msgs = append(s.h.msgs, s.msg)
	s.h.mu.Unlock()
	if s.h.dropData.Add(-1) >= 0 {
		s.c.Close()
	}
	return nil
}

func (s *smtpSession) Reset()        { s.msg = smtpMsg{} }
func (s *smtpSession) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smarthost.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// counterValue reads a counter (testutil would need modules go.mod lacks).
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
