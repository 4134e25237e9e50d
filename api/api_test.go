package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"sigill/addressing"
	"sigill/apikey"
	"sigill/intake"
	"sigill/vault"
	"sigill/vault/sentindex"
	"sigill/vault/vaulttest"
)

const staff = "anna@staff.test"

type env struct {
	t      *testing.T
	path   string
	v      *vault.Vault
	keys   *apikey.Store
	api    *Server
	srv    *httptest.Server
	router routers.Router
	doc    *openapi3.T
	send   string // a key with the default scopes
	hooks  []vault.Hook
	now    func() time.Time // the vault's clock; nil: time.Now
}

func options(v *vault.Vault, keys *apikey.Store) Options {
	return Options{
		Vault: v, Keys: keys,
		Policy:        addressing.Policy{Domains: []string{"secure.test"}, Region: "SE"},
		Rules:         intake.Rules{MaxBytes: 64 << 10, DefaultErrand: map[string]string{"sv": "Säkert meddelande", "en": "Secure message"}},
		MaxRecipients: 3,
		Hostname:      "localhost",
	}
}

// open opens the vault at path with the API's and the keys' tables and
// serves the API on 127.0.0.1.
func (e *env) open(mod func(*Options)) {
	e.keys = apikey.New()
	var err error
	e.v, err = vault.Open(vault.Options{Path: e.path, Now: e.now, Hooks: append([]vault.Hook{Hook(), sentindex.Hook(), e.keys.Hook()}, e.hooks...)})
	if err != nil {
		e.t.Fatal(err)
	}
	e.keys.Attach(e.v)
	o := options(e.v, e.keys)
	if mod != nil {
		mod(&o)
	}
	e.api = New(o)
	e.srv = httptest.NewServer(e.api.Handler())
}

func (e *env) close() {
	e.srv.Close()
	e.v.Close()
}

func newEnv(t *testing.T, mod func(*Options), hooks ...vault.Hook) *env {
	return newEnvAt(t, nil, mod, hooks...)
}

// newEnvAt is newEnv with the vault on the clock now.
func newEnvAt(t *testing.T, now func() time.Time, mod func(*Options), hooks ...vault.Hook) *env {
	e := &env{t: t, path: filepath.Join(t.TempDir(), "sigill.db"), hooks: hooks, now: now}
	e.open(mod)
	t.Cleanup(e.close)
	if err := e.v.AddAccount(staff, "a long enough password"); err != nil {
		t.Fatal(err)
	}
	e.send = e.key()
	// The document the server serves is the one responses are checked against.
	resp, err := http.Get(e.srv.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatalf("the served OpenAPI document does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the served OpenAPI document is not valid: %v", err)
	}
	e.doc = doc
	if e.router, err = legacy.NewRouter(doc); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) key(scopes ...string) string {
	_, key, err := e.keys.Create(context.Background(), staff, "test", scopes)
	if err != nil {
		e.t.Fatal(err)
	}
	return key
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("%d %s: %v", a.status, a.body, err)
	}
}

func (a answer) problem(t *testing.T) problem {
	t.Helper()
	if ct := a.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("a %d answered %q, not application/problem+json", a.status, ct)
	}
	var p problem
	a.json(t, &p)
	if p.Status != a.status || p.Detail == "" || !strings.HasPrefix(p.Type, problemType) {
		t.Errorf("problem %+v for a %d", p, a.status)
	}
	return p
}

// do sends a request and checks the answer against the served OpenAPI
// document: its status, headers and body must be what it declares.
func (e *env) do(method, path, key, idem string, body any) answer {
	e.t.Helper()
	var data []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		data = b
	case string:
		data = []byte(b)
	default:
		data, _ = json.Marshal(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(data))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	if data != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	e.validate(req, resp, got)
	return answer{resp.StatusCode, resp.Header, got}
}

