package notifier

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sigill/vault"
)

// TestSendAndReports: a job is sent through (fake) 46elks with the
// documented form, "notified" records the provider's id, and delivery
// reports — sent, delivered twice, a late "sent", a "failed" after
// "delivered" — give exactly one "delivered" event.
func TestSendAndReports(t *testing.T) {
	e := newEnv(t)
	elks := newFakeElks(t)
	okBefore := counterValue(sendsTotal.WithLabelValues("46elks", resultOK))
	e.start(elks.provider(t), nil)
	a := acceptOne(t, e.v, "Provsvar", smsTo("+46701234567", pn1, "sv"))
	e.n.Kick()
	waitFor(t, "notified", func() bool { return countKind(t, e.v, a.ID, vault.EventNotified) == 1 })

	sent := elks.sent()
	if len(sent) != 1 {
		t.Fatalf("%d SMS sent, want 1", len(sent))
	}
	s := sent[0]
	// The sender the gateway vouches for (the account), not the From
	// header's name.
	wantText := `Region Exempel (staff@kommun.example.se): Du har ett säkert meddelande om "Provsvar". Läs det här: https://read.example.se/m/` + a.Tokens[0]
	if s.From != smsSender || s.To != "+46701234567" || s.Message != wantText {
		t.Errorf("sent %+v\nwant text %q", s, wantText)
	}
	u, err := url.Parse(s.WhenDelivered)
	if err != nil || u.Path != "/hooks/sms" || u.Query().Get("key") == "" {
		t.Errorf("whendelivered %q: want the report URL with a key", s.WhenDelivered)
	}
	evs, _ := e.v.Events(a.ID)
	if ev := evs[len(evs)-1]; ev.ProviderID != s.ID || ev.Detail != "46elks" {
		t.Errorf("notified event %+v, want provider id %s", ev, s.ID)
	}
	if len(pending(t, e.v)) != 0 {
		t.Error("job still in the outbox after notified")
	}
	for _, st := range []string{"sent", "delivered", "delivered", "sent", "failed"} {
		if code := elks.report(s, st); code != http.StatusOK {
			t.Fatalf("report %s: HTTP %d", st, code)
		}
	}
	if k := eventKinds(t, e.v, a.ID); !slices.Equal(k, []vault.EventKind{vault.EventAccepted, vault.EventNotified, vault.EventDelivered}) {
		t.Fatalf("events %v", k)
	}
	evs, _ = e.v.Events(a.ID)
	if at := evs[2].At; !at.Equal(time.Date(2026, 3, 2, 9, 31, 5, 581795000, time.UTC)) {
		t.Errorf("delivered at %v, want the provider's time", at)
	}

	// An id nobody sent: 200 and a log line. A report without the key: 403.
	if code := elks.report(elksSMS{ID: "s-unknown", WhenDelivered: s.WhenDelivered}, "delivered"); code != http.StatusOK {
		t.Errorf("unknown id: HTTP %d, want 200", code)
	}
	if !strings.Contains(e.logs.String(), "unknown id") {
		t.Error("no log line for the unknown id")
	}
	noKey := *u
	noKey.RawQuery = ""
	if code := elks.report(elksSMS{ID: s.ID, WhenDelivered: noKey.String()}, "failed"); code != http.StatusForbidden {
		t.Errorf("report without key: HTTP %d, want 403", code)
	}
	e.stop() // the workers are done: their counts are in
	if got := counterValue(sendsTotal.WithLabelValues("46elks", resultOK)) - okBefore; got != 1 {
		t.Errorf("sends_total{46elks,ok} grew by %v", got)
	}
	e.checkLogs(a.Tokens...)
	for _, b := range elks.bodies {
		if strings.Contains(b, bodyCanary) {
			t.Error("the body reached the provider")
		}
	}
}

