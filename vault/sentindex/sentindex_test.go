package sentindex

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"sigill/addressing"
	"sigill/internal/testenv"
	"sigill/vault"
)

// open opens a vault on clock, which the tests move: a message's id
// starts with its millisecond, so messages accepted within one have no
// order.
func open(t *testing.T, clock *testenv.Clock) *vault.Vault {
	t.Helper()
	v, err := vault.Open(vault.Options{Path: filepath.Join(t.TempDir(), "sigill.db"), Now: clock.Now, Hooks: []vault.Hook{Hook()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func accept(t *testing.T, v *vault.Vault, account string, addresses ...string) string {
	t.Helper()
	p := addressing.Policy{Domains: []string{"secure.test"}, Region: "SE"}
	var rs []vault.Recipient
	for _, a := range addresses {
		r, err := p.Parse(a)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, vault.Recipient{Address: a, Recipient: r})
	}
	a, err := v.Accept(context.Background(), vault.Incoming{Sender: account, Account: account, Errand: "Provsvar",
		Raw: []byte("Subject: Provsvar\r\n\r\nx"), Recipients: rs})
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

func TestMessagesNewestFirstPerOwner(t *testing.T) {
	clock := testenv.NewClock(time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC))
	v := open(t, clock)
	const anna, bo = "anna@staff.test", "bo@staff.test"
	var ids []string
	for range 3 {
		ids = append(ids, accept(t, v, anna, "0701234567&login=199908072391&@secure.test"))
		clock.Advance(time.Second)
	}
	accept(t, v, bo, "0701234567&login=*&@secure.test")
	err := v.View(Tables, func(tx vault.Tx) error {
		got, more, err := Messages(tx, anna, "", nil, 0)
		if err != nil {
			return err
		}
		if want := []string{ids[2], ids[1], ids[0]}; !slices.Equal(got, want) || more {
			t.Errorf("anna's messages: %v (more %v), want %v", got, more, want)
		}
		page, more, _ := Messages(tx, anna, "", nil, 2)
		rest, more2, _ := Messages(tx, anna, page[len(page)-1], nil, 2)
		if len(page) != 2 || !more || !slices.Equal(rest, []string{ids[0]}) || more2 {
			t.Errorf("pages of 2: %v %v then %v %v", page, more, rest, more2)
		}
		if err := SetReference(tx, anna, ids[1], "journal-1"); err == nil {
			t.Error("a View wrote a reference")
		}
		seqs, err := Feed(tx, bo, 0, 0)
		if err != nil || len(seqs) != 1 {
			t.Errorf("bo's feed: %v %v", seqs, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Update(context.Background(), Tables, func(tx vault.Tx) error { return SetReference(tx, anna, ids[1], "journal-1") }); err != nil {
		t.Fatal(err)
	}
	v.View(Tables, func(tx vault.Tx) error {
		got, _, _ := Messages(tx, anna, "", func(ref string) bool { return ref == "journal-1" }, 0)
		if !slices.Equal(got, []string{ids[1]}) {
			t.Errorf("by reference: %v", got)
		}
		return nil
	})
}

func TestReadStatusByRank(t *testing.T) {
	v := open(t, testenv.NewClock(time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)))
	id := accept(t, v, "anna@staff.test", "0701234567&login=199908072391&@secure.test", "anna=example.com&login=*&@secure.test")
	for _, ev := range []vault.Event{
		{Kind: vault.EventNotified}, {Kind: vault.EventOpened, PersonalNumber: "199908072391", Name: "Test Testsson"},
		{Kind: vault.EventDelivered}, // a late delivery report hides no open
		{Recipient: 1, Kind: vault.EventNotified},
	} {
		ev.MessageID = id
		if err := v.Record(ev); err != nil {
			t.Fatal(err)
		}
	}
	v.View(Tables, func(tx vault.Tx) error {
		m, err := Read(tx, id)
		if err != nil {
			t.Fatal(err)
		}
		if m.Errand != "Provsvar" || m.Owner != "anna@staff.test" || len(m.Recipients) != 2 {
			t.Fatalf("read: %+v", m)
		}
		if r := m.Recipients[0]; r.Status != vault.EventOpened || len(r.Events) != 4 || r.Events[2].Name != "Test Testsson" {
			t.Errorf("recipient 0: %s %+v", r.Status, r.Events)
		}
		if r := m.Recipients[1]; r.Status != vault.EventNotified || r.Rcpt.To != "anna@example.com" {
			t.Errorf("recipient 1: %s %+v", r.Status, r.Rcpt)
		}
		if _, err := Read(tx, "nosuchid"); err == nil {
			t.Error("an unknown id reads")
		}
		return nil
	})
}