func (e *env) validate(req *http.Request, resp *http.Response, body []byte) {
	e.t.Helper()
	route, params, err := e.router.FindRoute(req)
	if err != nil {
		if resp.StatusCode == http.StatusNotFound {
			return // a route the document does not have
		}
		e.t.Errorf("%s %s: not in the OpenAPI document: %v", req.Method, req.URL.Path, err)
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		e.t.Errorf("%s %s answered %d, which the OpenAPI document does not describe: %v\n%s", req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
}

func message(extra map[string]any) map[string]any {
	m := map[string]any{
		"subject":    "Provsvar",
		"text":       "Hej! Ditt provsvar är klart.",
		"reference":  "journal-4711",
		"recipients": []any{map[string]any{"address": "0701234567&login=199908072391&"}},
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func TestSendStoresAsSMTPWould(t *testing.T) {
	e := newEnv(t, nil)
	pdf := []byte("%PDF-1.4 remiss")
	a := e.do("POST", "/api/v1/messages", e.send, "k-1", message(map[string]any{
		"html": "<p>Hej!</p>",
		"lang": "en",
		"attachments": []any{map[string]any{"filename": "remiss.pdf", "content_type": "application/pdf",
			"content": base64.StdEncoding.EncodeToString(pdf)}},
		"recipients": []any{
			map[string]any{"address": "0701234567&login=199908072391&"},
			map[string]any{"sms": "+46701234568", "logins": []string{"199908072391", "198611239883"}},
			map[string]any{"email": "anna@example.com", "logins": []string{"*"}},
		},
	}))
	if a.status != http.StatusCreated {
		t.Fatalf("send: %d %s", a.status, a.body)
	}
	var m messageView
	a.json(t, &m)
	if a.header.Get("Location") != "/api/v1/messages/"+m.ID {
		t.Errorf("Location %q for %s", a.header.Get("Location"), m.ID)
	}
	if m.Subject != "Provsvar" || m.Sender != staff || m.Reference != "journal-4711" || len(m.Recipients) != 3 {
		t.Errorf("answer %+v", m)
	}
	r1 := m.Recipients[1]
	if r1.Channel != "sms" || r1.To != "+46701234568" || strings.Join(r1.Logins, ",") != "19861123-****,19990807-****" || r1.Status != "queued" || len(r1.Events) != 1 || r1.Events[0].Type != "accepted" {
		t.Errorf("recipient 1: %+v", r1)
	}
	if strings.Contains(string(a.body), "199908072391") {
		t.Error("a personal number unmasked without audit:read")
	}
	// Stored as MIME, as a mail client writes it: the reader gets the
	// same kind of message whichever door it came through.
	jobs, err := e.v.PendingJobs()
	if err != nil || len(jobs) != 3 {
		t.Fatalf("jobs %d, %v", len(jobs), err)
	}
	letter, raw, err := e.v.Decrypt(jobs[0].Token)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"From: <" + staff + ">", "Subject: Provsvar", "text/plain", "text/html", `filename=remiss.pdf`, base64.StdEncoding.EncodeToString(pdf)} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("the stored MIME lacks %q:\n%s", want, raw)
		}
	}
	if letter.Account != staff || letter.Rcpt.Lang != "en" {
		t.Errorf("letter %+v", letter)
	}
}

// expires_in is the message's own lifetime, as exp= in an address.
func TestSendExpiresIn(t *testing.T) {
	e := newEnv(t, nil)
	a := e.do("POST", "/api/v1/messages", e.send, "k-1", message(map[string]any{"expires_in": "2h"}))
	var m messageView
	a.json(t, &m)
	if a.status != 201 || m.Expires.Sub(m.Created) != 2*time.Hour {
		t.Errorf("expires_in 2h: %d, created %v, expires %v", a.status, m.Created, m.Expires)
	}
	for _, bad := range []string{"7M", "2y", "0d", "14w"} {
		a := e.do("POST", "/api/v1/messages", e.send, "k-"+bad, message(map[string]any{"expires_in": bad}))
		if p := a.problem(t); a.status != 422 || len(p.Errors) != 1 || p.Errors[0].Field != "expires_in" {
			t.Errorf("expires_in %q: %d %s", bad, a.status, a.body)
		}
	}
}

func TestAuditScopeShowsWholeNumbers(t *testing.T) {
	e := newEnv(t, nil)
	a := e.do("POST", "/api/v1/messages", e.key(apikey.ScopeSend, apikey.ScopeAudit), "k-1", message(nil))
	if a.status != http.StatusCreated || !strings.Contains(string(a.body), `"199908072391"`) {
		t.Errorf("with audit:read: %d %s", a.status, a.body)
	}
}

func TestValidationNamesEveryFault(t *testing.T) {
	e := newEnv(t, nil)
	a := e.do("POST", "/api/v1/messages", e.send, "k-1", map[string]any{
		"subject":     "Provsvar för 199908072391",
		"lang":        "de",
		"attachments": []any{map[string]any{"filename": "a/b.pdf", "content": "not base64!"}},
		"recipients": []any{
			map[string]any{"address": "0701234567&logni=199908072391&"},
			map[string]any{"sms": "0701234567", "logins": []string{"199908072390"}},
			map[string]any{"email": "anna@secure.test", "logins": []string{"*"}},
			map[string]any{"sms": "0701234567", "email": "anna@example.com"},
			map[string]any{"sms": "0701234567&login=*"},
		},
	})
	if a.status != http.StatusUnprocessableEntity {
		t.Fatalf("%d %s", a.status, a.body)
	}
	p := a.problem(t)
	fields := map[string]string{}
	for _, f := range p.Errors {
		fields[f.Field] = f.Detail
	}
	for _, want := range []string{"subject", "text", "lang", "attachments[0].filename", "attachments[0].content",
		"recipients[0].address", "recipients[1].logins[0]", "recipients[2].email", "recipients[3]", "recipients[4].sms"} {
		if fields[want] == "" {
			t.Errorf("no fault named for %s; got %v", want, fields)
		}
	}
	if strings.Contains(string(a.body), "199908072391") {
		t.Error("the problem repeats a personal number")
	}
	if st, _ := e.v.Stats(); st.Messages != 0 {
		t.Errorf("%d messages stored after a 422", st.Messages)
	}
	// Too many recipients, counted as SMTP counts them.
	var many []any
	for _, n := range []string{"0701234561", "0701234562", "0701234563", "0701234564"} {
		many = append(many, map[string]any{"sms": n, "logins": []string{"*"}})
	}
	a = e.do("POST", "/api/v1/messages", e.send, "k-2", message(map[string]any{"recipients": many}))
	if p := a.problem(t); a.status != 422 || len(p.Errors) != 1 || p.Errors[0].Field != "recipients" {
		t.Errorf("4 recipients over 3: %d %s", a.status, a.body)
	}
	for body, want := range map[string]int{"[1,2]": 400, "{": 400, `{"recipients": 5}`: 422, `{"bogus": 1}`: 422, `{} {}`: 400} {
		if a := e.do("POST", "/api/v1/messages", e.send, "k-3", body); a.status != want {
			t.Errorf("%s: %d, want %d (%s)", body, a.status, want, a.body)
		} else {
			a.problem(t)
		}
	}
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t, nil)
	readOnly := e.key(apikey.ScopeRead)
	for _, c := range []struct {
		key  string
		want int
	}{
		{"", 401}, {"sgl_nosuchkey", 401}, {readOnly, 403}, {e.send, 201},
	} {
		a := e.do("POST", "/api/v1/messages", c.key, "k-auth", message(nil))
		if a.status != c.want {
			t.Errorf("key %.8q: %d, want %d (%s)", c.key, a.status, c.want, a.body)
		}
		if c.want != 201 {
			a.problem(t)
		}
	}
	if a := e.do("POST", "/api/v1/messages", e.send, "", message(nil)); a.status != 400 {
		t.Errorf("no Idempotency-Key: %d", a.status)
	}
	if a := e.do("GET", "/api/v1/nothing", e.send, "", nil); a.status != 404 {
		t.Errorf("an unknown route: %d", a.status)
	} else {
		a.problem(t)
	}
	// The account's removal ends its keys.
	if err := e.v.RemoveAccount(staff); err != nil {
		t.Fatal(err)
	}
	if a := e.do("POST", "/api/v1/messages", e.send, "k-gone", message(nil)); a.status != 401 {
		t.Errorf("the key of a removed account: %d", a.status)
	}
}

