package vault

import (
	"errors"
	"testing"
)

func TestLetterByID(t *testing.T) {
	v, _ := openTest(t, nil)
	in := incoming(smallRaw(), smsRecipient("+46701234567", pn1), emailRecipient("c@example.org", pn2))
	a := accept(t, v, in)
	for i, tok := range a.Tokens {
		_, want, err := v.Lookup(tok)
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.LetterByID(a.ID, i)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != want.ID || got.Recipient != want.Recipient || got.Rcpt.Address != want.Rcpt.Address ||
			got.Errand != want.Errand || !got.Received.Equal(want.Received) || got.Expired != want.Expired {
			t.Errorf("recipient %d: %+v, Lookup says %+v", i, got, want)
		}
	}
	for _, bad := range []struct {
		id string
		i  int
	}{{a.ID, 2}, {a.ID, -1}, {"nosuchid", 0}} {
		if _, err := v.LetterByID(bad.id, bad.i); !errors.Is(err, ErrNotFound) {
			t.Errorf("LetterByID(%q, %d): %v", bad.id, bad.i, err)
		}
	}
	if _, err := v.EventBySeq(999); !errors.Is(err, ErrNotFound) {
		t.Errorf("EventBySeq(999): %v", err)
	}
	evs, _ := v.Events(a.ID)
	if ev, err := v.EventBySeq(evs[0].Seq); err != nil || ev.Kind != EventAccepted || ev.Seq != evs[0].Seq {
		t.Errorf("EventBySeq: %+v, %v", ev, err)
	}
}
