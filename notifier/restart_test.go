package notifier

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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
	v, err := vault.Open(vault.Options{Path: os.Getenv("SIGILL_VAULT")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	n, err := restartNotifier(v, os.Getenv("SIGILL_PROVIDER"), []byte(os.Getenv("SIGILL_SECRET")), os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	n.Run(context.Background()) // until SIGKILL
	os.Exit(3)
}

const restartWorkers = 4

func restartNotifier(v *vault.Vault, providerURL string, secret []byte, logTo *os.File) (*Notifier, error) {
	wh, err := NewWebhook(WebhookOptions{URL: providerURL, Secret: secret})
	if err != nil {
		return nil, err
	}
	email, err := NewSMTPSender(SMTPOptions{Addr: "127.0.0.1:1", From: "noreply@secure.example.se"})
	if err != nil {
		return nil, err
	}
	return New(Options{
		Vault: v, Workers: restartWorkers, LinkBase: linkBase, OrgName: orgName, SMSSender: smsSender,
		SMS: wh, Email: email, PollEvery: 10 * time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(logTo, nil)),
	})
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
// acceptance was recorded is sent again. The only repeats are the sends in
// flight at the kill — the documented window — and they carry their
// original idempotency key.
func TestRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	const jobs = 60
	dir := t.TempDir()
	path := filepath.Join(dir, "sigill.db")
	v, err := vault.Open(vault.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, jobs)
	for i := range jobs {
		ids[i] = acceptOne(t, v, fmt.Sprintf("Ärende %d", i), smsTo(fmt.Sprintf("+467012345%02d", i), pn1, "sv")).ID
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}

	prov := &acceptor{holdAfter: 20, release: make(chan struct{}), accepted: map[string]int{}}
	srv := newTestServer(t, prov)
	secret := "restart-secret-" + randomHex(8)
	var stderr bytes.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "SIGILL_VAULT="+path, "SIGILL_PROVIDER="+srv.URL+"/send", "SIGILL_SECRET="+secret)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	released := false
	defer func() {
		if !released {
			close(prov.release)
		}
		cmd.Process.Kill()
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

	v, err = vault.Open(vault.Options{Path: path})
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

	// The restart, here: the same code on the same file.
	logs := &testenv.SyncBuffer{}
	n, err := New(Options{
		Vault: v, Workers: restartWorkers, LinkBase: linkBase, OrgName: orgName, SMSSender: smsSender,
		SMS:       mustWebhook(t, srv.URL+"/send", secret),
		Email:     mustSMTPSender(t, SMTPOptions{Addr: "127.0.0.1:1", From: "noreply@secure.example.se"}),
		PollEvery: 10 * time.Millisecond, Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	waitFor(t, "every job sent after the restart", func() bool { return len(pending(t, v)) == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

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