func TestRevokedKeyIs401(t *testing.T) {
	e := newEnv(t, nil)
	made, key, err := e.keys.Create(context.Background(), staff, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.keys.Revoke(context.Background(), made.ID)
	if a := e.do("POST", "/api/v1/messages", key, "k", message(nil)); a.status != 401 {
		t.Errorf("a revoked key: %d", a.status)
	}
}

func TestIdempotency(t *testing.T) {
	e := newEnv(t, nil)
	body, _ := json.Marshal(message(nil))
	first := e.do("POST", "/api/v1/messages", e.send, "same", body)
	if first.status != 201 {
		t.Fatalf("%d %s", first.status, first.body)
	}
	again := e.do("POST", "/api/v1/messages", e.send, "same", body)
	if again.status != 201 || !bytes.Equal(again.body, first.body) || again.header.Get("Idempotent-Replayed") != "true" || again.header.Get("Location") != first.header.Get("Location") {
		t.Errorf("the replay: %d %q %s", again.status, again.header.Get("Idempotent-Replayed"), again.body)
	}
	if first.header.Get("Idempotent-Replayed") != "" {
		t.Error("the first answer says it was replayed")
	}
	other, _ := json.Marshal(message(map[string]any{"subject": "Another"}))
	if a := e.do("POST", "/api/v1/messages", e.send, "same", other); a.status != 422 {
		t.Errorf("the same key, another body: %d %s", a.status, a.body)
	} else if p := a.problem(t); !strings.HasSuffix(p.Type, "idempotency-key-reused") {
		t.Errorf("type %s", p.Type)
	}
	// Keys are per API key: another key may use the same one.
	if a := e.do("POST", "/api/v1/messages", e.key(), "same", body); a.status != 201 || a.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("another API key, the same Idempotency-Key: %d", a.status)
	}
	// A refused request does not use a key up.
	if a := e.do("POST", "/api/v1/messages", e.send, "fixed-later", `{"recipients": []}`); a.status != 422 {
		t.Fatalf("%d", a.status)
	}
	if a := e.do("POST", "/api/v1/messages", e.send, "fixed-later", body); a.status != 201 {
		t.Errorf("a key whose first request was refused: %d", a.status)
	}
	if st, _ := e.v.Stats(); st.Messages != 3 {
		t.Errorf("%d messages; want 3 (the replay sent nothing)", st.Messages)
	}

	// Across a restart: the record is on disk with the message.
	e.close()
	e.open(nil)
	if a := e.do("POST", "/api/v1/messages", e.send, "same", body); a.status != 201 || !bytes.Equal(a.body, first.body) || a.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("the replay after a restart: %d %s", a.status, a.body)
	}
	if a := e.do("POST", "/api/v1/messages", e.send, "same", other); a.status != 422 {
		t.Errorf("another body after a restart: %d", a.status)
	}
}

