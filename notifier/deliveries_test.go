package notifier

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"sigill/vault"
)

// TestDeliveryRecords: the notifier's hook keeps the provider id of every
// notification completed under one; the first final report becomes its
// event, and repeats, news on the way, a second final status, an id of
// another provider and an unknown id change nothing; records older than the
// prune's time are forgotten.
func TestDeliveryRecords(t *testing.T) {
	e := newEnv(t)
	n := e.start(newFakeElks(t).provider(t), func(o *Options) { o.PollEvery = time.Hour })
	e.stop() // the test completes the jobs itself, as a worker would
	a := acceptOne(t, e.v, "Provsvar", smsTo("+46701234567", pn1, "sv"), smsTo("+46701234568", pn2, "sv"))
	jobs, err := e.v.ClaimJobs(e.clock.Now(), 2, DefaultLease)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("claimed %d, %v", len(jobs), err)
	}
	for i, j := range jobs {
		if err := e.v.CompleteJob(j.ID, j.Lease, notified(j, "46elks", []string{"id-a", "id-b"}[i])); err != nil {
			t.Fatal(err)
		}
	}
	at := e.clock.Now().Add(5 * time.Second)
	for _, s := range []struct {
		provider, id string
		status       DeliveryStatus
		want         vault.EventKind
		err          error
	}{
		{"46elks", "id-a", StatusSent, "", nil},
		{"46elks", "id-a", StatusDelivered, vault.EventDelivered, nil},
		{"46elks", "id-a", StatusDelivered, "", nil},
		{"46elks", "id-a", StatusSent, "", nil},
		{"46elks", "id-a", StatusFailed, "", nil},
		{"46elks", "id-a", StatusUnknown, "", nil},
		{"46elks", "id-b", StatusFailed, vault.EventFailed, nil},
		{"46elks", "id-b", StatusDelivered, "", nil},
		{"46elks", "id-c", StatusDelivered, "", vault.ErrNotFound},
		{"webhook", "id-a", StatusDelivered, "", vault.ErrNotFound},
	} {
		got, err := n.recordDelivery(s.provider, s.id, s.status, at)
		if got != s.want || (s.err == nil) != (err == nil) || s.err != nil && !errors.Is(err, s.err) {
			t.Errorf("%s %s %v: %q, %v; want %q, %v", s.provider, s.id, s.status, got, err, s.want, s.err)
		}
	}
	evs, _ := e.v.Events(a.ID)
	var got []string
	for _, ev := range evs {
		got = append(got, string(ev.Kind)+"/"+string(rune('0'+ev.Recipient)))
		if ev.Kind == vault.EventDelivered && (!ev.At.Equal(at) || ev.ProviderID != "id-a" || ev.Detail != "46elks") {
			t.Errorf("delivered event %+v, want 46elks' id and time %v", ev, at)
		}
	}
	want := []string{"accepted/0", "accepted/1", "notified/0", "notified/1", "delivered/0", "failed/1"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}

	if k, err := n.pruneDeliveries(e.clock.Now()); err != nil || k != 0 {
		t.Fatalf("prune of nothing old: %d, %v", k, err)
	}
	if k, err := n.pruneDeliveries(e.clock.Now().Add(time.Second)); err != nil || k != 2 {
		t.Fatalf("prune: %d, %v", k, err)
	}
	if _, err := n.recordDelivery("46elks", "id-a", StatusDelivered, at); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("report after prune: %v", err)
	}
}

// TestSecondFinalReportRefusedByHook: the hook, not only recordDelivery's
// read, keeps a notification to one final report: an event of a second
// final report appended directly is refused, and not recorded.
func TestSecondFinalReportRefusedByHook(t *testing.T) {
	e := newEnv(t)
	a := acceptOne(t, e.v, "Provsvar", smsTo("+46701234567", pn1, "sv"))
	jobs, err := e.v.ClaimJobs(e.clock.Now(), 1, DefaultLease)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claimed %d, %v", len(jobs), err)
	}
	if err := e.v.CompleteJob(jobs[0].ID, jobs[0].Lease, notified(jobs[0], "46elks", "id-a")); err != nil {
		t.Fatal(err)
	}
	report := vault.Event{MessageID: a.ID, Kind: vault.EventDelivered, ProviderID: "id-a", Detail: "46elks"}
	if err := e.v.Record(report); err != nil {
		t.Fatal(err)
	}
	report.Kind = vault.EventFailed
	if err := e.v.Record(report); !errors.Is(err, errAlreadyFinal) {
		t.Fatalf("a second final report: %v, want errAlreadyFinal", err)
	}
	if k := eventKinds(t, e.v, a.ID); !slices.Equal(k, []vault.EventKind{vault.EventAccepted, vault.EventNotified, vault.EventDelivered}) {
		t.Fatalf("events %v", k)
	}
}

// TestDeliveryLayoutUnchanged: the table is the bucket the vault kept
// before the notifier owned it, with the same keys and values, so the
// provider ids in a vault file written by an earlier sigill still match
// their delivery reports.
func TestDeliveryLayoutUnchanged(t *testing.T) {
	clock := newClock()
	path := filepath.Join(t.TempDir(), "sigill.db")
	v, err := vault.Open(vault.Options{Path: path, Now: clock.Now, Hooks: []vault.Hook{Hook()}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	a := acceptOne(t, v, "Provsvar", smsTo("+46701234567", pn1, "sv"))
	jobs, err := v.ClaimJobs(clock.Now(), 1, DefaultLease)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claimed %d, %v", len(jobs), err)
	}
	if err := v.CompleteJob(jobs[0].ID, jobs[0].Lease, notified(jobs[0], "46elks", "s0123abc")); err != nil {
		t.Fatal(err)
	}

	// Read through the vault, as the hook's table (a bucket in the bbolt
	// file, a table's rows on PostgreSQL).
	err = v.View([]string{"deliveries"}, func(tx vault.Tx) error {
		b, err := tx.Table("deliveries").Get([]byte("46elks\x00s0123abc"))
		if err != nil {
			return err
		}
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("deliveries entry %q: %v", b, err)
		}
		if len(got) != 3 || got["message"] != a.ID || got["recipient"] != 0.0 || got["sent"] != clock.Now().UTC().Format(time.RFC3339Nano) {
			t.Errorf("deliveries entry %s", b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestWokenByTheStore: a job queued through the store wakes the workers with
// no Kick and no poll due (on a store shared by nodes, the accept may be
// another node's).
func TestWokenByTheStore(t *testing.T) {
	e := newEnv(t)
	elks := newFakeElks(t)
	e.start(elks.provider(t), func(o *Options) { o.PollEvery = time.Hour })
	time.Sleep(50 * time.Millisecond) // the dispatcher's first look has found nothing
	acceptOne(t, e.v, "Provsvar", smsTo("+46701234567", pn1, "sv"))
	waitFor(t, "the notification, woken by the store", func() bool { return len(elks.sent()) == 1 })
}
