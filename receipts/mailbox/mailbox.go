package mailbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"sigill/addressing"
	"sigill/intake"
	"sigill/receipts"
	"sigill/vault"
)

// JobReceipt is the kind of the outbox job queued with every receipt filed
// when Options.MailToSender is set: mail the receipt of the job's event
// (vault.Job.Event) to the letter's owner (vault.Job.To). It carries no
// token. Its failure must not be recorded as a "failed" event of the letter
// (that would be a receipt about a receipt).
const JobReceipt = "receipt"

// Flags are the flags a staff member can keep on a receipt. \Deleted is
// not among them: receipts are an audit trail and cannot be expunged, so
// imapd refuses to set it.
type Flags uint8

// The flags, as bits of Flags.
const (
	FlagSeen Flags = 1 << iota
	FlagAnswered
	FlagFlagged
	FlagDraft

	allFlags = FlagSeen | FlagAnswered | FlagFlagged | FlagDraft
)

// FlagOp is how StoreFlags applies its flags, as IMAP's STORE does.
type FlagOp int

// The operations.
const (
	FlagsSet    FlagOp = iota // FLAGS: replace
	FlagsAdd                  // +FLAGS
	FlagsRemove               // -FLAGS
)

// Entry is one receipt in an account's mailbox.
type Entry struct {
	UID   uint32
	Event uint64 // the event's Seq: Store.Receipt(Event) tells what the receipt says
	Flags Flags
}

// Mailbox is an account's receipts mailbox as of one read.
type Mailbox struct {
	Account     string
	UIDValidity uint32
	UIDNext     uint32
	Entries     []Entry // by UID, ascending
}

// Options configure New.
type Options struct {
	// MailToSender (receipts.mail_to_sender): every receipt filed also
	// queues a JobReceipt in the outbox. (Replies are mailed whatever it
	// says: reply.go.)
	MailToSender bool
	// Org is what replies (receipts.BuildReply) say of the organisation.
	Org receipts.Org
	// ReplyCopy (organisation.reply_copy) is a functional mailbox that is
	// mailed every reply too; "" for none.
	ReplyCopy string
	// Limits bound a reply as they bound a message (smtp.max_message_bytes).
	Limits intake.Rules
	// Now is the clock of replies' times; time.Now when nil.
	Now func() time.Time
}

// The tables, named as the vault's buckets were before this package owned
// them.
const (
	tMailbox = "mailbox"          // account ‖ 0 ‖ UID → event seq ‖ flags
	tMeta    = "mailbox_meta"     // account → UIDVALIDITY ‖ UIDNEXT
	tByEvent = "mailbox_by_event" // event seq → account ‖ 0 ‖ UID
)

var tables = []string{tMailbox, tMeta, tByEvent, tReplies}

// Store is every account's mailbox in one vault. Make it with New, register
// its Hook in the vault's Options, and Attach the opened vault before
// reading or changing a mailbox. Its methods are safe for concurrent use.
type Store struct {
	o Options
	v *vault.Vault
}

// New makes a Store, not yet attached to a vault.
func New(o Options) *Store { return &Store{o: o} }

// Hook is what the vault runs inside the transaction that appends or
// purges an event: it files receipts and removes them.
func (s *Store) Hook() vault.Hook {
	return vault.Hook{Name: "receipts mailbox", Tables: tables, Appended: s.file, Purging: s.purge, Erasing: erased}
}

// Attach gives the store the vault it reads from, opened with its Hook.
func (s *Store) Attach(v *vault.Vault) { s.v = v }

func (s *Store) vault() *vault.Vault {
	if s.v == nil {
		panic("mailbox: Store used before Attach")
	}
	return s.v
}

// Owner is the mailbox a letter's receipts are filed in: its lower-cased
// owner, and "" when it has none (a relayed message with a null sender) or
// none an account can have.
func owner(l vault.Letter) string {
	a := l.Owner()
	if strings.IndexByte(a, 0) >= 0 {
		return ""
	}
	return a
}

// key is account ‖ 0 ‖ uid; 0 cannot occur in an address.
func key(account string, uid uint32) []byte {
	k := make([]byte, 0, len(account)+5)
	k = append(k, account...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint32(k, uid)
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq) }

// meta reads an account's UIDVALIDITY and UIDNEXT; ok is false for an
// account whose mailbox has never been touched.
func meta(tx vault.Tx, account string) (validity, next uint32, ok bool, err error) {
	b, err := tx.Table(tMeta).Get([]byte(account))
	if err != nil || b == nil {
		return 0, 0, false, err
	}
	if len(b) != 8 {
		return 0, 0, false, fmt.Errorf("mailbox %s: bad meta record %x", account, b)
	}
	return binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:]), true, nil
}

func putMeta(tx vault.Tx, account string, validity, next uint32) error {
	b := binary.BigEndian.AppendUint32(make([]byte, 0, 8), validity)
	return tx.Table(tMeta).Put([]byte(account), binary.BigEndian.AppendUint32(b, next))
}

