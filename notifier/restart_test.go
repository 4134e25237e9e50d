package notifier

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"sigill/internal/testenv"

	"sigill/vault"
)

const helperEnv = "SIGILL_NOTIFIER_HELPER"

// TestHelperProcess is the notifier run by TestRestart in a child process,
// which that test SIGKILLs in mid-run. It does nothing in a normal run.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("the child process of TestRestart")
	}
	v, err := vault.Open(vault.Options{Path: os.Getenv("SIGILL_VAULT"), Hooks: []vault.Hook{Hook()}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var sms SMSProvider
	if os.Getenv("SIGILL_PROVIDER_KIND") == "46elks" {
		sms, err = NewElks(ElksOptions{URL: os.Getenv("SIGILL_PROVIDER"), Username: os.Getenv("SIGILL_USER"), Password: os.Getenv("SIGILL_SECRET")})
	} else {
		sms, err = NewWebhook(WebhookOptions{URL: os.Getenv("SIGILL_PROVIDER"), Secret: []byte(os.Getenv("SIGILL_SECRET"))})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	n, err := restartNotifier(v, sms, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	n.Run(context.Background()) // until SIGKILL
	os.Exit(3)
}

const restartWorkers = 4

func restartNotifier(v *vault.Vault, sms SMSProvider, logTo io.Writer) (*Notifier, error) {
	email, err := NewSMTPSender(SMTPOptions{Addr: "127.0.0.1:1", From: "noreply@secure.example.se"})
	if err != nil {
		return nil, err
	}
	return New(Options{
		Vault: v, Workers: restartWorkers, LinkBase: linkBase, OrgName: orgName, SMSSender: smsSender,
		SMS: sms, Email: email, PollEvery: 10 * time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(logTo, nil)),
	})
}

// startKillable starts TestHelperProcess's notifier on the vault at path
// with the provider env names; kill it with cmd.Process.Kill.
func startKillable(t *testing.T, path string, env ...string) (*exec.Cmd, *testenv.SyncBuffer) {
	t.Helper()
	stderr := &testenv.SyncBuffer{}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v")
	cmd.Env = append(append(os.Environ(), helperEnv+"=1", "SIGILL_VAULT="+path), env...)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, stderr
}

// restartUntilDone is the restart, in the test's process: the same code
// on the same vault, run until the outbox is empty. It returns the log.
func restartUntilDone(t *testing.T, v *vault.Vault, sms SMSProvider) *testenv.SyncBuffer {
	t.Helper()
	logs := &testenv.SyncBuffer{}
	n, err := restartNotifier(v, sms, logs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	waitFor(t, "every job done after the restart", func() bool { return len(pending(t, v)) == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return logs
}

// queueJobs makes a vault at path with jobs SMS jobs, to numbers phone
// numbers in turn, and closes it; it returns the message ids.
func queueJobs(t *testing.T, path string, jobs, numbers int) []string {
	t.Helper()
	v, err := vault.Open(vault.Options{Path: path, Hooks: []vault.Hook{Hook()}})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, jobs)
	for i := range jobs {
		ids[i] = acceptOne(t, v, fmt.Sprintf("Ärende %d", i), smsTo(fmt.Sprintf("+467012345%02d", i%numbers), pn1, "sv")).ID
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// acceptor is a webhook provider that counts its acceptances per
// idempotency key. Once it has accepted holdAfter of them it holds every
// later answer (having accepted the message) until release is closed: a
// process killed then has provider acceptances it never recorded.
type acceptor struct {
	holdAfter int
	release   chan struct{}

	mu       sync.Mutex
	accepted map[string]int
	total    int
	held     int
}

func (a *acceptor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		http.Error(w, "no key", http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	a.accepted[key]++
	a.total++
	n := a.accepted[key]
	hold := a.total > a.holdAfter
	if hold {
		a.held++
	}
	a.mu.Unlock()
	if hold {
		<-a.release
	} else {
		time.Sleep(5 * time.Millisecond)
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":"wh-%s-%d"}`, key, n)
}

func (a *acceptor) snapshot() (map[string]int, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := make(map[string]int, len(a.accepted))
	for k, v := range a.accepted {
		m[k] = v
	}
	return m, a.held
}

// TestRestart: a notifier SIGKILLed with jobs due and sends in flight
// loses none: after a restart every job is sent, and no job whose provider
// acceptance was recorded is sent again. The webhook keeps no log to ask:
// the sends in flight at the kill are repeated, with their original
// idempotency key, by which the webhook's contract has the receiver drop
// them.
func TestRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	const jobs = 60
	path := filepath.Join(t.TempDir(), "sigill.db")
	ids := queueJobs(t, path, jobs, jobs)

	prov := &acceptor{holdAfter: 20, release: make(chan struct{}), accepted: map[string]int{}}
	srv := newTestServer(t, prov)
	secret := "restart-secret-" + randomHex(8)
	cmd, stderr := startKillable(t, path, "SIGILL_PROVIDER="+srv.URL+"/send", "SIGILL_SECRET="+secret)
	released := false
	defer func() {
		if !released {
			close(prov.release)
		}
	}()
	// Kill once every worker is stuck in a send the provider has accepted.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, held := prov.snapshot(); held == restartWorkers {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child never got going; its log:\n%s", stderr.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()
	close(prov.release)
	released = true
	atKill, held := prov.snapshot()
	if held != restartWorkers {
		t.Fatalf("%d sends in flight at the kill, want %d", held, restartWorkers)
	}

	v, err := vault.Open(vault.Options{Path: path, Hooks: []vault.Hook{Hook()}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	recorded := map[string]bool{}
	for _, id := range ids {
		if countKind(t, v, id, vault.EventNotified) == 1 {
			recorded["sigill-"+id+"-0"] = true
		}
	}
	left := pending(t, v)
	if len(recorded) == 0 || len(left) == 0 || len(recorded)+len(left) != jobs {
		t.Fatalf("at the kill: %d recorded, %d in the outbox, want both and %d in all", len(recorded), len(left), jobs)
	}

	restartUntilDone(t, v, mustWebhook(t, srv.URL+"/send", secret))

	final, _ := prov.snapshot()
	window := 0
	for _, id := range ids {
		key := "sigill-" + id + "-0"
		if k := countKind(t, v, id, vault.EventNotified); k != 1 {
			t.Errorf("%s: %d notified events, want 1", id, k)
		}
		switch {
		case final[key] == 0:
			t.Errorf("%s: never sent", key)
		case recorded[key] && final[key] != 1:
			t.Errorf("%s: its acceptance was recorded before the kill, yet sent %d times", key, final[key])
		case final[key] > 1:
			// Sent twice only when in flight at the kill: accepted, not recorded.
			if atKill[key] != 1 || final[key] != 2 {
				t.Errorf("%s: sent %d times (%d before the kill)", key, final[key], atKill[key])
			}
			window++
		}
	}
	if window > restartWorkers {
		t.Errorf("%d jobs sent twice, more than the %d in flight at the kill", window, restartWorkers)
	}
	t.Logf("%d jobs: %d recorded before the kill, %d sent again from the crash window, %d sent after the restart",
		jobs, len(recorded), window, len(left)-window)
}

func mustWebhook(t testing.TB, url, secret string) *Webhook {
	t.Helper()
	wh, err := NewWebhook(WebhookOptions{URL: url, Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	return wh
}

// TestRestartAsks46elks: a notifier SIGKILLed while 46elks holds the
// answers to sends it has accepted (the crash window: the SMS is on its way
// to the phone, the vault does not know). After the restart those jobs are
// in doubt; the notifier finds each in 46elks' log of sent SMS (GET /a1/sms
// by number and time, page by page) and records 46elks' id instead of
// sending it again. No SMS goes out twice, and none is lost.
func TestRestartAsks46elks(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	const jobs = 60
	path := filepath.Join(t.TempDir(), "sigill.db")
	ids := queueJobs(t, path, jobs, 5) // 12 SMS a number: lookups page
	elks := newFakeElks(t)
	release := elks.holdAnswers(20)
	defer release()
	elks.pageMax.Store(3)
	cmd, stderr := startKillable(t, path, "SIGILL_PROVIDER_KIND=46elks",
		"SIGILL_PROVIDER="+elks.URL(), "SIGILL_USER="+elks.user, "SIGILL_SECRET="+elks.pass)
	waitFor(t, "every worker waiting for an answer 46elks holds", func() bool {
		if cmd.ProcessState != nil {
			t.Fatalf("the child ended; its log:\n%s", stderr)
		}
		return elks.held.Load() == restartWorkers
	})
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()
	release()
	atKill := len(elks.sent())

	v, err := vault.Open(vault.Options{Path: path, Hooks: []vault.Hook{Hook()}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if left := len(pending(t, v)); atKill != 20+restartWorkers || left != jobs-20 {
		t.Fatalf("at the kill: 46elks took %d, %d jobs left; want %d and %d", atKill, left, 20+restartWorkers, jobs-20)
	}

	logs := restartUntilDone(t, v, elks.provider(t))

	sent := elks.sent()
	byText := map[string]elksSMS{}
	for _, s := range sent {
		if prev, dup := byText[s.To+s.Message]; dup {
			t.Errorf("46elks took one SMS twice: %s and %s", prev.ID, s.ID)
		}
		byText[s.To+s.Message] = s
	}
	if len(sent) != jobs {
		t.Errorf("46elks took %d SMS for %d jobs", len(sent), jobs)
	}
	// Each job's notified event names the one SMS 46elks has for it.
	elksIDs := map[string]bool{}
	for _, s := range sent {
		elksIDs[s.ID] = true
	}
	recorded := map[string]bool{}
	for _, id := range ids {
		evs, err := v.Events(id)
		if err != nil {
			t.Fatal(err)
		}
		k := 0
		for _, ev := range evs {
			if ev.Kind == vault.EventNotified {
				k++
				if !elksIDs[ev.ProviderID] || recorded[ev.ProviderID] {
					t.Errorf("%s: notified under %q, not one SMS of its own at 46elks", id, ev.ProviderID)
				}
				recorded[ev.ProviderID] = true
			}
		}
		if k != 1 {
			t.Errorf("%s: %d notified events, want 1", id, k)
		}
	}
	found := strings.Count(logs.String(), "the provider had the message in doubt; recorded")
	if found != restartWorkers || elks.lookups.Load() < restartWorkers {
		t.Errorf("%d jobs found at 46elks in %d lookups, want the %d in flight at the kill; the log:\n%s",
			found, elks.lookups.Load(), restartWorkers, logs)
	}
	for _, s := range sent {
		if strings.Contains(logs.String(), s.Message) || strings.Contains(logs.String(), s.Message[strings.Index(s.Message, "/m/"):]) {
			t.Fatal("the log holds an SMS text or its link")
		}
	}
	t.Logf("%d jobs: %d taken by 46elks before the kill (%d of them unrecorded), %d lookups, %d SMS in all",
		jobs, atKill, restartWorkers, elks.lookups.Load(), len(sent))
}

// claimAndDie leaves the vault's one job as a process that died while
// sending it leaves it: claimed, leased, its outcome unrecorded. Run's
// ReleaseClaims then puts it in doubt.
func claimAndDie(t *testing.T, e *env) vault.Job {
	t.Helper()
	jobs, err := e.v.ClaimJobs(e.clock.Now(), 1, DefaultLease)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claimed %d jobs, %v", len(jobs), err)
	}
	return jobs[0]
}

// TestInDoubtFoundDelivered: a job in doubt that 46elks has, and has since
// delivered, is recorded as notified under 46elks' id and as delivered (its
// delivery report came while sigill was down), and is not sent again.
func TestInDoubtFoundDelivered(t *testing.T) {
	e := newEnv(t)
	elks := newFakeElks(t)
	a := acceptOne(t, e.v, "Provsvar", smsTo("+46701234567", pn1, "sv"))
	j := claimAndDie(t, e)
	elks.took(elksSMS{
		ID: "s0123456789abcdef0123456789abcdef", From: smsSender, To: j.To,
		Message: SMSText("sv", (&Notifier{v: e.v, o: Options{OrgName: orgName}}).senderLine(j), j.Errand, linkBase+"/m/"+j.Token),
		Created: e.clock.Now().Add(20 * time.Millisecond), Status: "delivered", Delivered: "2026-03-02T09:30:05.581795",
	})
	foundBefore := counterValue(sendsTotal.WithLabelValues("46elks", resultFound))
	e.start(elks.provider(t), nil)
	waitFor(t, "the job done and its delivery recorded", func() bool {
		return len(pending(t, e.v)) == 0 && countKind(t, e.v, a.ID, vault.EventDelivered) == 1
	})
	evs, _ := e.v.Events(a.ID)
	var kinds []vault.EventKind
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
		if ev.Kind == vault.EventNotified && ev.ProviderID != "s0123456789abcdef0123456789abcdef" {
			t.Errorf("notified under %q, not 46elks' id", ev.ProviderID)
		}
		if ev.Kind == vault.EventDelivered && !ev.At.Equal(time.Date(2026, 3, 2, 9, 30, 5, 581795000, time.UTC)) {
			t.Errorf("delivered at %v, not when 46elks says", ev.At)
		}
	}
	if !slices.Contains(kinds, vault.EventNotified) || !slices.Contains(kinds, vault.EventDelivered) {
		t.Errorf("events %v, want notified and delivered", kinds)
	}
	if n := len(elks.sent()); n != 1 {
		t.Errorf("46elks has %d SMS, want the 1 it had", n)
	}
	if got := counterValue(sendsTotal.WithLabelValues("46elks", resultFound)) - foundBefore; got != 1 {
		t.Errorf("sends_total{46elks,found} grew by %v", got)
	}
	e.checkLogs(a.Tokens...)
}

// TestInDoubtLookupFails: while 46elks' log cannot be read, a job in doubt
// is retried with backoff and not sent; at max_age a lookup that still
// fails no longer holds it back: it is sent unreconciled, once.
func TestInDoubtLookupFails(t *testing.T) {
	e := newEnv(t)
	elks := newFakeElks(t)
	elks.lookupErr.Store(http.StatusBadGateway)
	const maxAge = 10 * time.Second
	a := acceptOne(t, e.v, "Provsvar", smsTo("+46701234567", pn1, "sv"))
	b := acceptOne(t, e.v, "Kallelse", smsTo("+46701234568", pn1, "sv"))
	claimAndDie(t, e)
	claimAndDie(t, e)
	e.start(elks.provider(t), func(o *Options) { o.MaxAge = maxAge })
	waitFor(t, "both retries scheduled", func() bool {
		jobs := pending(t, e.v)
		return len(jobs) == 2 && jobs[0].LastError != "" && jobs[1].LastError != ""
	})
	for _, j := range pending(t, e.v) {
		if !strings.Contains(j.LastError, "looking for the message in doubt") || !strings.Contains(j.LastError, "HTTP 502") || j.InDoubtSince.IsZero() {
			t.Errorf("job %d: last error %q, in doubt since %v", j.ID, j.LastError, j.InDoubtSince)
		}
	}
	if n := len(elks.sent()); n != 0 {
		t.Fatalf("%d SMS sent while the log could not be read", n)
	}
	// At max_age, the log still down: sent anyway, each once.
	e.advance(maxAge)
	waitFor(t, "both sent at max_age", func() bool { return len(pending(t, e.v)) == 0 })
	if n := len(elks.sent()); n != 2 || countKind(t, e.v, a.ID, vault.EventNotified) != 1 || countKind(t, e.v, b.ID, vault.EventNotified) != 1 {
		t.Fatalf("%d SMS sent at max_age, want 2, each notified", n)
	}
	if !strings.Contains(e.logs.String(), "cannot ask the provider whether it has the message in doubt; sending it again") {
		t.Error("the log does not say the jobs were sent unreconciled")
	}
	e.checkLogs(a.Tokens...)
}

// TestTimeoutInDoubt: a send that 46elks took but answered too late (the
// attempt timed out) leaves its job in doubt; the next attempt finds the
// SMS in 46elks' log and records it, rather than sending it again. A
// lookup that 46elks refuses for good (400) does not hold a job back.
func TestTimeoutInDoubt(t *testing.T) {
	e := newEnv(t)
	elks := newFakeElks(t)
	defer elks.holdAnswers(0)() // released before the server closes
	e.start(elks.provider(t), func(o *Options) { o.SendTimeout = 100 * time.Millisecond })
	a := acceptOne(t, e.v, "Provsvar", smsTo("+46701234567", pn1, "sv"))
	e.n.Kick()
	j := waitForRetry(t, e.v)
	if !strings.Contains(j.LastError, "deadline exceeded") || j.InDoubtSince.IsZero() {
		t.Fatalf("after a lost answer: last error %q, in doubt since %v", j.LastError, j.InDoubtSince)
	}
	e.advance(time.Minute)
	waitFor(t, "notified", func() bool { return countKind(t, e.v, a.ID, vault.EventNotified) == 1 })
	sent := elks.sent()
	if len(sent) != 1 {
		t.Fatalf("46elks took %d SMS, want 1", len(sent))
	}
	evs, _ := e.v.Events(a.ID)
	if ev := evs[len(evs)-1]; ev.ProviderID != sent[0].ID {
		t.Errorf("notified under %q, want 46elks' id %q", ev.ProviderID, sent[0].ID)
	}

	e.checkLogs(a.Tokens...)
}

// TestInDoubtLookupRefused: a lookup 46elks refuses for good (400: asking
// again cannot help) does not hold a job in doubt back: it is sent at once.
func TestInDoubtLookupRefused(t *testing.T) {
	e := newEnv(t)
	elks := newFakeElks(t)
	elks.lookupErr.Store(http.StatusBadRequest)
	a := acceptOne(t, e.v, "Provsvar", smsTo("+46701234567", pn1, "sv"))
	claimAndDie(t, e)
	e.start(elks.provider(t), nil)
	waitFor(t, "notified", func() bool { return countKind(t, e.v, a.ID, vault.EventNotified) == 1 })
	if n := len(elks.sent()); n != 1 || elks.lookups.Load() != 1 {
		t.Fatalf("%d SMS after %d lookups, want 1 after 1", n, elks.lookups.Load())
	}
	if !strings.Contains(e.logs.String(), "cannot ask the provider whether it has the message in doubt; sending it again") {
		t.Error("the log does not say the job was sent unreconciled")
	}
}

// TestLateOutcomeFenced: a send that outlasts its lease cannot record over
// the claim that took the job since. The first attempt's answer is held
// past the lease; a second claim takes the job (in doubt), cannot read
// 46elks' log and schedules a retry; the first attempt's answer then comes
// and is refused (the lease is no longer its own), so the job stays the
// second claim's: it is looked up at its retry, found, and recorded as
// notified once, under 46elks' id, with one SMS sent.
func TestLateOutcomeFenced(t *testing.T) {
	e := newEnv(t)
	elks := newFakeElks(t)
	release := elks.holdAnswers(0)
	defer release()
	elks.lookupErr.Store(http.StatusServiceUnavailable)
	e.start(elks.provider(t), func(o *Options) { o.Workers = 2; o.SendTimeout = time.Hour; o.Lease = 2 * time.Hour })
	a := acceptOne(t, e.v, "Provsvar", smsTo("+46701234567", pn1, "sv"))
	e.n.Kick()
	waitFor(t, "the first attempt's SMS taken, its answer held", func() bool { return elks.held.Load() == 1 })

	e.advance(2*time.Hour + time.Second) // the lease runs out
	waitFor(t, "a second claim that cannot look the job up, and retries", func() bool {
		jobs := pending(t, e.v)
		return len(jobs) == 1 && jobs[0].Attempts == 2 && !jobs[0].Leased && !jobs[0].InDoubtSince.IsZero()
	})
	release()
	waitFor(t, "the late answer refused", func() bool { return strings.Contains(e.logs.String(), "not recorded over it") })
	if n := countKind(t, e.v, a.ID, vault.EventNotified); n != 0 || len(pending(t, e.v)) != 1 {
		t.Fatalf("the late outcome was recorded over the second claim: %d notified, %d jobs", n, len(pending(t, e.v)))
	}

	elks.lookupErr.Store(0)
	e.advance(time.Hour) // the retry comes due
	waitFor(t, "the job found at 46elks and recorded", func() bool { return countKind(t, e.v, a.ID, vault.EventNotified) == 1 })
	evs, _ := e.v.Events(a.ID)
	sent := elks.sent()
	if ev := evs[len(evs)-1]; len(sent) != 1 || ev.ProviderID != sent[0].ID {
		t.Errorf("%d SMS at 46elks; notified event %+v", len(sent), ev)
	}
	e.checkLogs(a.Tokens...)
}