// The same key while the first request is still running: 409. The first
// request is held inside the vault's transaction by a hook that waits.
func TestIdempotencyConflict(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hold := vault.Hook{Name: "hold", Appended: func(tx vault.Tx, ev vault.Event) error {
		once.Do(func() { close(entered); <-release })
		return nil
	}}
	e := newEnv(t, nil, hold)
	body, _ := json.Marshal(message(nil))
	first := make(chan answer)
	go func() { first <- e.do("POST", "/api/v1/messages", e.send, "k", body) }()
	<-entered
	var wg sync.WaitGroup
	codes := make([]int, 3)
	for i := range codes {
		wg.Go(func() { codes[i] = e.do("POST", "/api/v1/messages", e.send, "k", body).status })
	}
	answered := make(chan struct{})
	go func() { wg.Wait(); close(answered) }()
	select {
	case <-answered:
	case <-time.After(30 * time.Second): // a guard against a hang, not a measure
		close(release)
		t.Fatal("the requests with the same key wait for the first instead of answering 409")
	}
	close(release)
	for i, c := range codes {
		if c != http.StatusConflict {
			t.Errorf("request %d while the first runs: %d, want 409", i, c)
		}
	}
	if a := <-first; a.status != 201 || a.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("the first request: %d", a.status)
	}
	if a := e.do("POST", "/api/v1/messages", e.send, "k", body); a.status != 201 || a.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("once it ended: %d", a.status)
	}
	if st, _ := e.v.Stats(); st.Messages != 1 {
		t.Errorf("%d messages; want 1", st.Messages)
	}
}

