package vault

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"sigill/addressing"
)

// The receipts mailbox.
//
// Every staff account has one mailbox of receipts, which imapd serves as
// INBOX. It is a view over the audit events: each event a sender cares
// about (delivered, failed, opened, denied, expired) is filed, in the same
// transaction that appends it — putEvent does it, so Record, Sweep and the
// notifier's job outcomes all file alike — under the next UID of the mailbox
// of the letter's owner (Letter.Owner: the authenticated account, or the
// lower-cased envelope sender for relayed mail, whose receipts show once an
// account with that address exists). An entry holds only the event's
// sequence number and the entry's flags; the receipt itself (receipts.Build)
// is made from the event and its letter whenever it is asked for, and is the
// same bytes every time.
//
// IMAP's promises are kept on disk: a mailbox's UIDVALIDITY is chosen once,
// when the mailbox is first touched, and never changes; UIDNEXT is stored
// and only grows, so a UID is never reused, not even after an entry is
// removed. Entries are removed only with their events, at audit retention.
// Removing an account keeps its mailbox: an account made again with the same
// address sees the same receipts, under the same UIDVALIDITY.
//
// Buckets: mailbox (account ‖ 0 ‖ big-endian UID → big-endian event seq ‖
// flags byte), mailbox_meta (account → big-endian UIDVALIDITY ‖ UIDNEXT) and
// mailbox_by_event (big-endian event seq → account ‖ 0 ‖ big-endian UID, so
// the purge finds the entries of a message's events).

// JobReceipt is the kind of the outbox job queued with every receipt filed
// when Options.MailReceipts is set: mail the receipt of the job's event to
// the letter's owner (Job.To). The stored job is the notifier's job record
// plus "event" (the event's Seq, for ReceiptEvent), with no token.
// Its failure must not be recorded as a "failed" event of the letter (that
// would be a receipt about a receipt).
const JobReceipt = "receipt"

// MailFlags are the flags a staff member can keep on a receipt. \Deleted is
// not among them: receipts are an audit trail and cannot be expunged, so
// imapd refuses to set it.
type MailFlags uint8

// The flags, as bits of MailFlags.
const (
	FlagSeen MailFlags = 1 << iota
	FlagAnswered
	FlagFlagged
	FlagDraft

	allMailFlags = FlagSeen | FlagAnswered | FlagFlagged | FlagDraft
)

// FlagOp is how StoreFlags applies its flags, as IMAP's STORE does.
type FlagOp int

// The operations.
const (
	FlagsSet    FlagOp = iota // FLAGS: replace
	FlagsAdd                  // +FLAGS
	FlagsRemove               // -FLAGS
)

// MailboxEntry is one receipt in an account's mailbox.
type MailboxEntry struct {
	UID   uint32
	Event uint64 // the event's Seq: ReceiptEvent(Event) tells what the receipt says
	Flags MailFlags
}

// Mailbox is an account's receipts mailbox as of one read.
type Mailbox struct {
	Account     string
	UIDValidity uint32
	UIDNext     uint32
	Entries     []MailboxEntry // by UID, ascending
}

var (
	bMailbox      = []byte("mailbox")
	bMailboxMeta  = []byte("mailbox_meta")
	bMailboxEvent = []byte("mailbox_by_event")
)

// IsReceiptKind reports whether an event of kind k becomes a receipt to the
// sender (and an entry in the sender's mailbox).
func IsReceiptKind(k EventKind) bool {
	switch k {
	case EventDelivered, EventFailed, EventOpened, EventDenied, EventExpired:
		return true
	}
	return false
}

// Owner is the staff account whose mailbox gets the letter's receipts: the
// account that submitted it, or for relayed mail the envelope sender, lower
// cased. "" for a relayed message with a null sender (no receipts).
func (l Letter) Owner() string {
	return ownerOf(l.Account, l.Sender)
}

func ownerOf(account, sender string) string {
	if account != "" {
		return strings.ToLower(account)
	}
	return strings.ToLower(sender)
}

