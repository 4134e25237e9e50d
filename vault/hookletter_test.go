package vault

import (
	"reflect"
	"testing"
	"time"
)

// The letter a hook is given for an event (seeded by Accept, or by a job's
// outcome from the message it read) is the letter the store holds: the same
// as a Letter read in a transaction of its own afterwards, for every
// recipient and for both appenders.
func TestHookLetterIsTheStoredLetter(t *testing.T) {
	type seen struct {
		kind      EventKind
		recipient int
		letter    Letter
	}
	var got []seen
	hook := Hook{Name: "letters", Appended: func(tx Tx, ev Event) error {
		l, err := tx.Letter(ev.MessageID, ev.Recipient)
		if err != nil {
			return err
		}
		// A second hook (or a second look) gets the same.
		again, err := tx.Letter(ev.MessageID, ev.Recipient)
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(l, again) {
			t.Errorf("a second look at the letter differs:\n%+v\n%+v", l, again)
		}
		got = append(got, seen{ev.Kind, ev.Recipient, l})
		return nil
	}}
	v, _ := openTest(t, func(o *Options) { o.Hooks = []Hook{hook} })
	in := incoming(smallRaw(), smsRecipient("+46701234567", pn1), emailRecipient("anna@example.se", pn2))
	in.Account, in.MessageID, in.Lifetime = "staff@kommun.example.se", "orig@kommun.example.se", 48*time.Hour
	a := accept(t, v, in)
	jobs, err := v.ClaimJobs(time.Now(), 10, time.Minute)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("claimed %d jobs, %v; want 2", len(jobs), err)
	}
	for _, j := range jobs {
		if err := v.CompleteJob(j.ID, j.Lease, notifiedBy("log", "x")); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 4 {
		t.Fatalf("the hook saw %d events; want 2 accepted, 2 notified", len(got))
	}
	for _, s := range got {
		var want Letter
		err := v.View(nil, func(tx Tx) error {
			var err error
			want, err = v.letterByID(tx.(*storeTx).tx, a.ID, s.recipient)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(s.letter, want) {
			t.Errorf("%s event, recipient %d: the hook's letter\n%+v\nthe stored one\n%+v", s.kind, s.recipient, s.letter, want)
		}
	}
}

// The same for the jobs born leased and handed over (handoff.go), whose
// outcome carries the job (Outcome.Job): the letter Accept built, while
// the message and the recipient are as Accept stored them, and the one
// the store holds once they have changed (a new expiry here), never the
// one Accept built then.
func TestHookLetterOfAHandedJob(t *testing.T) {
	var got []Letter
	hook := Hook{Name: "letters", Appended: func(tx Tx, ev Event) error {
		if ev.Kind != EventNotified {
			return nil
		}
		l, err := tx.Letter(ev.MessageID, ev.Recipient)
		got = append(got, l)
		return err
	}}
	c := newClock()
	v, _ := openTest(t, func(o *Options) { o.Hooks, o.Now = []Hook{hook}, c.Now })
	h, err := v.OpenHandoff(testLease, 4)
	if err != nil {
		t.Fatal(err)
	}
	in := incoming(smallRaw(), smsRecipient("+46701234567", pn1), emailRecipient("anna@example.se", pn2))
	in.Account, in.MessageID, in.Lifetime = "staff@kommun.example.se", "orig@kommun.example.se", 48*time.Hour
	a := accept(t, v, in)
	first, second := handedJob(t, h), handedJob(t, h)
	stored := func(recipient int) Letter {
		t.Helper()
		l, err := v.LetterByID(a.ID, recipient)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	c.Advance(time.Hour)
	o := notifiedBy("log", "x")
	o.Job = &first
	if err := v.CompleteJob(first.ID, first.Lease, o); err != nil {
		t.Fatal(err)
	}
	if want := stored(0); len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("the hook's letters %+v; want %+v", got, want)
	}
	if _, err := v.SetExpiry(a.ID, c.Now().Add(2*time.Hour), "admin"); err != nil {
		t.Fatal(err)
	}
	o.Job = &second
	if err := v.CompleteJob(second.ID, second.Lease, o); err != nil {
		t.Fatal(err)
	}
	want := stored(1)
	if len(got) != 2 || !reflect.DeepEqual(got[1], want) {
		t.Fatalf("after a new expiry, the hook's letters %+v; want %+v last", got, want)
	}
	if !want.Expires.Equal(c.Now().Add(2 * time.Hour)) {
		t.Fatalf("the stored letter expires %v; the new expiry is not in it", want.Expires)
	}
}