func TestLimits(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Rate, o.Burst = 0.001, 4 })
	big := base64.StdEncoding.EncodeToString(make([]byte, 70<<10))
	a := e.do("POST", "/api/v1/messages", e.send, "big", message(map[string]any{"attachments": []any{map[string]any{"filename": "x.bin", "content": big}}}))
	if a.status != http.StatusRequestEntityTooLarge {
		t.Errorf("a message over max_message_bytes: %d %s", a.status, a.body)
	} else {
		a.problem(t)
	}
	many := make([]any, maxAttachments+1)
	for i := range many {
		many[i] = map[string]any{"filename": "a.txt", "content": "YQ=="}
	}
	if a := e.do("POST", "/api/v1/messages", e.send, "many", message(map[string]any{"attachments": many})); a.status != http.StatusUnprocessableEntity || !strings.Contains(string(a.body), `"field":"attachments"`) {
		t.Errorf("%d attachments: %d %s", len(many), a.status, a.body)
	}
	huge := strings.Repeat("a", 200<<10)
	if a := e.do("POST", "/api/v1/messages", e.send, "huge", message(map[string]any{"text": huge})); a.status != http.StatusRequestEntityTooLarge {
		t.Errorf("a request over the body limit: %d", a.status)
	}
	a = e.do("POST", "/api/v1/messages", e.send, "third", message(nil))
	if a.status != 201 {
		t.Fatalf("the third request: %d", a.status)
	}
	a = e.do("POST", "/api/v1/messages", e.send, "fourth", message(nil))
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" {
		t.Errorf("over the rate: %d %v", a.status, a.header)
	} else {
		a.problem(t)
	}
	// Per key: another key still sends.
	if a := e.do("POST", "/api/v1/messages", e.key(), "fifth", message(nil)); a.status != 201 {
		t.Errorf("another key: %d", a.status)
	}
	// A key made with its own rate has a burst of five seconds' worth:
	// ten requests where the API's default lets three through.
	_, fast, err := e.keys.Create(context.Background(), staff, "lab", nil, apikey.WithRate(2))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if a := e.do("GET", "/api/v1/messages", fast, "", nil); a.status != 200 {
			t.Fatalf("request %d with a key of rate 2: %d", i+1, a.status)
		}
	}
}

// replies: false turns the recipients' answers off, as reply=no does;
// without it each address keeps its own reply=.
func TestSendRepliesOff(t *testing.T) {
	e := newEnv(t, nil)
	two := []any{map[string]any{"address": "0701234567&login=199908072391&"}, map[string]any{"sms": "+46701234568", "logins": []string{"198611239883"}}}
	for n, c := range []struct {
		extra map[string]any
		want  bool
	}{
		{map[string]any{"replies": false, "recipients": two}, false},
		{map[string]any{"recipients": two}, true},
		{map[string]any{"replies": true, "recipients": []any{map[string]any{"address": "0701234567&login=199908072391&reply=no&"}}}, false},
	} {
		a := e.do("POST", "/api/v1/messages", e.send, "k-"+strconv.Itoa(n), message(c.extra))
		var m messageView
		a.json(t, &m)
		if a.status != http.StatusCreated {
			t.Fatalf("%v: %d %s", c.extra, a.status, a.body)
		}
		for i := range m.Recipients {
			l, err := e.v.LetterByID(m.ID, i)
			if err != nil || l.RepliesAllowed() != c.want {
				t.Errorf("%v: recipient %d replies allowed %v, %v; want %v", c.extra["replies"], i, l.RepliesAllowed(), err, c.want)
			}
		}
	}
}