// ensure creates an account's mailbox meta when missing. UIDVALIDITY is the
// time in seconds: a mailbox made again (which sigill never does) would get
// another value, as RFC 9051 asks.
func ensure(tx vault.Tx, account string, now time.Time) (validity, next uint32, err error) {
	validity, next, ok, err := meta(tx, account)
	if err != nil || ok {
		return validity, next, err
	}
	validity, next = uint32(now.Unix()), 1
	if validity == 0 {
		validity = 1
	}
	return validity, next, putMeta(tx, account, validity, next)
}

// file is the hook's Appended: it files ev in its owner's mailbox under a
// new UID and, with MailToSender, queues a JobReceipt for it; subscribers
// are told once the transaction has committed. See the package doc for
// what is not filed.
func (s *Store) file(tx vault.Tx, ev vault.Event) error {
	if !receipts.IsReceiptKind(ev.Kind) && ev.Kind != vault.EventReplied {
		return nil
	}
	if ev.Kind == vault.EventExpired {
		if err := s.unfileReplies(tx, ev); err != nil {
			return err
		}
	}
	l, err := tx.Letter(ev.MessageID, ev.Recipient)
	if err != nil {
		return err
	}
	account := owner(l)
	if account == "" {
		return nil
	}
	if ev.Kind == vault.EventOpened || ev.Kind == vault.EventExpired {
		evs, err := tx.Events(ev.MessageID)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if e.Seq >= ev.Seq || e.Recipient != ev.Recipient {
				continue
			}
			switch {
			case ev.Kind == vault.EventOpened && e.Kind == vault.EventOpened && e.PersonalNumber == ev.PersonalNumber:
				return nil // one receipt per person
			case ev.Kind == vault.EventExpired && e.Kind == vault.EventRevoked:
				return nil // the sender was told the copy is gone when it was withdrawn
			}
		}
	}
	validity, uid, err := ensure(tx, account, tx.Now())
	if err != nil {
		return err
	}
	if uid == 0 || uid == ^uint32(0) {
		return fmt.Errorf("mailbox %s: UIDs exhausted", account)
	}
	if err := putMeta(tx, account, validity, uid+1); err != nil {
		return err
	}
	k := key(account, uid)
	if err := tx.Table(tMailbox).Put(k, append(seqKey(ev.Seq), 0)); err != nil {
		return err
	}
	if err := tx.Table(tByEvent).Put(seqKey(ev.Seq), k); err != nil {
		return err
	}
	if ev.Kind == vault.EventReplied {
		if err := s.fileReply(tx, ev, l, account); err != nil {
			return err
		}
	} else if s.o.MailToSender {
		_, err := tx.QueueJob(vault.Job{
			MessageID: ev.MessageID, Recipient: ev.Recipient, Kind: JobReceipt,
			Channel: addressing.Email, To: account, Errand: l.Errand, Event: ev.Seq,
		})
		if err != nil {
			return err
		}
	}
	tx.Notify(channel(account))
	return nil
}

// purge is the hook's Purging: ev's entry goes, and a reply's sealed mail
// if its expiry left it.
func (s *Store) purge(tx vault.Tx, ev vault.Event) error {
	if ev.Kind == vault.EventReplied {
		if err := tx.Table(tReplies).Delete(seqKey(ev.Seq)); err != nil {
			return err
		}
	}
	return s.unfile(tx, ev)
}

// unfile removes ev's entry, if it has one;
// its owner's subscribers are told once the transaction has committed.
func (s *Store) unfile(tx vault.Tx, ev vault.Event) error {
	byEvent := tx.Table(tByEvent)
	k, err := byEvent.Get(seqKey(ev.Seq))
	if err != nil || k == nil {
		return err
	}
	k = bytes.Clone(k)
	if len(k) < 5 {
		return fmt.Errorf("mailbox index entry %d: bad key %x", ev.Seq, k)
	}
	if err := tx.Table(tMailbox).Delete(k); err != nil {
		return err
	}
	if err := byEvent.Delete(seqKey(ev.Seq)); err != nil {
		return err
	}
	account := string(k[:len(k)-5])
	tx.Notify(channel(account))
	return nil
}

// Mailbox reads an account's receipts mailbox. The first call for an
// account creates its (empty) mailbox, so that its UIDVALIDITY is fixed
// from the first time a client sees it.
func (s *Store) Mailbox(account string) (Mailbox, error) {
	account = strings.ToLower(account)
	if account == "" || strings.IndexByte(account, 0) >= 0 {
		return Mailbox{}, fmt.Errorf("mailbox: bad account %q", account)
	}
	var (
		mb Mailbox
		ok bool
	)
	read := func(tx vault.Tx) error {
		var err error
		mb = Mailbox{Account: account}
		mb.UIDValidity, mb.UIDNext, ok, err = meta(tx, account)
		if err != nil || !ok {
			return err
		}
		prefix := append([]byte(account), 0)
		return tx.Table(tMailbox).Scan(prefix, func(k, val []byte) error {
			if len(k) != len(prefix)+4 || len(val) != 9 {
				return fmt.Errorf("mailbox %s: bad entry %x", account, k)
			}
			mb.Entries = append(mb.Entries, Entry{
				UID:   binary.BigEndian.Uint32(k[len(prefix):]),
				Event: binary.BigEndian.Uint64(val),
				Flags: Flags(val[8]) & allFlags,
			})
			return nil
		})
	}
	if err := s.vault().View(tables, read); err != nil {
		return Mailbox{}, fmt.Errorf("mailbox %s: %w", account, err)
	}
	if ok {
		return mb, nil
	}
	err := s.vault().Update(context.Background(), tables, func(tx vault.Tx) error {
		if _, _, err := ensure(tx, account, tx.Now()); err != nil {
			return err
		}
		return read(tx)
	})
	if err != nil {
		return Mailbox{}, fmt.Errorf("mailbox %s: %w", account, err)
	}
	return mb, nil
}

