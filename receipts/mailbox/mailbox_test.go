package mailbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sigill/addressing"
	"sigill/internal/testenv"
	"sigill/vault"
)

// The only personal numbers test data may use.
const (
	pn1 = "199908072391"
	pn2 = "198611239883"
	pn3 = "200211242383"
)

func newClock() *testenv.Clock { return testenv.NewClock(time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)) }

// openTest opens a vault in a fresh folder with a Store's hook registered
// and attached; mod adjusts the vault's options. Both close with the test.
func openTest(t *testing.T, mo Options, mod func(*vault.Options)) (*Store, *vault.Vault, vault.Options) {
	t.Helper()
	s := New(mo)
	o := vault.Options{
		Path: filepath.Join(t.TempDir(), "sigill.db"), Hooks: []vault.Hook{s.Hook()},
		Retention: vault.DefaultRetention, AuditRetention: vault.DefaultAuditRetention,
	}
	if mod != nil {
		mod(&o)
	}
	v, err := vault.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	s.Attach(v)
	t.Cleanup(func() { v.Close() })
	return s, v, o
}

func reopen(t *testing.T, s *Store, v *vault.Vault, o vault.Options) *vault.Vault {
	t.Helper()
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	v2, err := vault.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	s.Attach(v2)
	t.Cleanup(func() { v2.Close() })
	return v2
}

func smallRaw() []byte {
	b := make([]byte, 8)
	rand.Read(b)
	return []byte("From: <staff@kommun.example.se>\r\nSubject: kvitto " + hex.EncodeToString(b) + "\r\n\r\na\r\n")
}

func smsRecipient(number, login string) vault.Recipient {
	return vault.Recipient{
		Address:   "0" + strings.TrimPrefix(number, "+46") + "&login=" + login + "&@secure.example.se",
		Recipient: addressing.Recipient{Channel: addressing.SMS, To: number, Logins: []string{login}, Lang: "sv"},
	}
}

func emailRecipient(to, login string) vault.Recipient {
	return vault.Recipient{
		Address:   strings.ReplaceAll(to, "@", "=") + "&login=" + login + "&@secure.example.se",
		Recipient: addressing.Recipient{Channel: addressing.Email, To: to, Logins: []string{login}, Lang: "en"},
	}
}

func incoming(raw []byte, rcpts ...vault.Recipient) vault.Incoming {
	if len(rcpts) == 0 {
		rcpts = []vault.Recipient{smsRecipient("+46701234567", pn1)}
	}
	return vault.Incoming{
		Sender: "staff@kommun.example.se", Account: "staff@kommun.example.se",
		Errand: "Ditt ärende 2026-0042", MessageID: "abc.123@kommun.example.se",
		Raw: raw, Recipients: rcpts,
	}
}