// mailboxKey is account ‖ 0 ‖ uid; 0 cannot occur in an address.
func mailboxKey(account string, uid uint32) []byte {
	k := make([]byte, 0, len(account)+5)
	k = append(k, account...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint32(k, uid)
}

func mailboxPrefix(account string) []byte {
	return append([]byte(account), 0)
}

// mailboxMeta reads an account's UIDVALIDITY and UIDNEXT; ok is false for an
// account whose mailbox has never been touched.
func mailboxMeta(tx *bolt.Tx, account string) (validity, next uint32, ok bool, err error) {
	b := tx.Bucket(bMailboxMeta).Get([]byte(account))
	if b == nil {
		return 0, 0, false, nil
	}
	if len(b) != 8 {
		return 0, 0, false, fmt.Errorf("mailbox %s: bad meta record %x", account, b)
	}
	return binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:]), true, nil
}

func putMailboxMeta(tx *bolt.Tx, account string, validity, next uint32) error {
	b := binary.BigEndian.AppendUint32(make([]byte, 0, 8), validity)
	return tx.Bucket(bMailboxMeta).Put([]byte(account), binary.BigEndian.AppendUint32(b, next))
}

// ensureMailbox creates an account's mailbox meta when missing. UIDVALIDITY
// is the time in seconds: a mailbox made again (which sigill never does)
// would get another value, as RFC 9051 asks.
func ensureMailbox(tx *bolt.Tx, account string, now time.Time) (validity, next uint32, err error) {
	validity, next, ok, err := mailboxMeta(tx, account)
	if err != nil || ok {
		return validity, next, err
	}
	validity, next = uint32(now.Unix()), 1
	if validity == 0 {
		validity = 1
	}
	return validity, next, putMailboxMeta(tx, account, validity, next)
}

// fileReceipt files the event just appended as seq in its owner's mailbox
// (a new UID) and, with Options.MailReceipts, queues a JobReceipt for it, in
// the event's transaction; subscribers are told once that transaction has
// committed. Not filed: events of other kinds, messages without an owner,
// and an "opened" by a person whose opening of the same recipient's copy was
// already reported (a re-read stays in the audit trail, but the sender gets
// one receipt per person, as RFC 8098 sends one MDN).
func (v *Vault) fileReceipt(tx *bolt.Tx, ev Event) error {
	seq := ev.Seq
	if !IsReceiptKind(ev.Kind) {
		return nil
	}
	m, err := getMessage(tx, ev.MessageID)
	if err != nil {
		return err
	}
	account := ownerOf(m.Account, m.Sender)
	if account == "" || strings.IndexByte(account, 0) >= 0 {
		return nil
	}
	if ev.Kind == EventOpened {
		evs, err := eventsOf(tx, m.ID)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if e.Seq < seq && e.Kind == EventOpened && e.Recipient == ev.Recipient && e.PersonalNumber == ev.PersonalNumber {
				return nil
			}
		}
	}
	now := v.now()
	validity, uid, err := ensureMailbox(tx, account, now)
	if err != nil {
		return err
	}
	if uid == 0 || uid == ^uint32(0) {
		return fmt.Errorf("mailbox %s: UIDs exhausted", account)
	}
	if err := putMailboxMeta(tx, account, validity, uid+1); err != nil {
		return err
	}
	k := mailboxKey(account, uid)
	if err := tx.Bucket(bMailbox).Put(k, append(seqKey(seq), 0)); err != nil {
		return err
	}
	if err := tx.Bucket(bMailboxEvent).Put(seqKey(seq), k); err != nil {
		return err
	}
	if v.opt.MailReceipts {
		now = now.UTC()
		b, err := json.Marshal(jobRecord{
			MessageID: m.ID, Recipient: ev.Recipient, Kind: JobReceipt,
			Channel: addressing.Email, To: account, Errand: m.Errand, Event: seq,
			Due: now, Created: now, // no token: a receipt job carries none

		})
		if err != nil {
			return err
		}
		outbox := tx.Bucket(bOutbox)
		id, err := outbox.NextSequence()
		if err != nil {
			return err
		}
		if err := outbox.Put(seqKey(id), b); err != nil {
			return err
		}
	}
	tx.OnCommit(func() { v.mail.notify(account) })
	return nil
}