// StoreFlags changes the flags of some of an account's receipts and returns
// those entries as they are now (UIDs that do not exist are left out).
// Flags outside Flags' bits are ignored. Subscribers hear of a change.
func (s *Store) StoreFlags(account string, uids []uint32, op FlagOp, flags Flags) ([]Entry, error) {
	account = strings.ToLower(account)
	flags &= allFlags
	switch op {
	case FlagsSet, FlagsAdd, FlagsRemove:
	default:
		return nil, fmt.Errorf("mailbox %s: store flags: unknown flag operation %d", account, op)
	}
	var (
		out     []Entry
		changed bool
	)
	err := s.vault().Update(context.Background(), tables, func(tx vault.Tx) error {
		out, changed = out[:0], false
		t := tx.Table(tMailbox)
		for _, uid := range uids {
			k := key(account, uid)
			val, err := t.Get(k)
			if err != nil {
				return err
			}
			if val == nil {
				continue
			}
			if len(val) != 9 {
				return fmt.Errorf("bad entry %d", uid)
			}
			old := Flags(val[8]) & allFlags
			nf := apply(op, old, flags)
			out = append(out, Entry{UID: uid, Event: binary.BigEndian.Uint64(val), Flags: nf})
			if nf == old {
				continue
			}
			if err := t.Put(k, append(bytes.Clone(val[:8]), byte(nf))); err != nil {
				return err
			}
			changed = true
		}
		if changed {
			tx.Notify(channel(account))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mailbox %s: store flags: %w", account, err)
	}
	return out, nil
}

func apply(op FlagOp, old, flags Flags) Flags {
	switch op {
	case FlagsAdd:
		return old | flags
	case FlagsRemove:
		return old &^ flags
	}
	return flags
}

// Receipt returns a receipt's event and the letter it is about, read
// together: all that receipts.Build needs. The notifier's JobReceipt and a
// mailbox entry both name the event by its Seq. vault.ErrNotFound once
// purged.
func (s *Store) Receipt(seq uint64) (vault.Letter, vault.Event, error) {
	var (
		l  vault.Letter
		ev vault.Event
	)
	err := s.vault().View(nil, func(tx vault.Tx) error {
		var err error
		if ev, err = tx.Event(seq); err != nil {
			return err
		}
		l, err = tx.Letter(ev.MessageID, ev.Recipient)
		return err
	})
	if err != nil {
		return vault.Letter{}, vault.Event{}, fmt.Errorf("mailbox: receipt of event %d: %w", seq, err)
	}
	return l, ev, nil
}

// Subscribe tells the caller whenever an account's mailbox changes: a
// receipt filed, flags stored, entries removed at audit retention, on this
// node or another sharing the store (the vault's Listen). The channel holds
// at most one pending signal (signals coalesce), so the subscriber rereads
// the Mailbox after each; it is sent to only after the change is
// committed, and never blocks the vault. cancel ends the subscription and
// closes the channel.
func (s *Store) Subscribe(account string) (<-chan struct{}, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	return s.vault().Listen(ctx, channel(strings.ToLower(account))), cancel
}

// channelErased is woken by every erasure of a personal number.
const channelErased = "sigill_mailbox_erased"

// erased is the hook's Erasing: no entry holds a number (a receipt is
// built from its event, which the vault rewrites), but one built before
// may be kept by whoever serves it, and is told through Erasures.
func erased(tx vault.Tx, _, _ string) error {
	tx.Notify(channelErased)
	return nil
}

// Erasures tells the caller whenever a personal number was erased, on
// this node or another sharing the store: a receipt built before may name
// it and must be built anew (imapd's cache). Signals coalesce as
// Subscribe's do; cancel ends the subscription.
func (s *Store) Erasures() (<-chan struct{}, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	return s.vault().Listen(ctx, channelErased), cancel
}

// channel is the store's wake-up channel of an account's mailbox: named by
// a hash, since a channel's name is an identifier (vault.Tx.Notify) and an
// address is not. A clash of two accounts' names only wakes a subscriber
// for nothing.
func channel(account string) string {
	h := sha256.Sum256([]byte(account))
	return "sigill_mailbox_" + hex.EncodeToString(h[:12])
}
