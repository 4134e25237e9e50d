package vault

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

// tally is a hook that keeps, in its own table, how many events of each
// kind were appended and are still kept.
func tally(fail func(Event) error) Hook {
	count := func(tx Tx, ev Event, d int64) error {
		t := tx.Table("tally")
		n := int64(0)
		b, err := t.Get([]byte(ev.Kind))
		if err != nil {
			return err
		}
		if b != nil {
			n = int64(binary.BigEndian.Uint64(b))
		}
		return t.Put([]byte(ev.Kind), binary.BigEndian.AppendUint64(nil, uint64(n+d)))
	}
	return Hook{
		Name:   "tally",
		Tables: []string{"tally"},
		Appended: func(tx Tx, ev Event) error {
			if ev.Seq == 0 {
				return errors.New("event without its Seq")
			}
			if fail != nil {
				if err := fail(ev); err != nil {
					return err
				}
			}
			return count(tx, ev, 1)
		},
		Purging: func(tx Tx, ev Event) error { return count(tx, ev, -1) },
	}
}

func tallyOf(t *testing.T, v *Vault, kind EventKind) int64 {
	t.Helper()
	var n int64
	err := v.View([]string{"tally"}, func(tx Tx) error {
		b, err := tx.Table("tally").Get([]byte(kind))
		if b != nil {
			n = int64(binary.BigEndian.Uint64(b))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestHookAppended: a hook sees every appended event, whatever appends it
// (Accept, Record, the notifier's job outcomes, Sweep), and writes its own
// table in the same transaction; at audit retention it sees each purged
// event go.
func TestHookAppended(t *testing.T) {
	c := newClock()
	v, o := openTest(t, func(o *Options) { o.Now = c.Now; o.Hooks = []Hook{tally(nil)} })
	a := accept(t, v, incoming(smallRaw(), smsRecipient("+46701234567", pn1), emailRecipient("c@example.org", pn2)))
	record(t, v, Event{MessageID: a.ID, Recipient: 0, Kind: EventOpened, PersonalNumber: pn1})
	jobs, err := v.ClaimJobs(c.Now(), 10, time.Minute)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("claim: %d jobs, %v", len(jobs), err)
	}
	if err := v.CompleteJob(jobs[0].ID, jobs[0].Lease, notifiedBy("test", "p1")); err != nil {
		t.Fatal(err)
	}
	if err := v.CompleteJob(jobs[1].ID, jobs[1].Lease, Outcome{Event: EventFailed, Reason: "refused"}); err != nil {
		t.Fatal(err)
	}
	want := map[EventKind]int64{EventAccepted: 2, EventOpened: 1, EventNotified: 1, EventFailed: 1}
	for k, n := range want {
		if got := tallyOf(t, v, k); got != n {
			t.Errorf("%s: hook counted %d, want %d", k, got, n)
		}
	}
	// The hook's table is in the file: a reopened vault reads it.
	v = reopen(t, v, o)
	if got := tallyOf(t, v, EventNotified); got != 1 {
		t.Errorf("after reopen: %d notified, want 1", got)
	}

	c.Advance(o.Retention + time.Hour)
	if _, err := v.Sweep(); err != nil {
		t.Fatal(err)
	}
	if got := tallyOf(t, v, EventExpired); got != 2 {
		t.Errorf("expired: hook counted %d, want 2", got)
	}
	c.Advance(o.AuditRetention)
	if _, err := v.Sweep(); err != nil {
		t.Fatal(err)
	}
	for _, k := range []EventKind{EventAccepted, EventOpened, EventExpired} {
		if got := tallyOf(t, v, k); got != 0 {
			t.Errorf("%s after the purge: %d left, want 0", k, got)
		}
	}
}

// TestHookFailureRollsBack: a hook that fails fails the event with it —
// one transaction: neither the event nor the hook's write is kept — and
// other writers in the same group commit are not affected.
func TestHookFailureRollsBack(t *testing.T) {
	v, _ := openTest(t, func(o *Options) {
		o.Hooks = []Hook{tally(func(ev Event) error {
			if ev.Kind == EventDenied {
				return errors.New("refused by the hook")
			}
			return nil
		})}
	})
	a := accept(t, v, incoming(smallRaw()))
	err := v.Record(Event{MessageID: a.ID, Kind: EventDenied, PersonalNumber: pn3})
	if err == nil || !strings.Contains(err.Error(), "refused by the hook") {
		t.Fatalf("record through a failing hook: %v", err)
	}
	evs, err := v.Events(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Kind == EventDenied {
			t.Error("the event was kept although its hook failed")
		}
	}
	if got := tallyOf(t, v, EventDenied); got != 0 {
		t.Errorf("denied: the failed hook's count %d was kept", got)
	}
	record(t, v, Event{MessageID: a.ID, Kind: EventOpened, PersonalNumber: pn1})
	if got := tallyOf(t, v, EventOpened); got != 1 {
		t.Errorf("opened after a failure: %d, want 1", got)
	}
}

// TestHookTables: a hook's Tx opens only its declared tables, a read
// transaction writes nothing, and Open refuses a table the core owns (or
// owned before schema 3) or two hooks claiming one.
func TestHookTables(t *testing.T) {
	v, o := openTest(t, func(o *Options) { o.Hooks = []Hook{tally(nil)} })
	err := v.Update(context.Background(), []string{"tally"}, func(tx Tx) error {
		return tx.Table(bParts).Put([]byte("x"), []byte("y"))
	})
	if !errors.Is(err, errNoTable) {
		t.Errorf("a core bucket through Tx: %v", err)
	}
	err = v.View([]string{"tally"}, func(tx Tx) error {
		return tx.Table("tally").Put([]byte("x"), []byte("y"))
	})
	if err == nil {
		t.Error("a write in View succeeded")
	}
	v.Close()
	for _, hooks := range [][]Hook{
		{{Name: "thief", Tables: []string{"events"}}},
		{{Name: "squatter", Tables: []string{"content"}}}, // schema 2's, left empty by the migration
		{tally(nil), tally(nil)},
	} {
		o.Hooks = hooks
		if v, err := Open(o); err == nil {
			v.Close()
			t.Errorf("Open took hooks %+v", hooks)
		}
	}
}

// A hook's transaction sees the staff accounts, so that what it keeps for
// an account (API keys) can end with the account in the same read.
func TestHookTxAccount(t *testing.T) {
	v, _ := openTest(t, func(o *Options) { o.Hooks = []Hook{tally(nil)} })
	if err := v.AddAccount("Anna@Staff.test", "a long enough password"); err != nil {
		t.Fatal(err)
	}
	account := func() (Account, error) {
		var a Account
		err := v.View([]string{"tally"}, func(tx Tx) error {
			var err error
			a, err = tx.Account("ANNA@staff.test")
			return err
		})
		return a, err
	}
	if a, err := account(); err != nil || a.Address != "anna@staff.test" {
		t.Fatalf("Account = %+v, %v", a, err)
	}
	if err := v.RemoveAccount("anna@staff.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := account(); !errors.Is(err, ErrNotFound) {
		t.Errorf("a removed account: %v, want ErrNotFound", err)
	}
}

// Incoming.Within writes the caller's record in the accept's own
// transaction: kept with the message, and when it fails, neither is.
func TestAcceptWithin(t *testing.T) {
	v, _ := openTest(t, func(o *Options) { o.Hooks = []Hook{tally(nil)} })
	in := incoming(smallRaw())
	in.WithinTables = []string{"tally"}
	in.Within = func(tx Tx, id string) error {
		if _, err := tx.Letter(id, 0); err != nil {
			return err // the message is already readable within
		}
		return tx.Table("tally").Put([]byte("request-1"), []byte(id))
	}
	a := accept(t, v, in)
	var kept string
	v.View([]string{"tally"}, func(tx Tx) error {
		b, err := tx.Table("tally").Get([]byte("request-1"))
		kept = string(b)
		return err
	})
	if kept != a.ID {
		t.Errorf("the record within the accept: %q, want %q", kept, a.ID)
	}
	stats, _ := v.Stats()
	in.Within = func(tx Tx, id string) error { return errors.New("refused within") }
	if _, err := v.Accept(context.Background(), in); err == nil || !strings.Contains(err.Error(), "refused within") {
		t.Fatalf("accept with a failing Within: %v", err)
	}
	if after, _ := v.Stats(); after.Messages != stats.Messages {
		t.Errorf("a failed Within kept the message: %d messages, was %d", after.Messages, stats.Messages)
	}
}
