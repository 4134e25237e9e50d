package vault

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func smallRaw() []byte { return mime("kvitto "+randomHex(8), []byte("a")) }

func mustMailbox(t *testing.T, v *Vault, account string) Mailbox {
	t.Helper()
	mb, err := v.Mailbox(account)
	if err != nil {
		t.Fatal(err)
	}
	return mb
}

func record(t *testing.T, v *Vault, ev Event) {
	t.Helper()
	if err := v.Record(ev); err != nil {
		t.Fatal(err)
	}
}

func uids(mb Mailbox) []uint32 {
	var out []uint32
	for _, e := range mb.Entries {
		out = append(out, e.UID)
	}
	return out
}

func TestMailboxFiling(t *testing.T) {
	c := newClock()
	v, o := openTest(t, func(o *Options) { o.Now = c.Now })
	in := incoming(smallRaw(), smsRecipient("+46701234567", pn1), emailRecipient("c@example.org", pn2))
	in.Account = "Staff@Kommun.example.se" // any case: the mailbox is the lower-cased address
	a := accept(t, v, in)

	// Before any receipt the mailbox is empty, and its UIDVALIDITY is fixed.
	mb := mustMailbox(t, v, "staff@kommun.example.se")
	if len(mb.Entries) != 0 || mb.UIDNext != 1 || mb.UIDValidity != uint32(c.Now().Unix()) {
		t.Fatalf("empty mailbox: %+v", mb)
	}
	validity := mb.UIDValidity
	c.Advance(time.Hour)

	record(t, v, Event{MessageID: a.ID, Recipient: 0, Kind: EventNotified}) // no receipt
	record(t, v, Event{MessageID: a.ID, Recipient: 0, Kind: EventDelivered})
	record(t, v, Event{MessageID: a.ID, Recipient: 1, Kind: EventFailed, Detail: "bounced"})
	record(t, v, Event{MessageID: a.ID, Recipient: 0, Kind: EventOpened, PersonalNumber: pn1, Name: "Anna Andersson"})
	record(t, v, Event{MessageID: a.ID, Recipient: 0, Kind: EventOpened, PersonalNumber: pn1, Name: "Anna Andersson"}) // a re-read: no second receipt
	record(t, v, Event{MessageID: a.ID, Recipient: 1, Kind: EventOpened, PersonalNumber: pn1, Name: "Anna Andersson"}) // another copy: a receipt
	record(t, v, Event{MessageID: a.ID, Recipient: 0, Kind: EventDenied, PersonalNumber: pn3, Name: "Per Persson"})
	record(t, v, Event{MessageID: a.ID, Recipient: 0, Kind: EventDenied, PersonalNumber: pn3, Name: "Per Persson"}) // every try counts
	record(t, v, Event{MessageID: a.ID, Recipient: 0, Kind: EventRevoked})                                          // no receipt

	mb = mustMailbox(t, v, "STAFF@kommun.example.se")
	if got := uids(mb); len(got) != 6 || got[0] != 1 || got[5] != 6 || mb.UIDNext != 7 || mb.UIDValidity != validity {
		t.Fatalf("mailbox: %+v", mb)
	}
	wantKinds := []EventKind{EventDelivered, EventFailed, EventOpened, EventOpened, EventDenied, EventDenied}
	for i, e := range mb.Entries {
		l, ev, err := v.ReceiptEvent(e.Event)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind != wantKinds[i] || ev.Seq != e.Event || l.ID != a.ID || l.Recipient != ev.Recipient || e.Flags != 0 {
			t.Errorf("entry %d: %+v, event %+v, letter %s/%d", i, e, ev, l.ID, l.Recipient)
		}
		if l.Owner() != "staff@kommun.example.se" || l.MessageID != in.MessageID || l.Rcpt.To != in.Recipients[l.Recipient].To {
			t.Errorf("letter %+v", l)
		}
	}
	// Other accounts have nothing.
	if mb := mustMailbox(t, v, "other@kommun.example.se"); len(mb.Entries) != 0 {
		t.Errorf("another account sees %+v", mb.Entries)
	}

	// A restart keeps all of it, and new UIDs go on from UIDNEXT.
	v = reopen(t, v, o)
	record(t, v, Event{MessageID: a.ID, Recipient: 1, Kind: EventDelivered})
	mb = mustMailbox(t, v, "staff@kommun.example.se")
	if got := uids(mb); len(got) != 7 || got[6] != 7 || mb.UIDNext != 8 || mb.UIDValidity != validity {
		t.Fatalf("after reopen: %+v", mb)
	}
}

