package vault

import (
	"errors"
	"testing"
)

// TestLinkStates: Lookup answers one state per link — fine, revoked once a
// recipient is withdrawn (Revoke) (and for no other), expired
// after retention (a withdrawn copy stays revoked), unknown for a token the
// vault does not know or cannot parse — and Decrypt refuses a withdrawn copy.
func TestLinkStates(t *testing.T) {
	c := newClock()
	v, o := openTest(t, func(o *Options) { o.Now = c.Now })
	in := incoming(smallRaw(), smsRecipient("+46701234567", pn1), emailRecipient("c@example.org", pn2))
	a := accept(t, v, in)
	state := func(tok string) LinkState {
		t.Helper()
		st, l, err := v.Lookup(tok)
		if err != nil {
			t.Fatal(err)
		}
		if st != LinkUnknown && l.ID != a.ID {
			t.Errorf("%v link: letter %+v", st, l)
		}
		return st
	}
	for i, tok := range a.Tokens {
		if st := state(tok); st != LinkFine {
			t.Errorf("recipient %d: %v, want fine", i, st)
		}
	}
	for _, tok := range []string{"", "x", "AAAAAAAAAAAAAAAAAAAAAA", a.Tokens[0] + "A", "!" + a.Tokens[0][1:]} {
		if st := state(tok); st != LinkUnknown {
			t.Errorf("Lookup(%q): %v, want unknown", tok, st)
		}
	}

	if err := v.Record(Event{MessageID: a.ID, Recipient: 0, Kind: EventRevoked}); err == nil {
		t.Error("Record took a withdrawal, which only Revoke makes hold")
	}
	revoke(t, v, a.ID, 0, "")
	if st := state(a.Tokens[0]); st != LinkRevoked || st.String() != "revoked" {
		t.Errorf("withdrawn copy: %v", st)
	}
	if st := state(a.Tokens[1]); st != LinkFine {
		t.Errorf("the other recipient's copy: %v, want fine", st)
	}
	if l, _, err := v.Decrypt(a.Tokens[0]); !errors.Is(err, ErrRevoked) || l.ID != a.ID {
		t.Errorf("decrypt a withdrawn copy: %v", err)
	}
	if _, raw, err := v.Decrypt(a.Tokens[1]); err != nil || len(raw) == 0 {
		t.Errorf("decrypt the other copy: %v", err)
	}

	v = reopen(t, v, o)
	c.Advance(o.Retention)
	if st := state(a.Tokens[0]); st != LinkRevoked {
		t.Errorf("withdrawn and expired: %v, want revoked", st)
	}
	if st := state(a.Tokens[1]); st != LinkExpired {
		t.Errorf("expired: %v", st)
	}
}
