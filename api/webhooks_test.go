package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"sigill/apikey"
	"sigill/internal/egress"
	"sigill/notifier"
	"sigill/vault"
)

// delivery is one POST a test receiver took.
type delivery struct {
	id, timestamp, signature string
	body                     []byte
	payload                  struct {
		Type      string    `json:"type"`
		Timestamp time.Time `json:"timestamp"`
		Data      feedEvent `json:"data"`
	}
}

// receiver is a webhook endpoint on 127.0.0.1 that answers each POST with
// the next of its statuses (then 200 for ever) and keeps what it took.
type receiver struct {
	t        *testing.T
	srv      *httptest.Server
	mu       sync.Mutex
	statuses []int
	got      []delivery
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	rc := &receiver{t: t, statuses: statuses}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		d := delivery{id: r.Header.Get("webhook-id"), timestamp: r.Header.Get("webhook-timestamp"), signature: r.Header.Get("webhook-signature"), body: body}
		if err := json.Unmarshal(body, &d.payload); err != nil {
			t.Errorf("a delivery that is not JSON: %s", body)
		}
		rc.mu.Lock()
		rc.got = append(rc.got, d)
		status := 200
		if len(rc.statuses) > 0 {
			status, rc.statuses = rc.statuses[0], rc.statuses[1:]
		}
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

// verifies checks a delivery's signature as Standard Webhooks 1.0 has a
// receiver do it, written from the spec and not from sigill's signing:
// the secret is whsec_ and base64; each space-separated "v1,<base64>" is a
// candidate for HMAC-SHA256(secret, id + "." + timestamp + "." + body).
// It returns how many of the signatures the secret verifies.
func verifies(t *testing.T, d delivery, secret string) int {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret %q is not whsec_ and base64", secret)
	}
	ts, err := strconv.ParseInt(d.timestamp, 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		t.Errorf("webhook-timestamp %q is not now in Unix seconds", d.timestamp)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(d.id + "." + d.timestamp + "." + string(d.body)))
	want := mac.Sum(nil)
	n := 0
	for _, sig := range strings.Fields(d.signature) {
		version, b64, ok := strings.Cut(sig, ",")
		got, err := base64.StdEncoding.DecodeString(b64)
		if !ok || version != "v1" || err != nil {
			t.Errorf("webhook-signature %q: %q is not v1,<base64>", d.signature, sig)
			continue
		}
		if hmac.Equal(got, want) {
			n++
		}
	}
	return n
}

