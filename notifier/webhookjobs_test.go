package notifier

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"sigill/internal/testenv"
	"sigill/vault"
)

// queueWebhooks is a hook that queues a webhook job for every "notified"
// event, as the REST API's hook does for an endpoint that subscribed.
func queueWebhooks() vault.Hook {
	return vault.Hook{Name: "test webhooks", Appended: func(tx vault.Tx, ev vault.Event) error {
		if ev.Kind != vault.EventNotified {
			return nil
		}
		_, err := tx.QueueJob(vault.Job{Kind: kindWebhook, MessageID: ev.MessageID, Recipient: ev.Recipient, To: "wh_test", Event: ev.Seq})
		return err
	}}
}

// TestWebhookJobs: a webhook job follows its own schedule: the first
// retry within 5 s (not notification's 15-30 s), retries past
// notifier.max_age up to WebhookMaxAge, where the last attempt is made and
// the job dropped without an event; a permanent error drops it at once.
func TestWebhookJobs(t *testing.T) {
	c := newClock()
	v, err := vault.Open(vault.Options{Path: filepath.Join(t.TempDir(), "sigill.db"), Now: c.Now, Hooks: []vault.Hook{Hook(), queueWebhooks()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	e := &env{t: t, clock: c, logs: &testenv.SyncBuffer{}, v: v}
	var (
		mu       sync.Mutex
		attempts []uint64
		answer   error
	)
	setAnswer := func(err error) { mu.Lock(); answer = err; mu.Unlock() }
	tried := func() int { mu.Lock(); defer mu.Unlock(); return len(attempts) }
	setAnswer(errors.New("HTTP 500"))
	failedBefore := counterValue(sendsTotal.WithLabelValues(webhookProvider, resultFailed))
	okBefore := counterValue(sendsTotal.WithLabelValues(webhookProvider, resultOK))
	lp, err := NewLogProvider(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e.start(lp, func(o *Options) {
		o.MaxAge = time.Hour // webhooks outlast it
		o.Webhook = func(_ context.Context, j vault.Job) error {
			mu.Lock()
			defer mu.Unlock()
			attempts = append(attempts, j.Event)
			return answer
		}
	})
	t0 := c.Now()
	a := acceptOne(t, v, "Provsvar", smsTo("+46701234567", pn1, "sv"))
	e.n.Kick()
	j := waitForRetry(t, v)
	if j.Kind != kindWebhook || j.Attempts != 1 {
		t.Fatalf("job %+v", j)
	}
	if d := j.Due.Sub(t0); d < 2500*time.Millisecond || d > 5*time.Second {
		t.Errorf("the first retry due after %v, want 2.5-5 s", d)
	}
	// Every later failure waits longer, and the job lives past max_age.
	last := j
	deadline := j.Created.Add(WebhookMaxAge)
	for last.Due.Before(deadline) {
		e.advance(last.Due.Sub(c.Now()))
		waitFor(t, "the next attempt", func() bool {
			jobs := pending(t, v)
			if len(jobs) == 1 && jobs[0].Attempts > last.Attempts && !jobs[0].Leased {
				j = jobs[0]
				return true
			}
			return false
		})
		if !j.Due.After(c.Now()) {
			t.Fatalf("attempt %d: due at once", j.Attempts)
		}
		last = j
	}
	if last.Attempts < 6 || !last.Due.Equal(deadline) {
		t.Errorf("after %d attempts the last is due at %v, want WebhookMaxAge", last.Attempts, last.Due.Sub(j.Created))
	}
	// The last attempt is at WebhookMaxAge, then the job goes, with no event.
	e.advance(deadline.Sub(c.Now()))
	waitFor(t, "the job dropped", func() bool {
		return len(pending(t, v)) == 0 && counterValue(sendsTotal.WithLabelValues(webhookProvider, resultFailed))-failedBefore == 1
	})
	if got := c.Now().Sub(t0); got < 24*time.Hour {
		t.Errorf("given up after %v; the contract says at least 24 h", got)
	}
	if k := eventKinds(t, v, a.ID); len(k) != 2 {
		t.Errorf("events %v: a webhook records none", k)
	}

	// Delivered: the job goes; a permanent error: at once, after one try.
	setAnswer(nil)
	acceptOne(t, v, "Kallelse", smsTo("+46701234568", pn2, "sv"))
	e.n.Kick()
	waitFor(t, "delivered", func() bool {
		return len(pending(t, v)) == 0 && counterValue(sendsTotal.WithLabelValues(webhookProvider, resultOK))-okBefore == 1
	})
	if n := tried(); n != last.Attempts+2 {
		t.Errorf("%d attempts; want %d", n, last.Attempts+2)
	}
	setAnswer(fmt.Errorf("endpoint deleted: %w", vault.ErrNotFound))
	before := tried()
	acceptOne(t, v, "Remiss", smsTo("+46701234569", pn3, "sv"))
	e.n.Kick()
	waitFor(t, "dropped", func() bool { return tried() == before+1 && len(pending(t, v)) == 0 })
}

func TestWebhookBackoff(t *testing.T) {
	if d := WebhookBackoff(1, 1); d != 5*time.Second {
		t.Errorf("first: %v", d)
	}
	if d := WebhookBackoff(1, 0); d != 2500*time.Millisecond {
		t.Errorf("first, least: %v", d)
	}
	if d := WebhookBackoff(100, 1); d != 10*time.Hour {
		t.Errorf("late: %v", d)
	}
	var sum time.Duration
	for i := 1; sum < WebhookMaxAge; i++ {
		sum += WebhookBackoff(i, 0)
		if i > 50 {
			t.Fatal("the least schedule never reaches WebhookMaxAge")
		}
	}
}
