package notifier

import (
	"context"
	"errors"
	"testing"
	"time"

	"sigill/vault"
)

func revokeRecipient(t *testing.T, v *vault.Vault, id string, recipient int) {
	t.Helper()
	if _, err := v.Revoke(context.Background(), id, recipient, "fel mottagare", "admin"); err != nil {
		t.Fatal(err)
	}
}

// TestWithdrawnNotNotified: a withdrawn recipient gets no SMS — whether
// its job was waiting (the vault drops it) or held by the claim of a
// process that died (the restarted notifier asks 46elks, finds nothing,
// looks the link up and ends the job) — while the other recipient's goes.
func TestWithdrawnNotNotified(t *testing.T) {
	e := newEnv(t)
	elks := newFakeElks(t)
	withdrawnBefore := counterValue(sendsTotal.WithLabelValues("46elks", resultWithdrawn))
	a := acceptOne(t, e.v, "Provsvar", smsTo("+46701234567", pn1, "sv"), smsTo("+46701234568", pn2, "sv"))
	claimed, err := e.v.ClaimJobs(e.clock.Now(), 1, time.Minute) // by a process that then dies
	if err != nil || len(claimed) != 1 || claimed[0].Recipient != 0 {
		t.Fatalf("claim: %+v, %v", claimed, err)
	}
	b := acceptOne(t, e.v, "Remiss", smsTo("+46701234569", pn3, "sv"))
	revokeRecipient(t, e.v, a.ID, 0)
	revokeRecipient(t, e.v, b.ID, 0)
	if jobs := pending(t, e.v); len(jobs) != 2 {
		t.Fatalf("before the start: %d jobs, want the claimed one and the other recipient's", len(jobs))
	}

	e.start(elks.provider(t), nil)
	waitFor(t, "the outbox to empty", func() bool { return len(pending(t, e.v)) == 0 })
	e.stop()
	sent := elks.sent()
	if len(sent) != 1 || sent[0].To != "+46701234568" {
		t.Errorf("sent %+v, want only the SMS of the recipient still there", sent)
	}
	if n := countKind(t, e.v, a.ID, vault.EventNotified); n != 1 {
		t.Errorf("%d notified events, want 1 (the other recipient)", n)
	}
	if n := countKind(t, e.v, a.ID, vault.EventFailed) + countKind(t, e.v, b.ID, vault.EventFailed) + countKind(t, e.v, b.ID, vault.EventNotified); n != 0 {
		t.Errorf("%d failed or notified events for withdrawn copies", n)
	}
	if got := counterValue(sendsTotal.WithLabelValues("46elks", resultWithdrawn)) - withdrawnBefore; got != 1 {
		t.Errorf("sends_total{46elks,withdrawn} grew by %v, want 1 (the claimed job)", got)
	}
	e.checkLogs(a.Tokens...)
}

// gatedSMS is a provider whose sends wait for the test and then fail for
// now (a 503), so a withdrawal can come while one is in flight.
type gatedSMS struct {
	entered, release chan struct{}
}

func (g *gatedSMS) Name() string { return "gated" }

func (g *gatedSMS) Send(ctx context.Context, m SMS) (string, error) {
	g.entered <- struct{}{}
	<-g.release
	return "", errors.New("503 Service Unavailable")
}

// TestWithdrawnWhileSending: a send that fails for now while its copy is
// withdrawn is not retried: the job ends as withdrawn, with no failed
// event (the sender gets no "not delivered" receipt for it).
func TestWithdrawnWhileSending(t *testing.T) {
	e := newEnv(t)
	g := &gatedSMS{entered: make(chan struct{}), release: make(chan struct{})}
	a := acceptOne(t, e.v, "Provsvar", smsTo("+46701234567", pn1, "sv"))
	e.start(g, nil)
	<-g.entered
	revokeRecipient(t, e.v, a.ID, 0)
	close(g.release)
	waitFor(t, "the job to end", func() bool { return len(pending(t, e.v)) == 0 })
	e.stop()
	if k := eventKinds(t, e.v, a.ID); len(k) != 2 || k[1] != vault.EventRevoked {
		t.Errorf("events %v, want accepted and revoked only", k)
	}
	if got := counterValue(sendsTotal.WithLabelValues("gated", resultRetry)); got != 0 {
		t.Errorf("a retry was counted: %v", got)
	}
}