// checkDelivery validates a delivery's body against the served document's
// webhooks entry.
func (e *env) checkDelivery(d delivery) {
	e.t.Helper()
	hook := e.doc.Webhooks["messageEvent"]
	if hook == nil || hook.Post == nil {
		e.t.Fatal("the OpenAPI document has no webhooks.messageEvent")
	}
	var v any
	json.Unmarshal(d.body, &v)
	if err := hook.Post.RequestBody.Value.Content["application/json"].Schema.Value.VisitJSON(v); err != nil {
		e.t.Errorf("a delivery the OpenAPI document does not describe: %v\n%s", err, d.body)
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

func devGuard(o *Options) { o.Egress, _ = egress.New(nil, true); o.PlainHTTPWebhooks = true }

// webhookEnv is an API with the notifier running on its vault: sends are
// notified through the dev log provider, and webhooks delivered by the
// Deliverer through guard.
func webhookEnv(t *testing.T, mod func(*Options)) *env {
	e := newEnv(t, mod, notifier.Hook())
	lp, err := notifier.NewLogProvider(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d := NewDeliverer(e.v, e.api.o.Egress, nil)
	n, err := notifier.New(notifier.Options{
		Vault: e.v, LinkBase: "http://127.0.0.1:1", OrgName: "Region Test", SMS: lp, PollEvery: 20 * time.Millisecond,
		Webhook: d.Deliver, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *env) register(key, url string, events ...string) webhookView {
	e.t.Helper()
	body := map[string]any{"url": url}
	if events != nil {
		body["events"] = events
	}
	a := e.do("POST", "/api/v1/webhooks", key, "", body)
	if a.status != http.StatusCreated || a.header.Get("Location") == "" {
		e.t.Fatalf("register %s: %d %s", url, a.status, a.body)
	}
	var v webhookView
	a.json(e.t, &v)
	return v
}

// A registered endpoint gets the account's events, signed as Standard
// Webhooks has it, with the client's reference and the opener masked; a
// 500 is retried (within 10 s) with the same webhook-id; an event type it
// did not ask for is not sent.
func TestWebhookDelivery(t *testing.T) {
	e := webhookEnv(t, devGuard)
	rc := newReceiver(t, 500)
	wh := e.register(e.send, rc.srv.URL+"/hooks/sigill", "message.notified", "message.opened")
	if !strings.HasPrefix(wh.Secret, "whsec_") || len(wh.Events) != 2 {
		t.Fatalf("registered %+v", wh)
	}
	retriesBefore := counterValue(webhookAttempts.WithLabelValues("http_error"))
	m := e.sent("k-1", "journal-4711")
	waitUntil(t, "the notified event delivered after a 500", func() bool { return len(rc.deliveries()) == 2 })
	got := rc.deliveries()
	if got[0].id != got[1].id || got[0].id == "" {
		t.Errorf("the retry's webhook-id %q, the first's %q: want the same", got[1].id, got[0].id)
	}
	if counterValue(webhookAttempts.WithLabelValues("http_error"))-retriesBefore != 1 {
		t.Error("the 500 was not counted")
	}
	for _, d := range got {
		if verifies(t, d, wh.Secret) != 1 || len(strings.Fields(d.signature)) != 1 {
			t.Errorf("signature %q does not verify under the secret", d.signature)
		}
		e.checkDelivery(d)
	}
	p := got[1].payload
	if p.Type != "message.notified" || p.Data.Message != m.ID || p.Data.Reference != "journal-4711" || p.Data.Recipient != 0 || p.Data.Type != "notified" {
		t.Errorf("payload %s", got[1].body)
	}

	// Opened (twice: every open is an event); a delivery report is not
	// subscribed to.
	for range 2 {
		if err := e.v.Record(vault.Event{MessageID: m.ID, Kind: vault.EventOpened, PersonalNumber: "199908072391", Name: "Test Testsson"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.v.Record(vault.Event{MessageID: m.ID, Kind: vault.EventDelivered}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "both opens delivered", func() bool { return len(rc.deliveries()) == 4 })
	waitUntil(t, "the outbox empty", func() bool { jobs, _ := e.v.PendingJobs(); return len(jobs) == 0 })
	got = rc.deliveries()
	for _, d := range got[2:] {
		p := d.payload
		if p.Type != "message.opened" || p.Data.By != "19990807-****" || p.Data.Name != "Test Testsson" || p.Data.Reference != "journal-4711" || strings.Contains(string(d.body), "199908072391") {
			t.Errorf("open delivered as %s", d.body)
		}
		if verifies(t, d, wh.Secret) != 1 {
			t.Errorf("open's signature %q", d.signature)
		}
		e.checkDelivery(d)
	}
	if got[2].id == got[3].id {
		t.Error("two opens share a webhook-id")
	}
	// The feed says the same events.
	var feed eventFeed
	e.do("GET", "/api/v1/events", e.send, "", nil).json(t, &feed)
	inFeed := map[string]string{}
	for _, fe := range feed.Events {
		inFeed[fe.Cursor] = fe.Type
	}
	for _, d := range got {
		if c := d.payload.Data.Cursor; inFeed[c] != d.payload.Data.Type || !strings.HasSuffix(d.id, "_"+c) {
			t.Errorf("delivery %s: cursor %q is not the feed's event", d.id, c)
		}
	}

	// Deleted: no more deliveries, and a job queued for it is dropped.
	if a := e.do("DELETE", "/api/v1/webhooks/"+wh.ID, e.send, "", nil); a.status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", a.status, a.body)
	}
	if a := e.do("DELETE", "/api/v1/webhooks/"+wh.ID, e.send, "", nil); a.status != http.StatusNotFound {
		t.Errorf("DELETE again: %d", a.status)
	}
	e.sent("k-2", "journal-4712")
	waitUntil(t, "the outbox empty", func() bool { jobs, _ := e.v.PendingJobs(); return len(jobs) == 0 })
	if n := len(rc.deliveries()); n != 4 {
		t.Errorf("%d deliveries after the endpoint was deleted", n-4)
	}
}

// After a rotation every delivery carries two signatures, the new
// secret's and the old one's, for 24 hours; then the old one's goes.
func TestWebhookRotation(t *testing.T) {
	e := webhookEnv(t, devGuard)
	rc := newReceiver(t)
	wh := e.register(e.send, rc.srv.URL, "message.opened")
	a := e.do("POST", "/api/v1/webhooks/"+wh.ID+"/rotate", e.send, "", nil)
	var rotated webhookView
	a.json(t, &rotated)
	if a.status != 200 || rotated.Secret == wh.Secret || !strings.HasPrefix(rotated.Secret, "whsec_") || rotated.PreviousExpiry == nil ||
		rotated.PreviousExpiry.Sub(time.Now()) < 23*time.Hour {
		t.Fatalf("rotate: %d %s", a.status, a.body)
	}
	m := e.sent("k-1", "r")
	if err := e.v.Record(vault.Event{MessageID: m.ID, Kind: vault.EventOpened, PersonalNumber: "199908072391"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the open delivered", func() bool { return len(rc.deliveries()) == 1 })
	d := rc.deliveries()[0]
	if n := len(strings.Fields(d.signature)); n != 2 || verifies(t, d, wh.Secret) != 1 || verifies(t, d, rotated.Secret) != 1 {
		t.Errorf("after a rotation: signature %q, want one by each secret", d.signature)
	}
	if !strings.HasPrefix(d.signature, "v1,") || strings.Fields(d.signature)[0] == strings.Fields(d.signature)[1] {
		t.Errorf("signature %q", d.signature)
	}
	var list webhookList
	e.do("GET", "/api/v1/webhooks", e.send, "", nil).json(t, &list)
	if len(list.Webhooks) != 1 || list.Webhooks[0].Secret != "" || list.Webhooks[0].PreviousExpiry == nil {
		t.Errorf("list after rotate: %+v", list)
	}
	// Past the grace only the new secret signs.
	var ep endpoint
	e.v.View(tables, func(tx vault.Tx) error {
		raw, _ := tx.Table(tableWebhooks).Get(endpointKey(staff, wh.ID))
		return json.Unmarshal(raw, &ep)
	})
	if keys := ep.live(time.Now().Add(rotationGrace + time.Second)); len(keys) != 1 || secretString(keys[0]) != rotated.Secret {
		t.Errorf("after the grace %d secrets sign", len(keys))
	}
	if v := ep.view(time.Now().Add(rotationGrace + time.Second)); v.PreviousExpiry != nil {
		t.Error("previous_secret_expires shown after the grace")
	}
}

// In serve (no loopback), registration refuses loopback, private and
// link-local targets, and plain http; a delivery whose name resolves to
// loopback by the time it is made (DNS rebinding) is refused at connect
// time, and the receiver is never reached. api.webhook_allow lets a
// network through.
func TestWebhookSSRFGuard(t *testing.T) {
	serve := func(allow ...string) func(*Options) {
		return func(o *Options) {
			g, err := egress.New(allow, false)
			if err != nil {
				t.Fatal(err)
			}
			o.Egress = g
		}
	}
	e := webhookEnv(t, serve())
	rc := newReceiver(t)
	for _, u := range []string{rc.srv.URL, "https://127.0.0.1/h", "https://[::1]/h", "https://10.1.2.3/h", "https://172.16.0.1/h", "https://192.168.1.1/h",
		"https://169.254.169.254/latest/meta-data/", "https://localhost/h", "http://93.184.215.14/h"} {
		a := e.do("POST", "/api/v1/webhooks", e.send, "", map[string]any{"url": u})
		if a.status != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d %s", u, a.status, a.body)
			continue
		}
		if p := a.problem(t); len(p.Errors) != 1 || p.Errors[0].Field != "url" {
			t.Errorf("%s: %+v", u, p)
		}
	}
	e.register(e.send, "https://93.184.215.14/hooks") // a public address is taken (and never called here)

	// DNS rebinding: stored as if its name had resolved to a public
	// address at registration, it is 127.0.0.1 at connect time.
	made, _, err := e.keys.Create(context.Background(), staff, "rebound", nil)
	if err != nil {
		t.Fatal(err)
	}
	ep := endpoint{ID: "wh_rebound", Account: staff, Key: made.ID, URL: rc.srv.URL, Events: knownWebhookTypes, Created: time.Now().Add(time.Hour), Secrets: []endpointSecret{{Key: newSecret()}}}
	raw, _ := json.Marshal(ep)
	if err := e.v.Update(context.Background(), tables, func(tx vault.Tx) error {
		return tx.Table(tableWebhooks).Put(endpointKey(staff, ep.ID), raw)
	}); err != nil {
		t.Fatal(err)
	}
	refusedBefore := counterValue(webhookAttempts.WithLabelValues("refused"))
	m := e.sent("k-1", "r")
	var job vault.Job
	waitUntil(t, "a refused delivery", func() bool {
		jobs, _ := e.v.PendingJobs()
		for _, j := range jobs {
			if j.Kind == JobWebhook && j.To == ep.ID && j.LastError != "" {
				job = j
				return true
			}
		}
		return false
	})
	if !strings.Contains(job.LastError, "loopback") || job.MessageID != m.ID {
		t.Errorf("the refused delivery: %+v", job)
	}
	if counterValue(webhookAttempts.WithLabelValues("refused"))-refusedBefore < 1 {
		t.Error("the refusal was not counted")
	}
	if n := len(rc.deliveries()); n != 0 {
		t.Fatalf("the guard let %d deliveries reach 127.0.0.1", n)
	}
	err = NewDeliverer(e.v, e.api.o.Egress, nil).Deliver(context.Background(), job)
	if !errors.Is(err, egress.ErrRefused) {
		t.Errorf("Deliver: %v", err)
	}

	// Allowed by api.webhook_allow: taken, over http too, and delivered.
	allowed := webhookEnv(t, serve("127.0.0.0/8"))
	wh := allowed.register(allowed.send, rc.srv.URL, "message.notified")
	allowed.sent("k-1", "r")
	waitUntil(t, "the allowed delivery", func() bool { return len(rc.deliveries()) == 1 })
	if verifies(t, rc.deliveries()[0], wh.Secret) != 1 {
		t.Error("the allowed delivery's signature")
	}
}

// Registration names every fault, and the routes keep to the account and
// the scope.
func TestWebhookRoutes(t *testing.T) {
	e := newEnv(t, devGuard)
	a := e.do("POST", "/api/v1/webhooks", e.send, "", map[string]any{"url": "ftp://x", "events": []string{"message.opened", "message.read", "message.opened"}})
	p := a.problem(t)
	var fields []string
	for _, f := range p.Errors {
		fields = append(fields, f.Field)
	}
	if a.status != 422 || strings.Join(fields, " ") != "url events[1] events[2]" {
		t.Errorf("faults: %d %s", a.status, a.body)
	}
	for body, want := range map[string]int{
		`{"url": "https://127.0.0.1/", "secret": "x"}`: 422,
		`{"url": 5}`:                            422,
		`[]`:                                    400,
		`{"url": "https://user:pw@127.0.0.1/"}`: 422,
		`{"url": "https://127.0.0.1/"} {}`:      400,
		`{"url": "https://127.0.0.1/` + strings.Repeat("a", 20<<10) + `"}`: 413,
	} {
		if a := e.do("POST", "/api/v1/webhooks", e.send, "", body); a.status != want {
			t.Errorf("%.60s: %d, want %d", body, a.status, want)
		} else {
			a.problem(t)
		}
	}
	wh := e.register(e.send, "https://127.0.0.1:9/h")
	if len(wh.Events) != len(knownWebhookTypes) {
		t.Errorf("no events given: %v, want all", wh.Events)
	}
	// Another account sees none of it; a key without events:read is 403.
	if err := e.v.AddAccount("bo@staff.test", "a long enough password"); err != nil {
		t.Fatal(err)
	}
	_, bo, _ := e.keys.Create(context.Background(), "bo@staff.test", "", nil)
	var list webhookList
	e.do("GET", "/api/v1/webhooks", bo, "", nil).json(t, &list)
	if len(list.Webhooks) != 0 {
		t.Errorf("another account lists %+v", list)
	}
	for _, req := range [][2]string{{"DELETE", "/api/v1/webhooks/" + wh.ID}, {"POST", "/api/v1/webhooks/" + wh.ID + "/rotate"}} {
		if a := e.do(req[0], req[1], bo, "", nil); a.status != 404 {
			t.Errorf("%s by another account: %d", req, a.status)
		}
		if a := e.do(req[0], req[1], e.key(apikey.ScopeSend), "", nil); a.status != 403 {
			t.Errorf("%s without events:read: %d", req, a.status)
		}
	}
	e.do("GET", "/api/v1/webhooks", e.send, "", nil).json(t, &list)
	if len(list.Webhooks) != 1 || list.Webhooks[0].ID != wh.ID || list.Webhooks[0].Secret != "" {
		t.Errorf("list: %+v", list)
	}
	for range maxEndpoints - 1 {
		e.register(e.send, "https://127.0.0.1:9/h")
	}
	if a := e.do("POST", "/api/v1/webhooks", e.send, "", map[string]any{"url": "https://127.0.0.1:9/h"}); a.status != 422 {
		t.Errorf("endpoint %d: %d", maxEndpoints+1, a.status)
	}
}

// Disabling the account stops its deliveries.
func TestWebhookDisabledAccount(t *testing.T) {
	e := webhookEnv(t, devGuard)
	rc := newReceiver(t)
	e.register(e.send, rc.srv.URL, "message.opened")
	m := e.sent("k-1", "r")
	if err := e.v.SetDisabled(staff, true); err != nil {
		t.Fatal(err)
	}
	if err := e.v.Record(vault.Event{MessageID: m.ID, Kind: vault.EventOpened, PersonalNumber: "199908072391"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the outbox empty", func() bool { jobs, _ := e.v.PendingJobs(); return len(jobs) == 0 })
	if n := len(rc.deliveries()); n != 0 {
		t.Errorf("%d deliveries for a disabled account", n)
	}
}

// Revoking the key that registered a webhook ends its deliveries: an
// audit:read key's endpoint gets whole personal numbers, and revoking
// that key must stop them (red team, wave 2).
func TestWebhookOfRevokedKey(t *testing.T) {
	e := webhookEnv(t, devGuard)
	rc := newReceiver(t)
	made, key, err := e.keys.Create(context.Background(), staff, "journal", []string{apikey.ScopeEvents, apikey.ScopeAudit})
	if err != nil {
		t.Fatal(err)
	}
	e.register(key, rc.srv.URL, "message.opened")
	m := e.sent("k-1", "r")
	if err := e.keys.Revoke(context.Background(), made.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.v.Record(vault.Event{MessageID: m.ID, Kind: vault.EventOpened, PersonalNumber: "199908072391"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the outbox empty", func() bool { jobs, _ := e.v.PendingJobs(); return len(jobs) == 0 })
	if got := rc.deliveries(); len(got) != 0 {
		t.Errorf("%d deliveries to the webhook of a revoked key, the first: %s", len(got), got[0].body)
	}
}

// An account removed and made again keeps none of the old account's
// endpoints alive, and an old endpoint listed before a new one must not
// stop the new one's deliveries (red team, wave 2: queueing returned at the
// first endpoint that was not live).
func TestWebhookOfAnAccountMadeAnew(t *testing.T) {
	e := webhookEnv(t, devGuard)
	old := newReceiver(t)
	oldEp := e.register(e.send, old.srv.URL, "message.opened")
	if err := e.v.RemoveAccount(staff); err != nil {
		t.Fatal(err)
	}
	if err := e.v.AddAccount(staff, "a long enough password"); err != nil {
		t.Fatal(err)
	}
	// Endpoints are listed by id, which is random: register until the new
	// one sorts after the old, the order that lost deliveries. When the
	// old id sorts near the top that takes many rounds, more than the
	// default rate's burst of 50 requests: this key has a rate of its own.
	_, key, err := e.keys.Create(context.Background(), staff, "test", nil, apikey.WithRate(1000))
	if err != nil {
		t.Fatal(err)
	}
	e.send = key
	fresh := newReceiver(t)
	for {
		ep := e.register(e.send, fresh.srv.URL, "message.opened")
		if ep.ID > oldEp.ID {
			break
		}
		if a := e.do("DELETE", "/api/v1/webhooks/"+ep.ID, e.send, "", nil); a.status/100 != 2 {
			t.Fatalf("delete %s: %d", ep.ID, a.status)
		}
	}
	m := e.sent("k-1", "r")
	if err := e.v.Record(vault.Event{MessageID: m.ID, Kind: vault.EventOpened, PersonalNumber: "199908072391"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the outbox empty", func() bool { jobs, _ := e.v.PendingJobs(); return len(jobs) == 0 })
	if n := len(old.deliveries()); n != 0 {
		t.Errorf("%d deliveries to the old account's endpoint", n)
	}
	if n := len(fresh.deliveries()); n != 1 {
		t.Errorf("%d deliveries to the new account's endpoint, want 1", n)
	}
}
