package vault

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

// TestSealUntilExpiry: what is sealed for a message opens with its label
// (not another's, not another message's) while the message lives, moves
// with SetExpiry (the expiry secret it is derived from moves with it), and
// is refused from the expiry on.
func TestSealUntilExpiry(t *testing.T) {
	v, _, c, _ := openExpiryTest(t)
	a := accept(t, v, incoming(mime("Svar "+randomHex(8), nil), withExp(smsRecipient("+46701234567", pn1), time.Hour)))
	other := accept(t, v, incoming(mime("Annat "+randomHex(8), nil), smsRecipient("+46701234568", pn2)))
	plain := []byte("Tack, jag kommer på tisdag. " + randomHex(8))
	sealed, err := v.SealUntilExpiry(a.ID, "reply 0 1", plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, plain[:20]) {
		t.Fatal("the sealed bytes hold the plain text")
	}
	if got, err := v.OpenUntilExpiry(a.ID, "reply 0 1", sealed); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("OpenUntilExpiry = %q, %v", got, err)
	}
	for _, c := range []struct{ id, label string }{{a.ID, "reply 0 2"}, {other.ID, "reply 0 1"}} {
		if _, err := v.OpenUntilExpiry(c.id, c.label, sealed); err == nil {
			t.Errorf("opened as %s %q", c.id, c.label)
		}
	}

	// Extended, it opens past the old expiry.
	if _, err := v.SetExpiry(a.ID, c.Now().Add(3*time.Hour), "admin"); err != nil {
		t.Fatal(err)
	}
	c.Advance(2 * time.Hour)
	if _, err := v.Sweep(); err != nil {
		t.Fatal(err)
	}
	if _, err := v.OpenUntilExpiry(a.ID, "reply 0 1", sealed); err != nil {
		t.Fatalf("after the old expiry of an extended message: %v", err)
	}
	c.Advance(time.Hour) // the new expiry
	if _, err := v.OpenUntilExpiry(a.ID, "reply 0 1", sealed); !errors.Is(err, ErrExpired) {
		t.Fatalf("at the expiry: %v, want ErrExpired", err)
	}
	if _, err := v.SealUntilExpiry(a.ID, "reply 0 2", plain); !errors.Is(err, ErrExpired) {
		t.Fatalf("sealing at the expiry: %v, want ErrExpired", err)
	}
}

// TestRecordWithin: the caller's write and the event commit together, the
// caller sees the event's Seq, and a failing write records nothing.
func TestRecordWithin(t *testing.T) {
	const table = "reply_test"
	v, _ := openTest(t, func(o *Options) { o.Hooks = []Hook{{Name: "test", Tables: []string{table}}} })
	a := accept(t, v, incoming(mime("x", nil), smsRecipient("+46701234567", pn1)))
	ctx := context.Background()
	var seq uint64
	err := v.RecordWithin(ctx, Event{MessageID: a.ID, Kind: EventReplied, PersonalNumber: pn1}, []string{table}, func(tx Tx, ev Event) error {
		seq = ev.Seq
		return tx.Table(table).Put(seqKey(ev.Seq), []byte("kept"))
	})
	if err != nil || seq == 0 {
		t.Fatalf("RecordWithin = %v, seq %d", err, seq)
	}
	ev, err := v.EventBySeq(seq)
	if err != nil || ev.Kind != EventReplied || ev.PersonalNumber != pn1 {
		t.Fatalf("event %d: %+v, %v", seq, ev, err)
	}
	err = v.View([]string{table}, func(tx Tx) error {
		b, err := tx.Table(table).Get(seqKey(seq))
		if err == nil && string(b) != "kept" {
			t.Errorf("the caller's record: %q", b)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	refused := errors.New("refused")
	err = v.RecordWithin(ctx, Event{MessageID: a.ID, Kind: EventReplied}, []string{table}, func(Tx, Event) error { return refused })
	if !errors.Is(err, refused) {
		t.Fatalf("a failing write: %v", err)
	}
	evs, _ := v.Events(a.ID)
	if n := len(evs); n != 2 {
		t.Errorf("%d events after a failed RecordWithin; want accepted and one replied", n)
	}
}