func accept(t *testing.T, v *vault.Vault, in vault.Incoming) vault.Accepted {
	t.Helper()
	a, err := v.Accept(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func record(t *testing.T, v *vault.Vault, ev vault.Event) {
	t.Helper()
	if err := v.Record(ev); err != nil {
		t.Fatal(err)
	}
}

func mustMailbox(t *testing.T, s *Store, account string) Mailbox {
	t.Helper()
	mb, err := s.Mailbox(account)
	if err != nil {
		t.Fatal(err)
	}
	return mb
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
	s, v, o := openTest(t, Options{}, func(o *vault.Options) { o.Now = c.Now })
	in := incoming(smallRaw(), smsRecipient("+46701234567", pn1), emailRecipient("c@example.org", pn2))
	in.Account = "Staff@Kommun.example.se" // any case: the mailbox is the lower-cased address
	a := accept(t, v, in)

	// Before any receipt the mailbox is empty, and its UIDVALIDITY is fixed.
	mb := mustMailbox(t, s, "staff@kommun.example.se")
	if len(mb.Entries) != 0 || mb.UIDNext != 1 || mb.UIDValidity != uint32(c.Now().Unix()) {
		t.Fatalf("empty mailbox: %+v", mb)
	}
	validity := mb.UIDValidity
	c.Advance(time.Hour)

	record(t, v, vault.Event{MessageID: a.ID, Recipient: 0, Kind: vault.EventNotified}) // no receipt
	record(t, v, vault.Event{MessageID: a.ID, Recipient: 0, Kind: vault.EventDelivered})
	record(t, v, vault.Event{MessageID: a.ID, Recipient: 1, Kind: vault.EventFailed, Detail: "bounced"})
	record(t, v, vault.Event{MessageID: a.ID, Recipient: 0, Kind: vault.EventOpened, PersonalNumber: pn1, Name: "Anna Andersson"})
	record(t, v, vault.Event{MessageID: a.ID, Recipient: 0, Kind: vault.EventOpened, PersonalNumber: pn1, Name: "Anna Andersson"}) // a re-read: no second receipt
	record(t, v, vault.Event{MessageID: a.ID, Recipient: 1, Kind: vault.EventOpened, PersonalNumber: pn1, Name: "Anna Andersson"}) // another copy: a receipt
	record(t, v, vault.Event{MessageID: a.ID, Recipient: 0, Kind: vault.EventDenied, PersonalNumber: pn3, Name: "Per Persson"})
	record(t, v, vault.Event{MessageID: a.ID, Recipient: 0, Kind: vault.EventDenied, PersonalNumber: pn3, Name: "Per Persson"}) // every try counts

	mb = mustMailbox(t, s, "STAFF@kommun.example.se")
	if got := uids(mb); len(got) != 6 || got[0] != 1 || got[5] != 6 || mb.UIDNext != 7 || mb.UIDValidity != validity {
		t.Fatalf("mailbox: %+v", mb)
	}
	wantKinds := []vault.EventKind{vault.EventDelivered, vault.EventFailed, vault.EventOpened, vault.EventOpened, vault.EventDenied, vault.EventDenied}
	for i, e := range mb.Entries {
		l, ev, err := s.Receipt(e.Event)
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
	if mb := mustMailbox(t, s, "other@kommun.example.se"); len(mb.Entries) != 0 {
		t.Errorf("another account sees %+v", mb.Entries)
	}

	// A restart keeps all of it, and new UIDs go on from UIDNEXT.
	v = reopen(t, s, v, o)
	record(t, v, vault.Event{MessageID: a.ID, Recipient: 1, Kind: vault.EventDelivered})
	mb = mustMailbox(t, s, "staff@kommun.example.se")
	if got := uids(mb); len(got) != 7 || got[6] != 7 || mb.UIDNext != 8 || mb.UIDValidity != validity {
		t.Fatalf("after reopen: %+v", mb)
	}
}

// TestMailboxWithdrawal: a withdrawn copy is a receipt to its sender; its
// expiry later is not (the sender was told the copy is gone), the other
// recipient's is.
func TestMailboxWithdrawal(t *testing.T) {
	c := newClock()
	s, v, _ := openTest(t, Options{}, func(o *vault.Options) { o.Now = c.Now })
	a := accept(t, v, incoming(smallRaw(), smsRecipient("+46701234567", pn1), emailRecipient("c@example.org", pn2)))
	if _, err := v.Revoke(context.Background(), a.ID, 0, "fel mottagare", "staff@kommun.example.se"); err != nil {
		t.Fatal(err)
	}
	c.Advance(vault.DefaultRetention)
	if _, err := v.Sweep(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range mustMailbox(t, s, "staff@kommun.example.se").Entries {
		_, ev, err := s.Receipt(e.Event)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s/%d", ev.Kind, ev.Recipient))
	}
	if want := []string{"revoked/0", "expired/1"}; !slices.Equal(got, want) {
		t.Errorf("receipts %v, want %v", got, want)
	}
}

func TestMailboxRelayOwner(t *testing.T) {
	s, v, _ := openTest(t, Options{}, nil)
	in := incoming(smallRaw())
	in.Account, in.Sender = "", "Someone@Relay.Example.se"
	a := accept(t, v, in)
	record(t, v, vault.Event{MessageID: a.ID, Kind: vault.EventDelivered})
	if mb := mustMailbox(t, s, "someone@relay.example.se"); len(mb.Entries) != 1 {
		t.Errorf("relay sender's mailbox: %+v", mb)
	}
	// A null sender has no mailbox: nothing filed, nothing fails.
	in.Sender = ""
	b := accept(t, v, in)
	record(t, v, vault.Event{MessageID: b.ID, Kind: vault.EventDelivered})
	l, err := v.LetterByID(b.ID, 0)
	if err != nil || l.Owner() != "" {
		t.Errorf("null sender letter %+v, %v", l, err)
	}
}

func TestStoreFlags(t *testing.T) {
	s, v, o := openTest(t, Options{}, nil)
	a := accept(t, v, incoming(smallRaw()))
	for range 3 {
		record(t, v, vault.Event{MessageID: a.ID, Kind: vault.EventDenied, PersonalNumber: pn3})
	}
	acct := "staff@kommun.example.se"
	got, err := s.StoreFlags(acct, []uint32{1, 2, 99}, FlagsAdd, FlagSeen|FlagFlagged|0x80)
	if err != nil || len(got) != 2 || got[0].Flags != FlagSeen|FlagFlagged || got[1].UID != 2 {
		t.Fatalf("add: %+v, %v", got, err)
	}
	if got, _ = s.StoreFlags(acct, []uint32{2}, FlagsRemove, FlagFlagged); got[0].Flags != FlagSeen {
		t.Errorf("remove: %+v", got)
	}
	if got, _ = s.StoreFlags(acct, []uint32{3}, FlagsSet, FlagDraft|FlagAnswered); got[0].Flags != FlagDraft|FlagAnswered {
		t.Errorf("set: %+v", got)
	}
	// Another account's UIDs are not this account's.
	if got, _ = s.StoreFlags("other@kommun.example.se", []uint32{1}, FlagsSet, FlagSeen); len(got) != 0 {
		t.Errorf("stored in another account: %+v", got)
	}
	v = reopen(t, s, v, o)
	mb := mustMailbox(t, s, acct)
	want := []Flags{FlagSeen | FlagFlagged, FlagSeen, FlagDraft | FlagAnswered}
	for i, e := range mb.Entries {
		if e.Flags != want[i] {
			t.Errorf("UID %d: flags %b, want %b", e.UID, e.Flags, want[i])
		}
	}
}

func TestMailboxSubscribe(t *testing.T) {
	s, v, _ := openTest(t, Options{}, nil)
	a := accept(t, v, incoming(smallRaw()))
	sig, cancel := s.Subscribe("Staff@kommun.example.se")
	other, cancelOther := s.Subscribe("other@kommun.example.se")
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
	record(t, v, vault.Event{MessageID: a.ID, Kind: vault.EventNotified})
	noSignal("a notified event")
	record(t, v, vault.Event{MessageID: a.ID, Kind: vault.EventDelivered})
	waitSignal("a receipt") // sent before Record returned
	// Signals coalesce: two receipts, one pending signal, never a blocked vault.
	record(t, v, vault.Event{MessageID: a.ID, Kind: vault.EventOpened, PersonalNumber: pn1})
	record(t, v, vault.Event{MessageID: a.ID, Kind: vault.EventDenied, PersonalNumber: pn3})
	waitSignal("two receipts")
	noSignal("the coalesced signal")
	if _, err := s.StoreFlags("staff@kommun.example.se", []uint32{1}, FlagsAdd, FlagSeen); err != nil {
		t.Fatal(err)
	}
	waitSignal("a flag change")
	if _, err := s.StoreFlags("staff@kommun.example.se", []uint32{1}, FlagsAdd, FlagSeen); err != nil {
		t.Fatal(err)
	}
	noSignal("a store that changed nothing")
	// A failed Record files nothing and tells nobody.
	if err := v.Record(vault.Event{MessageID: a.ID, Recipient: 5, Kind: vault.EventDelivered}); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("record for a missing recipient: %v", err)
	}
	noSignal("a failed record")
	if n := len(mustMailbox(t, s, "staff@kommun.example.se").Entries); n != 3 {
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
	record(t, v, vault.Event{MessageID: a.ID, Kind: vault.EventDelivered})
}

func TestMailReceiptsJobs(t *testing.T) {
	c := newClock()
	s, v, o := openTest(t, Options{MailToSender: true}, func(o *vault.Options) { o.Now = c.Now })
	a := accept(t, v, incoming(smallRaw()))
	record(t, v, vault.Event{MessageID: a.ID, Kind: vault.EventNotified})
	record(t, v, vault.Event{MessageID: a.ID, Kind: vault.EventOpened, PersonalNumber: pn1, Name: "Anna Andersson"})
	record(t, v, vault.Event{MessageID: a.ID, Kind: vault.EventOpened, PersonalNumber: pn1, Name: "Anna Andersson"}) // re-read: no mail either

	jobs := receiptJobs(t, v)
	mb := mustMailbox(t, s, "staff@kommun.example.se")
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
	if len(kinds) != 2 || kinds[0] != vault.JobNotify || kinds[1] != JobReceipt {
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
	mb = mustMailbox(t, s, "staff@kommun.example.se")
	if len(jobs) != 2 || len(mb.Entries) != 2 || jobs[1].Event != mb.Entries[1].Event {
		t.Fatalf("after expiry: jobs %+v, mailbox %+v", jobs, mb)
	}
	if _, ev, err := s.Receipt(jobs[1].Event); err != nil || ev.Kind != vault.EventExpired {
		t.Errorf("expired receipt: %+v, %v", ev, err)
	}
	v.Close()
	if err := vault.Verify(o.Path); err != nil {
		t.Errorf("verify: %v", err)
	}
}

func receiptJobs(t *testing.T, v *vault.Vault) []vault.Job {
	t.Helper()
	jobs, err := v.PendingJobs()
	if err != nil {
		t.Fatal(err)
	}
	var out []vault.Job
	for _, j := range jobs {
		if j.Kind == JobReceipt {
			out = append(out, j)
		}
	}
	return out
}

func TestMailboxPurge(t *testing.T) {
	c := newClock()
	s, v, o := openTest(t, Options{}, func(o *vault.Options) { o.Now = c.Now })
	old := accept(t, v, incoming(smallRaw()))
	record(t, v, vault.Event{MessageID: old.ID, Kind: vault.EventDelivered})
	c.Advance(24 * time.Hour)
	young := accept(t, v, incoming(smallRaw()))
	record(t, v, vault.Event{MessageID: young.ID, Kind: vault.EventDelivered})
	sig, cancel := s.Subscribe("staff@kommun.example.se")
	defer cancel()

	c.Advance(o.AuditRetention - 12*time.Hour) // old is past audit retention, young not
	if _, err := v.Sweep(); err != nil {
		t.Fatal(err)
	}
	mb := mustMailbox(t, s, "staff@kommun.example.se")
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
	if _, err := v.LetterByID(old.ID, 0); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("purged letter: %v", err)
	}
	if _, _, err := s.Receipt(1); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("purged event: %v", err)
	}
	v.Close()
	if err := vault.Verify(o.Path); err != nil {
		t.Errorf("verify: %v", err)
	}
}

// TestLayoutUnchanged: the tables are the buckets the vault kept before this
// package owned them, with the same keys and values, so a vault file written
// by an earlier sigill keeps its mailboxes, UIDs and flags.
func TestLayoutUnchanged(t *testing.T) {
	s, v, _ := openTest(t, Options{}, nil)
	a := accept(t, v, incoming(smallRaw()))
	record(t, v, vault.Event{MessageID: a.ID, Kind: vault.EventDelivered})
	if _, err := s.StoreFlags("staff@kommun.example.se", []uint32{1}, FlagsAdd, FlagSeen); err != nil {
		t.Fatal(err)
	}
	mb := mustMailbox(t, s, "staff@kommun.example.se")

	// Read through the vault, as the hook's tables (a bucket each in the
	// bbolt file, a table's rows on PostgreSQL).
	err := v.View([]string{"mailbox", "mailbox_meta", "mailbox_by_event"}, func(tx vault.Tx) error {
		get := func(table string, key []byte) []byte {
			b, err := tx.Table(table).Get(key)
			if err != nil {
				t.Fatalf("%s: %v", table, err)
			}
			return b
		}
		seq := binary.BigEndian.AppendUint64(nil, mb.Entries[0].Event)
		key := append([]byte("staff@kommun.example.se\x00"), 0, 0, 0, 1)
		if got := get("mailbox", key); !bytes.Equal(got, append(bytes.Clone(seq), byte(FlagSeen))) {
			t.Errorf("mailbox entry %x", got)
		}
		meta := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, mb.UIDValidity), 2)
		if got := get("mailbox_meta", []byte("staff@kommun.example.se")); !bytes.Equal(got, meta) {
			t.Errorf("mailbox meta %x, want %x", got, meta)
		}
		if got := get("mailbox_by_event", seq); !bytes.Equal(got, key) {
			t.Errorf("mailbox index %x", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSubscribeThroughTheStore: a subscriber hears of a change through the
// store's wake-ups, not this process's memory: a transaction that only
// notifies the account's channel, as another node's filing does on a store
// shared by nodes, wakes it; another account's does not.
func TestSubscribeThroughTheStore(t *testing.T) {
	s, v, _ := openTest(t, Options{}, nil)
	sig, cancel := s.Subscribe("staff@kommun.example.se")
	defer cancel()
	notify := func(account string) {
		t.Helper()
		err := v.Update(t.Context(), nil, func(tx vault.Tx) error {
			tx.Notify(channel(account))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	notify("other@kommun.example.se")
	select {
	case <-sig:
		t.Fatal("woken by another account's change")
	default:
	}
	notify("staff@kommun.example.se")
	select {
	case <-sig:
	case <-time.After(30 * time.Second):
		t.Fatal("no wake-up from a change committed through the store")
	}
}