// The API vouches for the key's account as the sender, as SMTP does for
// MAIL FROM: an account whose address holds a personal number is refused
// (intake.CheckSender), or the number would go out whole in every SMS
// (red team, wave 2: SMTP refused the sender, the API sent it).
func TestSendRefusesAnUnshowableSender(t *testing.T) {
	e := newEnv(t, nil)
	const numbered = "198611239883@staff.test"
	if err := e.v.AddAccount(numbered, "a long enough password"); err != nil {
		t.Fatal(err)
	}
	_, key, err := e.keys.Create(context.Background(), numbered, "journal", nil)
	if err != nil {
		t.Fatal(err)
	}
	a := e.do("POST", "/api/v1/messages", key, "k-1", message(nil))
	if a.status != http.StatusForbidden {
		t.Fatalf("send from %s: %d %s", numbered, a.status, a.body)
	}
	if p := a.problem(t); strings.Contains(p.Detail, "8611239883") || !strings.Contains(p.Detail, "19861123-****") {
		t.Errorf("the refusal: %+v", p)
	}
	if jobs, _ := e.v.PendingJobs(); len(jobs) != 0 {
		t.Errorf("%d notifications queued", len(jobs))
	}
}

// A reference is kept in clear beside the message (its index, the
// idempotency record), answered whole without audit:read and posted to
// webhooks, and an erasure by number does not reach it: one holding a
// personal number is refused as the subject is (red team, wave 2:
// "journal-199908072391" was taken).
func TestSendRefusesAPersonalNumberInTheReference(t *testing.T) {
	e := newEnv(t, nil)
	for _, ref := range []string{"journal-199908072391", "pat 990807-2391"} {
		a := e.do("POST", "/api/v1/messages", e.send, "k-"+randomKey(), message(map[string]any{"reference": ref}))
		if a.status != http.StatusUnprocessableEntity {
			t.Errorf("reference %q: %d %s", ref, a.status, a.body)
			continue
		}
		p := a.problem(t)
		if len(p.Errors) != 1 || p.Errors[0].Field != "reference" || !strings.Contains(p.Errors[0].Detail, "0807-****") || strings.Contains(string(a.body), "2391") {
			t.Errorf("reference %q: %s", ref, a.body)
		}
	}
	if jobs, _ := e.v.PendingJobs(); len(jobs) != 0 {
		t.Errorf("%d notifications queued", len(jobs))
	}
}

// An erasure by number reaches the idempotency record: the answer kept
// for a key with audit:read names the number whole, and a replay, or a
// copy of the vault file, gave it back after the erasure (red team, wave
// 2).
func TestErasureReachesTheIdempotencyRecord(t *testing.T) {
	e := newEnv(t, nil)
	key := e.key(apikey.ScopeSend, apikey.ScopeAudit)
	first := e.do("POST", "/api/v1/messages", key, "k-1", message(nil))
	if first.status != http.StatusCreated || !strings.Contains(string(first.body), "199908072391") {
		t.Fatalf("send: %d %s", first.status, first.body)
	}
	if _, err := e.v.ErasePersonalNumber(context.Background(), "199908072391", "erased:r1", nil, nil); err != nil {
		t.Fatal(err)
	}
	again := e.do("POST", "/api/v1/messages", key, "k-1", message(nil))
	if again.status != http.StatusCreated || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %s", again.status, again.body)
	}
	if strings.Contains(string(again.body), "199908072391") || !strings.Contains(string(again.body), "erased:r1") {
		t.Errorf("the replay after the erasure: %s", again.body)
	}
	live, err := vaulttest.LiveContains(e.path, "199908072391")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range live {
		t.Errorf("after the erasure: %s", f)
	}
}