// TestOutOfOrderReports: "failed" first wins; a later "delivered" and
// repeats change nothing.
func TestOutOfOrderReports(t *testing.T) {
	e := newEnv(t)
	elks := newFakeElks(t)
	e.start(elks.provider(t), nil)
	a := acceptOne(t, e.v, "Kallelse", smsTo("+46701234567", pn1, "sv"), smsTo("+46701234568", pn2, "en"))
	e.n.Kick()
	waitFor(t, "both notified", func() bool { return countKind(t, e.v, a.ID, vault.EventNotified) == 2 })
	sent := elks.sent()
	for _, st := range []string{"delivered", "sent", "delivered"} {
		elks.report(sent[0], st)
	}
	for _, st := range []string{"failed", "delivered", "failed", "sent"} {
		elks.report(sent[1], st)
	}
	if n := countKind(t, e.v, a.ID, vault.EventDelivered); n != 1 {
		t.Errorf("%d delivered events, want 1", n)
	}
	if n := countKind(t, e.v, a.ID, vault.EventFailed); n != 1 {
		t.Errorf("%d failed events, want 1", n)
	}
}

// TestRetryAfter500: a 500 schedules a retry at the backoff's time (equal
// jitter: 15–30 s after the first attempt); the retry sends once.
func TestRetryAfter500(t *testing.T) {
	e := newEnv(t)
	elks := newFakeElks(t)
	elks.fail.Store(1)
	retryBefore := counterValue(sendsTotal.WithLabelValues("46elks", resultRetry))
	e.start(elks.provider(t), nil)
	t0 := e.clock.Now()
	a := acceptOne(t, e.v, "Provsvar", smsTo("+46701234567", pn1, "sv"))
	e.n.Kick()
	j := waitForRetry(t, e.v)
	if !strings.Contains(j.LastError, "HTTP 500") || j.Attempts != 1 {
		t.Errorf("job after a 500: attempts %d, last error %q", j.Attempts, j.LastError)
	}
	if d := j.Due.Sub(t0); d < 15*time.Second || d > 30*time.Second {
		t.Errorf("retry due after %v, want 15–30 s", d)
	}
	if got := counterValue(sendsTotal.WithLabelValues("46elks", resultRetry)) - retryBefore; got != 1 {
		t.Errorf("sends_total{46elks,retry} grew by %v", got)
	}
	if len(elks.sent()) != 0 {
		t.Fatal("sent although refused")
	}
	e.advance(j.Due.Sub(t0))
	waitFor(t, "notified", func() bool { return countKind(t, e.v, a.ID, vault.EventNotified) == 1 })
	if n := len(elks.sent()); n != 1 {
		t.Fatalf("%d sent, want 1", n)
	}
	e.checkLogs(a.Tokens...)
}

// TestRetryAfterTimeout: a provider slower than SendTimeout counts as a
// temporary failure; the next attempt goes through.
func TestRetryAfterTimeout(t *testing.T) {
	e := newEnv(t)
	elks := newFakeElks(t)
	elks.delay.Store(int64(5 * time.Second))
	elks.slow.Store(1)
	e.start(elks.provider(t), func(o *Options) { o.SendTimeout = 100 * time.Millisecond })
	a := acceptOne(t, e.v, "Provsvar", smsTo("+46701234567", pn1, "sv"))
	e.n.Kick()
	j := waitForRetry(t, e.v)
	if !strings.Contains(j.LastError, "deadline exceeded") {
		t.Errorf("last error %q, want a time-out", j.LastError)
	}
	e.advance(time.Minute)
	waitFor(t, "notified", func() bool { return countKind(t, e.v, a.ID, vault.EventNotified) == 1 })
	if n := len(elks.sent()); n != 1 {
		t.Fatalf("%d sent, want 1", n)
	}
}

