package notifier

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"sigill/internal/testenv"

	"sigill/receipts/mailbox"
	"sigill/vault"
)

// TestReceiptJobs: with receipts mailed (mailbox.Options.MailToSender), the
// receipt job a "delivered" event queues is mailed to the sender through the
// smarthost with a null envelope sender, using the builder cmd wires; it
// records no event of its own, and one that cannot be built is dropped
// without a "failed" (a receipt about a receipt).
func TestReceiptJobs(t *testing.T) {
	c := newClock()
	boxes := mailbox.New(mailbox.Options{MailToSender: true})
	v, err := vault.Open(vault.Options{Path: filepath.Join(t.TempDir(), "sigill.db"), Now: c.Now, Hooks: []vault.Hook{boxes.Hook(), Hook()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	e := &env{t: t, clock: c, logs: &testenv.SyncBuffer{}, v: v}
	h := newSmarthost(t, true)
	elks := newFakeElks(t)
	var (
		mu     sync.Mutex
		events []uint64
		broken bool
	)
	e.start(elks.provider(t), func(o *Options) {
		o.Email = mustSMTPSender(t, h.options())
		o.ReceiptMail = func(_ context.Context, j vault.Job) ([]byte, error) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, j.Event)
			if broken {
				return nil, fmt.Errorf("event %d: %w", j.Event, vault.ErrNotFound)
			}
			return []byte(fmt.Sprintf("Subject: receipt for event %d\r\n\r\nDelivered.\r\n", j.Event)), nil
		}
	})
	a := acceptOne(t, v, "Provsvar", smsTo("+46701234567", pn1, "sv"))
	e.n.Kick()
	waitFor(t, "notified", func() bool { return countKind(t, v, a.ID, vault.EventNotified) == 1 })
	elks.report(elks.sent()[0], "delivered")
	e.n.Kick()
	waitFor(t, "the receipt mailed", func() bool { return len(h.received()) == 1 && len(pending(t, v)) == 0 })
	m := h.received()[0]
	if m.From != "" || !slices.Equal(m.To, []string{"staff@kommun.example.se"}) || !m.TLS {
		t.Errorf("receipt envelope %+v: want a null sender, to the sender's account, over TLS", m)
	}
	evs, _ := v.Events(a.ID)
	delivered := evs[len(evs)-1]
	if delivered.Kind != vault.EventDelivered || !strings.Contains(string(m.Data), fmt.Sprintf("event %d", delivered.Seq)) {
		t.Errorf("receipt %q, events %+v", m.Data, evs)
	}
	if k := eventKinds(t, v, a.ID); !slices.Equal(k, []vault.EventKind{vault.EventAccepted, vault.EventNotified, vault.EventDelivered}) {
		t.Errorf("events %v: the receipt recorded some", k)
	}

	// A receipt whose event is gone is dropped at once, without an event.
	mu.Lock()
	broken = true
	mu.Unlock()
	b := acceptOne(t, v, "Kallelse", smsTo("+46701234568", pn2, "sv"))
	e.n.Kick()
	waitFor(t, "notified", func() bool { return countKind(t, v, b.ID, vault.EventNotified) == 1 })
	var sms elksSMS
	for _, s := range elks.sent() {
		if s.To == "+46701234568" {
			sms = s
		}
	}
	elks.report(sms, "failed")
	e.n.Kick()
	waitFor(t, "the receipt job dropped", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) == 2 && len(pending(t, v)) == 0
	})
	if k := eventKinds(t, v, b.ID); !slices.Equal(k, []vault.EventKind{vault.EventAccepted, vault.EventNotified, vault.EventFailed}) {
		t.Errorf("events %v: want one failed (the delivery report's), none for the receipt", k)
	}
	if len(h.received()) != 1 {
		t.Error("a broken receipt was mailed")
	}
}