func TestMailboxRelayOwner(t *testing.T) {
	v, _ := openTest(t, nil)
	in := incoming(smallRaw())
	in.Account, in.Sender = "", "Someone@Relay.Example.se"
	a := accept(t, v, in)
	record(t, v, Event{MessageID: a.ID, Kind: EventDelivered})
	if mb := mustMailbox(t, v, "someone@relay.example.se"); len(mb.Entries) != 1 {
		t.Errorf("relay sender's mailbox: %+v", mb)
	}
	// A null sender has no mailbox: nothing filed, nothing fails.
	in.Sender = ""
	b := accept(t, v, in)
	record(t, v, Event{MessageID: b.ID, Kind: EventDelivered})
	l, err := v.LetterByID(b.ID, 0)
	if err != nil || l.Owner() != "" {
		t.Errorf("null sender letter %+v, %v", l, err)
	}
}

func TestStoreFlags(t *testing.T) {
	v, o := openTest(t, nil)
	a := accept(t, v, incoming(smallRaw()))
	for range 3 {
		record(t, v, Event{MessageID: a.ID, Kind: EventDenied, PersonalNumber: pn3})
	}
	acct := "staff@kommun.example.se"
	got, err := v.StoreFlags(acct, []uint32{1, 2, 99}, FlagsAdd, FlagSeen|FlagFlagged|0x80)
	if err != nil || len(got) != 2 || got[0].Flags != FlagSeen|FlagFlagged || got[1].UID != 2 {
		t.Fatalf("add: %+v, %v", got, err)
	}
	if got, _ = v.StoreFlags(acct, []uint32{2}, FlagsRemove, FlagFlagged); got[0].Flags != FlagSeen {
		t.Errorf("remove: %+v", got)
	}
	if got, _ = v.StoreFlags(acct, []uint32{3}, FlagsSet, FlagDraft|FlagAnswered); got[0].Flags != FlagDraft|FlagAnswered {
		t.Errorf("set: %+v", got)
	}
	// Another account's UIDs are not this account's.
	if got, _ = v.StoreFlags("other@kommun.example.se", []uint32{1}, FlagsSet, FlagSeen); len(got) != 0 {
		t.Errorf("stored in another account: %+v", got)
	}
	v = reopen(t, v, o)
	mb := mustMailbox(t, v, acct)
	want := []MailFlags{FlagSeen | FlagFlagged, FlagSeen, FlagDraft | FlagAnswered}
	for i, e := range mb.Entries {
		if e.Flags != want[i] {
			t.Errorf("UID %d: flags %b, want %b", e.UID, e.Flags, want[i])
		}
	}
}

func TestMailboxSubscribe(t *testing.T) {
	v, _ := openTest(t, nil)
	a := accept(t, v, incoming(smallRaw()))
	sig, cancel := v.Subscribe("Staff@kommun.example.se")
	other, cancelOther := v.Subscribe("other@kommun.example.se")
	defer cancelOther()
	waitSignal := func(what string) {
		t.Helper()
		select {
		case <-sig:
		case <-time.After(30 * time.Second):
			t.Fatalf("no signal after %s", what)
		}
	}
	noSignal := func(what string) {
		t.Helper()
		select {
		case <-sig:
			t.Fatalf("a signal after %s", what)
		default:
		}
	}
	record(t, v, Event{MessageID: a.ID, Kind: EventNotified})
	noSignal("a notified event")
	record(t, v, Event{MessageID: a.ID, Kind: EventDelivered})
	waitSignal("a receipt") // sent before Record returned
	// Signals coalesce: two receipts, one pending signal, never a blocked vault.
	record(t, v, Event{MessageID: a.ID, Kind: EventOpened, PersonalNumber: pn1})
	record(t, v, Event{MessageID: a.ID, Kind: EventDenied, PersonalNumber: pn3})
	waitSignal("two receipts")
	noSignal("the coalesced signal")
	if _, err := v.StoreFlags("staff@kommun.example.se", []uint32{1}, FlagsAdd, FlagSeen); err != nil {
		t.Fatal(err)
	}
	waitSignal("a flag change")
	if _, err := v.StoreFlags("staff@kommun.example.se", []uint32{1}, FlagsAdd, FlagSeen); err != nil {
		t.Fatal(err)
	}
	noSignal("a store that changed nothing")
	// A failed Record files nothing and tells nobody.
	if err := v.Record(Event{MessageID: a.ID, Recipient: 5, Kind: EventDelivered}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("record for a missing recipient: %v", err)
	}
	noSignal("a failed record")
	if n := len(mustMailbox(t, v, "staff@kommun.example.se").Entries); n != 3 {
		t.Errorf("%d entries after a failed record", n)
	}
	select {
	case <-other:
		t.Error("another account's subscriber was told")
	default:
	}
	cancel()
	if _, ok := <-sig; ok {
		t.Error("channel open after cancel")
	}
	cancel() // twice is fine
	record(t, v, Event{MessageID: a.ID, Kind: EventDelivered})
}