// TestGiveUp: a provider that always fails: the retry is never scheduled
// after max_age, and the attempt at max_age that fails records "failed".
func TestGiveUp(t *testing.T) {
	e := newEnv(t)
	elks := newFakeElks(t)
	elks.status.Store(http.StatusServiceUnavailable)
	failedBefore := counterValue(sendsTotal.WithLabelValues("46elks", resultFailed))
	const maxAge = 10 * time.Second // less than the least first backoff (15 s)
	e.start(elks.provider(t), func(o *Options) { o.MaxAge = maxAge })
	t0 := e.clock.Now()
	a := acceptOne(t, e.v, "Provsvar", smsTo("+46701234567", pn1, "sv"))
	e.n.Kick()
	j := waitForRetry(t, e.v)
	if !j.Due.Equal(t0.Add(maxAge)) {
		t.Errorf("retry due at %v, want max_age (%v): no retry is scheduled after it", j.Due.Sub(t0), maxAge)
	}
	e.advance(maxAge)
	waitFor(t, "failed", func() bool { return countKind(t, e.v, a.ID, vault.EventFailed) == 1 })
	evs, _ := e.v.Events(a.ID)
	if ev := evs[len(evs)-1]; !strings.Contains(ev.Detail, "gave up after 2 attempts") || !strings.Contains(ev.Detail, "HTTP 503") {
		t.Errorf("failed event detail %q", ev.Detail)
	}
	if len(pending(t, e.v)) != 0 {
		t.Error("job kept after failed")
	}
	if got := counterValue(sendsTotal.WithLabelValues("46elks", resultFailed)) - failedBefore; got != 1 {
		t.Errorf("sends_total{46elks,failed} grew by %v", got)
	}
	if n := elks.refusedCount(); n != 2 {
		t.Errorf("%d attempts, want 2", n)
	}
}

// TestPermanentRefusal: a 400 (say, a number the provider cannot reach)
// fails the job at once.
func TestPermanentRefusal(t *testing.T) {
	e := newEnv(t)
	elks := newFakeElks(t)
	elks.status.Store(http.StatusBadRequest)
	e.start(elks.provider(t), nil)
	a := acceptOne(t, e.v, "Provsvar", smsTo("+46701234567", pn1, "sv"))
	e.n.Kick()
	waitFor(t, "failed", func() bool { return countKind(t, e.v, a.ID, vault.EventFailed) == 1 })
	if n := elks.refusedCount(); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
}

// TestOutage: the provider refuses everything for a while (several rounds
// of retries), then recovers: every job is then sent exactly once.
func TestOutage(t *testing.T) {
	e := newEnv(t)
	elks := newFakeElks(t)
	elks.status.Store(http.StatusServiceUnavailable)
	e.start(elks.provider(t), func(o *Options) { o.Workers = 6 })
	const n = 40
	var ids []string
	for i := range n {
		a := acceptOne(t, e.v, fmt.Sprintf("Ärende %d", i), smsTo(fmt.Sprintf("+467012345%02d", i), pn1, "sv"))
		ids = append(ids, a.ID)
	}
	e.n.Kick()
	for round := 1; round <= 3; round++ {
		waitFor(t, fmt.Sprintf("round %d of refusals", round), func() bool {
			jobs := pending(t, e.v)
			for _, j := range jobs {
				if j.Attempts < round || j.Leased {
					return false // not yet tried this round, or its outcome not yet recorded
				}
			}
			return len(jobs) == n
		})
		e.advance(Backoff(round, 1)) // past every job's retry time
	}
	if len(elks.sent()) != 0 || elks.refusedCount() < 3*n {
		t.Fatalf("during the outage: %d sent, %d refused", len(elks.sent()), elks.refusedCount())
	}
	elks.status.Store(0)
	e.advance(Backoff(4, 1))
	waitFor(t, "every job notified", func() bool { return len(pending(t, e.v)) == 0 })
	perTo := map[string]int{}
	for _, s := range elks.sent() {
		perTo[s.To]++
	}
	if len(perTo) != n {
		t.Fatalf("%d recipients got an SMS, want %d", len(perTo), n)
	}
	for to, k := range perTo {
		if k != 1 {
			t.Errorf("%s got %d SMS", to, k)
		}
	}
	for _, id := range ids {
		if k := countKind(t, e.v, id, vault.EventNotified); k != 1 {
			t.Errorf("message %s: %d notified events", id, k)
		}
	}
}