// unfileReceipts removes the mailbox entries of a message's events (at audit
// retention, before the events go); their owners' subscribers are told once
// the transaction has committed.
func (v *Vault) unfileReceipts(tx *bolt.Tx, id string) error {
	touched := make(map[string]bool)
	mb, byEvent := tx.Bucket(bMailbox), tx.Bucket(bMailboxEvent)
	prefix := []byte(id)
	var seqs [][]byte
	c := tx.Bucket(bEventIndex).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if len(k) == len(prefix)+8 {
			seqs = append(seqs, bytes.Clone(k[len(prefix):]))
		}
	}
	for _, s := range seqs {
		k := byEvent.Get(s)
		if k == nil {
			continue
		}
		k = bytes.Clone(k)
		if len(k) < 5 {
			return fmt.Errorf("mailbox index entry %x: bad key %x", s, k)
		}
		if err := mb.Delete(k); err != nil {
			return err
		}
		if err := byEvent.Delete(s); err != nil {
			return err
		}
		touched[string(k[:len(k)-5])] = true
	}
	if len(touched) > 0 {
		tx.OnCommit(func() {
			for a := range touched {
				v.mail.notify(a)
			}
		})
	}
	return nil
}

// Mailbox reads an account's receipts mailbox. The first call for an account
// creates its (empty) mailbox, so that its UIDVALIDITY is fixed from the
// first time a client sees it.
func (v *Vault) Mailbox(account string) (Mailbox, error) {
	account = strings.ToLower(account)
	if account == "" || strings.IndexByte(account, 0) >= 0 {
		return Mailbox{}, fmt.Errorf("vault: mailbox: bad account %q", account)
	}
	var (
		mb Mailbox
		ok bool
	)
	read := func(tx *bolt.Tx) error {
		var err error
		mb = Mailbox{Account: account}
		mb.UIDValidity, mb.UIDNext, ok, err = mailboxMeta(tx, account)
		if err != nil || !ok {
			return err
		}
		prefix := mailboxPrefix(account)
		c := tx.Bucket(bMailbox).Cursor()
		for k, val := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, val = c.Next() {
			if len(k) != len(prefix)+4 || len(val) != 9 {
				return fmt.Errorf("mailbox %s: bad entry %x", account, k)
			}
			mb.Entries = append(mb.Entries, MailboxEntry{
				UID:   binary.BigEndian.Uint32(k[len(prefix):]),
				Event: binary.BigEndian.Uint64(val),
				Flags: MailFlags(val[8]) & allMailFlags,
			})
		}
		return nil
	}
	if err := v.view(read); err != nil {
		return Mailbox{}, fmt.Errorf("vault: mailbox %s: %w", account, err)
	}
	if ok {
		return mb, nil
	}
	err := v.commit.update(context.Background(), pageEstimate, func(tx *bolt.Tx) error {
		if _, _, err := ensureMailbox(tx, account, v.now()); err != nil {
			return err
		}
		return read(tx)
	})
	if err != nil {
		return Mailbox{}, fmt.Errorf("vault: mailbox %s: %w", account, err)
	}
	return mb, nil
}