func TestMailReceiptsJobs(t *testing.T) {
	c := newClock()
	v, o := openTest(t, func(o *Options) { o.Now = c.Now; o.MailReceipts = true })
	a := accept(t, v, incoming(smallRaw()))
	record(t, v, Event{MessageID: a.ID, Kind: EventNotified})
	record(t, v, Event{MessageID: a.ID, Kind: EventOpened, PersonalNumber: pn1, Name: "Anna Andersson"})
	record(t, v, Event{MessageID: a.ID, Kind: EventOpened, PersonalNumber: pn1, Name: "Anna Andersson"}) // re-read: no mail either

	jobs := receiptJobs(t, v)
	mb := mustMailbox(t, v, "staff@kommun.example.se")
	if len(jobs) != 1 || len(mb.Entries) != 1 || jobs[0].Event != mb.Entries[0].Event ||
		jobs[0].To != "staff@kommun.example.se" || jobs[0].MessageID != a.ID || jobs[0].Channel != "email" {
		t.Fatalf("receipt jobs %+v, mailbox %+v", jobs, mb)
	}
	// Every outbox reader still decodes the outbox: a receipt job's token is "".
	pending, err := v.PendingJobs()
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, j := range pending {
		kinds = append(kinds, j.Kind)
		if j.Kind == JobReceipt && j.Token != "" {
			t.Errorf("receipt job with a token: %+v", j)
		}
	}
	if len(kinds) != 2 || kinds[0] != JobNotify || kinds[1] != JobReceipt {
		t.Errorf("pending kinds %v", kinds)
	}

	// Expiry drops the notify job but keeps receipt jobs, and its "expired"
	// is a receipt with a job of its own.
	c.Advance(o.Retention)
	r, err := v.Sweep()
	if err != nil {
		t.Fatal(err)
	}
	if r.Jobs != 1 {
		t.Errorf("sweep dropped %d jobs, want the notify job only", r.Jobs)
	}
	jobs = receiptJobs(t, v)
	mb = mustMailbox(t, v, "staff@kommun.example.se")
	if len(jobs) != 2 || len(mb.Entries) != 2 || jobs[1].Event != mb.Entries[1].Event {
		t.Fatalf("after expiry: jobs %+v, mailbox %+v", jobs, mb)
	}
	if _, ev, err := v.ReceiptEvent(jobs[1].Event); err != nil || ev.Kind != EventExpired {
		t.Errorf("expired receipt: %+v, %v", ev, err)
	}
	v.Close()
	if err := Verify(o.Path); err != nil {
		t.Errorf("verify: %v", err)
	}
}

func receiptJobs(t *testing.T, v *Vault) []jobRecord {
	t.Helper()
	var out []jobRecord
	err := v.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bOutbox).ForEach(func(_, b []byte) error {
			var j jobRecord
			if err := json.Unmarshal(b, &j); err != nil {
				return err
			}
			if j.Kind == JobReceipt {
				out = append(out, j)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMailboxPurge(t *testing.T) {
	c := newClock()
	v, o := openTest(t, func(o *Options) { o.Now = c.Now })
	old := accept(t, v, incoming(smallRaw()))
	record(t, v, Event{MessageID: old.ID, Kind: EventDelivered})
	c.Advance(24 * time.Hour)
	young := accept(t, v, incoming(smallRaw()))
	record(t, v, Event{MessageID: young.ID, Kind: EventDelivered})
	sig, cancel := v.Subscribe("staff@kommun.example.se")
	defer cancel()

	c.Advance(o.AuditRetention - 12*time.Hour) // old is past audit retention, young not
	if _, err := v.Sweep(); err != nil {
		t.Fatal(err)
	}
	mb := mustMailbox(t, v, "staff@kommun.example.se")
	// The sweep expired both (UIDs 3 and 4 are their "expired" receipts),
	// then purged old: UIDs 1 and 3 went with its events. UIDNEXT stays.
	if got := uids(mb); len(got) != 2 || got[0] != 2 || got[1] != 4 || mb.UIDNext != 5 {
		t.Fatalf("after purge: %+v", mb)
	}
	select {
	case <-sig:
	case <-time.After(30 * time.Second):
		t.Error("no signal for the purge")
	}
	if _, err := v.LetterByID(old.ID, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("purged letter: %v", err)
	}
	if _, _, err := v.ReceiptEvent(1); !errors.Is(err, ErrNotFound) {
		t.Errorf("purged event: %v", err)
	}
	v.Close()
	if err := Verify(o.Path); err != nil {
		t.Errorf("verify: %v", err)
	}
}

func TestLetterByID(t *testing.T) {
	v, _ := openTest(t, nil)
	in := incoming(smallRaw(), smsRecipient("+46701234567", pn1), emailRecipient("c@example.org", pn2))
	a := accept(t, v, in)
	for i, tok := range a.Tokens {
		want, err := v.Lookup(tok)
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