// TestWebhook: the JSON webhook gets a signed request with the idempotency
// key, and its signed delivery reports count; unsigned ones are refused.
func TestWebhook(t *testing.T) {
	secret := []byte("webhook-secret-" + randomHex(8))
	type got struct {
		body []byte
		sig  string
		key  string
	}
	reqs := make(chan got, 10)
	hook := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		b.ReadFrom(r.Body)
		reqs <- got{b.Bytes(), r.Header.Get(SignatureHeader), r.Header.Get("Idempotency-Key")}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"wh-1"}`))
	}))
	wh, err := NewWebhook(WebhookOptions{URL: hook.URL + "/send", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	e.start(wh, nil)
	a := acceptOne(t, e.v, "Provsvar", smsTo("+46701234567", pn1, "en"))
	e.n.Kick()
	waitFor(t, "notified", func() bool { return countKind(t, e.v, a.ID, vault.EventNotified) == 1 })
	r := <-reqs
	if r.sig != Sign(secret, r.body) {
		t.Errorf("signature %q does not verify", r.sig)
	}
	wantKey := "sigill-" + a.ID + "-0"
	if r.key != wantKey || !bytes.Contains(r.body, []byte(`"idempotency_key":"`+wantKey+`"`)) {
		t.Errorf("idempotency key %q, body %s", r.key, r.body)
	}
	if !bytes.Contains(r.body, []byte(`You have a secure message about \"Provsvar\". Read it here: https://read.example.se/m/`+a.Tokens[0])) {
		t.Errorf("body %s", r.body)
	}

	post := func(body, sig string) int {
		req, _ := http.NewRequest(http.MethodPost, e.hooks.URL+"/hooks/sms", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if sig != "" {
			req.Header.Set(SignatureHeader, sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	rep := `{"id":"wh-1","status":"delivered","delivered":"2026-03-02T09:31:00Z"}`
	if code := post(rep, ""); code != http.StatusForbidden {
		t.Errorf("unsigned report: %d, want 403", code)
	}
	if code := post(rep, Sign([]byte("another secret of ours"), []byte(rep))); code != http.StatusForbidden {
		t.Errorf("wrongly signed report: %d, want 403", code)
	}
	// 46elks' form, posted to the webhook's report URL, is not the
	// webhook's report: it parses its own.
	if resp, err := http.PostForm(e.hooks.URL+"/hooks/sms", url.Values{"id": {"wh-1"}, "status": {"delivered"}}); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("a form report to the webhook: %v %v, want 403", resp.StatusCode, err)
	}
	if countKind(t, e.v, a.ID, vault.EventDelivered) != 0 {
		t.Fatal("an unsigned report counted")
	}
	for range 2 {
		if code := post(rep, Sign(secret, []byte(rep))); code != http.StatusOK {
			t.Errorf("signed report: %d", code)
		}
	}
	if n := countKind(t, e.v, a.ID, vault.EventDelivered); n != 1 {
		t.Errorf("%d delivered events, want 1", n)
	}
}

// TestReportHandlerRefusals: what is not a report is refused with the
// right status, and never reaches the vault.
func TestReportHandlerRefusals(t *testing.T) {
	e := newEnv(t)
	elks := newFakeElks(t)
	e.start(elks.provider(t), nil)
	key := elks.provider(t).reportKey
	for _, c := range []struct {
		method, ctype, query, body string
		want                       int
	}{
		{"GET", "", "key=" + key, "", http.StatusMethodNotAllowed},
		{"POST", "text/plain", "key=" + key, "id=x", http.StatusUnsupportedMediaType},
		{"POST", "application/x-www-form-urlencoded", "key=" + key, "status=delivered", http.StatusBadRequest},
		{"POST", "application/x-www-form-urlencoded", "key=wrong", "id=x&status=delivered", http.StatusForbidden},
		{"POST", "application/x-www-form-urlencoded", "key=" + key, "id=x&status=exploded", http.StatusOK},
		{"POST", "application/json", "", `{"id":"x","status":"delivered"}`, http.StatusForbidden}, // not a webhook provider
		{"POST", "application/x-www-form-urlencoded", "key=" + key, "id=x&status=" + strings.Repeat("a", 20000), http.StatusRequestEntityTooLarge},
	} {
		req, _ := http.NewRequest(c.method, e.hooks.URL+"/hooks/sms?"+c.query, strings.NewReader(c.body))
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %s %.40q: %d, want %d", c.method, c.ctype, c.body, resp.StatusCode, c.want)
		}
	}
}

// TestStopFinishesInFlight: Run returns once the send in flight has been
// recorded, gives a job claimed but not started back (due at once), and a
// stopped notifier claims nothing more.
func TestStopFinishesInFlight(t *testing.T) {
	e := newEnv(t)
	elks := newFakeElks(t)
	elks.delay.Store(int64(300 * time.Millisecond))
	elks.slow.Store(1)
	e.start(elks.provider(t), func(o *Options) { o.Workers = 1 })
	a := acceptOne(t, e.v, "Provsvar", smsTo("+46701234567", pn1, "sv"), smsTo("+46701234568", pn2, "sv"))
	e.n.Kick()
	waitFor(t, "one send in flight and one queued", func() bool {
		jobs := pending(t, e.v)
		return len(jobs) == 2 && jobs[0].Leased && jobs[1].Leased
	})
	e.stop()
	if countKind(t, e.v, a.ID, vault.EventNotified) != 1 || len(elks.sent()) != 1 {
		t.Fatal("the send in flight was not finished and recorded before Run returned")
	}
	jobs := pending(t, e.v)
	if len(jobs) != 1 || jobs[0].Leased || jobs[0].Due.After(e.clock.Now()) {
		t.Fatalf("the queued job was not given back: %+v", jobs)
	}
	b := acceptOne(t, e.v, "Provsvar", smsTo("+46701234567", pn1, "sv"))
	time.Sleep(50 * time.Millisecond) // ten polls' worth: a running notifier would take it
	if countKind(t, e.v, b.ID, vault.EventNotified) != 0 || len(elks.sent()) != 1 {
		t.Fatal("a stopped notifier sent")
	}
}

func TestNewRefuses(t *testing.T) {
	v := openVault(t, nil)
	lp, err := NewLogProvider(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	elks := newFakeElks(t).provider(t)
	good := Options{Vault: v, LinkBase: linkBase, OrgName: orgName, SMS: lp}
	if _, err := New(good); err != nil {
		t.Fatalf("dev options refused: %v", err)
	}
	for name, mod := range map[string]func(*Options){
		"no vault":         func(o *Options) { o.Vault = nil },
		"no provider":      func(o *Options) { o.SMS = nil },
		"no organisation":  func(o *Options) { o.OrgName = " " },
		"bad link base":    func(o *Options) { o.LinkBase = "read.example.se" },
		"link base query":  func(o *Options) { o.LinkBase = "https://read.example.se/?x=1" },
		"no smarthost":     func(o *Options) { o.SMS = elks },
		"short lease":      func(o *Options) { o.Lease = time.Second },
		"negative workers": func(o *Options) { o.Workers = -1 },
		"vault without the hook": func(o *Options) {
			bare, err := vault.Open(vault.Options{Path: filepath.Join(t.TempDir(), "bare.db")})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { bare.Close() })
			o.Vault = bare
		},
	} {
		o := good
		mod(&o)
		if _, err := New(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