// StoreFlags changes the flags of some of an account's receipts and returns
// those entries as they are now (UIDs that do not exist are left out).
// Flags outside MailFlags' bits are ignored. Subscribers hear of a change.
func (v *Vault) StoreFlags(account string, uids []uint32, op FlagOp, flags MailFlags) ([]MailboxEntry, error) {
	account = strings.ToLower(account)
	flags &= allMailFlags
	var (
		out     []MailboxEntry
		changed bool
	)
	err := v.commit.update(context.Background(), int64(2*pageEstimate), func(tx *bolt.Tx) error {
		out, changed = out[:0], false
		b := tx.Bucket(bMailbox)
		for _, uid := range uids {
			k := mailboxKey(account, uid)
			val := b.Get(k)
			if val == nil {
				continue
			}
			if len(val) != 9 {
				return fmt.Errorf("mailbox %s: bad entry %d", account, uid)
			}
			old := MailFlags(val[8]) & allMailFlags
			nf := old
			switch op {
			case FlagsSet:
				nf = flags
			case FlagsAdd:
				nf = old | flags
			case FlagsRemove:
				nf = old &^ flags
			default:
				return fmt.Errorf("unknown flag operation %d", op)
			}
			e := MailboxEntry{UID: uid, Event: binary.BigEndian.Uint64(val), Flags: nf}
			out = append(out, e)
			if nf == old {
				continue
			}
			nv := append(bytes.Clone(val[:8]), byte(nf))
			if err := b.Put(k, nv); err != nil {
				return err
			}
			changed = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("vault: store flags in %s: %w", account, err)
	}
	if changed {
		v.mail.notify(account)
	}
	return out, nil
}

// EventBySeq returns one event by its sequence number. ErrNotFound once
// purged (or never recorded).
func (v *Vault) EventBySeq(seq uint64) (Event, error) {
	var ev Event
	err := v.view(func(tx *bolt.Tx) error {
		var err error
		ev, err = eventBySeq(tx, seq)
		return err
	})
	if err != nil {
		return Event{}, fmt.Errorf("vault: event %d: %w", seq, err)
	}
	return ev, nil
}

func eventBySeq(tx *bolt.Tx, seq uint64) (Event, error) {
	b := tx.Bucket(bEvents).Get(seqKey(seq))
	if b == nil {
		return Event{}, ErrNotFound
	}
	var ev Event
	if err := json.Unmarshal(b, &ev); err != nil {
		return Event{}, err
	}
	ev.Seq = seq
	return ev, nil
}

// LetterByID tells what one recipient's copy of a message is, by message id
// and recipient index, decrypting nothing: what receipts are made from.
// ErrNotFound for an unknown message or recipient (or one purged at audit
// retention).
func (v *Vault) LetterByID(id string, recipient int) (Letter, error) {
	var l Letter
	err := v.view(func(tx *bolt.Tx) error {
		var err error
		l, err = v.letterByID(tx, id, recipient)
		return err
	})
	if err != nil {
		return Letter{}, fmt.Errorf("vault: letter %s/%d: %w", id, recipient, err)
	}
	return l, nil
}

func (v *Vault) letterByID(tx *bolt.Tx, id string, recipient int) (Letter, error) {
	m, err := getMessage(tx, id)
	if err != nil {
		return Letter{}, err
	}
	if recipient < 0 || recipient >= len(m.Recipients) {
		return Letter{}, fmt.Errorf("message %s has no recipient %d: %w", id, recipient, ErrNotFound)
	}
	b := tx.Bucket(bRecipients).Get(m.Recipients[recipient])
	if b == nil {
		return Letter{}, fmt.Errorf("message %s recipient %d: %w", id, recipient, ErrNotFound)
	}
	var rr recipientRecord
	if err := json.Unmarshal(b, &rr); err != nil {
		return Letter{}, fmt.Errorf("recipient record: %w", err)
	}
	return v.letterOf(m, &rr), nil
}

// ReceiptEvent returns an event and the letter it is about, read together:
// all that receipts.Build needs. The notifier calls it with a JobReceipt's
// event, imapd with a mailbox entry's. ErrNotFound once purged.
func (v *Vault) ReceiptEvent(seq uint64) (Letter, Event, error) {
	var (
		l  Letter
		ev Event
	)
	err := v.view(func(tx *bolt.Tx) error {
		var err error
		if ev, err = eventBySeq(tx, seq); err != nil {
			return err
		}
		l, err = v.letterByID(tx, ev.MessageID, ev.Recipient)
		return err
	})
	if err != nil {
		return Letter{}, Event{}, fmt.Errorf("vault: receipt event %d: %w", seq, err)
	}
	return l, ev, nil
}

// Subscribe tells the caller whenever an account's mailbox changes: a
// receipt filed, flags stored, entries removed at audit retention. The
// channel holds at most one pending signal (signals coalesce), so the
// subscriber rereads the Mailbox after each; it is sent to only after the
// change is committed, and never blocks the vault. cancel ends the
// subscription and closes the channel.
func (v *Vault) Subscribe(account string) (<-chan struct{}, func()) {
	return v.mail.subscribe(strings.ToLower(account))
}

// mailboxHub is the vault's registry of mailbox subscribers; its zero value
// is ready.
type mailboxHub struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]bool
}

func (h *mailboxHub) subscribe(account string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.subs == nil {
		h.subs = make(map[string]map[chan struct{}]bool)
	}
	if h.subs[account] == nil {
		h.subs[account] = make(map[chan struct{}]bool)
	}
	h.subs[account][ch] = true
	h.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.subs[account], ch)
			if len(h.subs[account]) == 0 {
				delete(h.subs, account)
			}
			close(ch)
			h.mu.Unlock()
		})
	}
}

func (h *mailboxHub) notify(account string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[account] {
		select {
		case ch <- struct{}{}:
		default: // a signal is already pending
		}
	}
}
