// Package sentindex owns what the staff's doors read back about the
// messages an account sent, whatever door a message came in by (SMTP, the
// REST API, the staff web): each owner's messages newest first, each
// owner's events in the vault's order, and one message's status and events
// per recipient. Its hook files every event under its letter's owner in
// the transaction that appends the event, and removes the entries when the
// event goes at audit retention. The API (package api) and the staff web
// (package staffweb) read through it, so the two never disagree about a
// status.
//
// It keeps everything in its own tables through the vault's hook API, so
// that it runs on every store engine unchanged. The table names are those
// the REST API used when it kept the index itself, so that a store filled
// before keeps its entries.
package sentindex

import (
	"encoding/binary"
	"errors"
	"time"

	"sigill/addressing"
	"sigill/vault"
)

const (
	tableByOwner = "api_by_owner" // owner ‖ 0 ‖ id with every byte inverted (newest first) → reference
	tableFeed    = "api_feed"     // owner ‖ 0 ‖ big-endian event seq → nothing
)

// Tables are the index's tables: what a View or an Incoming.Within that
// reads or writes through this package opens.
var Tables = []string{tableByOwner, tableFeed}

// HookName is the name Hook registers under.
const HookName = "sent index"

// Hook files every event in the indexes; every vault the staff doors run
// on, and every command that opens one, opens it with Hook.
func Hook() vault.Hook {
	return vault.Hook{Name: HookName, Tables: Tables, Appended: indexEvent, Purging: unindexEvent}
}

// indexEvent is the hook's Appended: it files ev under its letter's owner.
func indexEvent(tx vault.Tx, ev vault.Event) error {
	l, err := tx.Letter(ev.MessageID, ev.Recipient)
	if errors.Is(err, vault.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	owner := l.Owner()
	if owner == "" {
		return nil // a relayed message with a null sender: nobody's
	}
	if err := tx.Table(tableFeed).Put(feedKey(owner, ev.Seq), nil); err != nil {
		return err
	}
	if ev.Kind == vault.EventAccepted && ev.Recipient == 0 {
		if b, err := tx.Table(tableByOwner).Get(ownerKey(owner, ev.MessageID)); err != nil || b != nil {
			return err // already filed (with its reference): Appended may run twice
		}
		return tx.Table(tableByOwner).Put(ownerKey(owner, ev.MessageID), []byte{})
	}
	return nil
}

// unindexEvent removes what indexEvent filed, as the event goes at audit
// retention; an event whose letter cannot be read any more leaves its
// entries, which the readers skip.
func unindexEvent(tx vault.Tx, ev vault.Event) error {
	l, err := tx.Letter(ev.MessageID, ev.Recipient)
	if errors.Is(err, vault.ErrNotFound) || (err == nil && l.Owner() == "") {
		return nil
	}
	if err != nil {
		return err
	}
	if err := tx.Table(tableFeed).Delete(feedKey(l.Owner(), ev.Seq)); err != nil {
		return err
	}
	return tx.Table(tableByOwner).Delete(ownerKey(l.Owner(), ev.MessageID))
}

// SetReference files a sending system's reference with a message of owner
// (the REST API's reference), in the transaction that accepts it
// (Incoming.Within with Tables among WithinTables).
func SetReference(tx vault.Tx, owner, id, reference string) error {
	return tx.Table(tableByOwner).Put(ownerKey(owner, id), []byte(reference))
}

// Reference is the reference filed with a message of owner; "" for none.
func Reference(tx vault.Tx, owner, id string) (string, error) {
	b, err := tx.Table(tableByOwner).Get(ownerKey(owner, id))
	return string(b), err
}

func feedKey(owner string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(owner), 0), seq)
}

func ownerKey(owner, id string) []byte {
	k := append([]byte(owner), 0)
	for i := 0; i < len(id); i++ {
		k = append(k, ^id[i])
	}
	return k
}

func idOfOwnerKey(k []byte, prefixLen int) string {
	b := make([]byte, len(k)-prefixLen)
	for i := range b {
		b[i] = ^k[prefixLen+i]
	}
	return string(b)
}

var errPageFull = errors.New("page full")

// Messages lists the ids of owner's messages, newest first, starting after
// the id after ("" from the newest), those whose reference keep accepts
// (nil: all), at most limit of them (0: all). more tells that there are
// others past the last. It reads the index only: the messages themselves
// are read with Read, after the scan (a scan may not use the transaction).
func Messages(tx vault.Tx, owner, after string, keep func(reference string) bool, limit int) (ids []string, more bool, err error) {
	prefix := append([]byte(owner), 0)
	var from []byte
	if after != "" {
		from = ownerKey(owner, after)
	}
	err = tx.Table(tableByOwner).Scan(prefix, func(k, ref []byte) error {
		if from != nil && string(k) <= string(from) {
			return nil
		}
		if keep != nil && !keep(string(ref)) {
			return nil
		}
		if limit > 0 && len(ids) == limit {
			more = true
			return errPageFull
		}
		ids = append(ids, idOfOwnerKey(k, len(prefix)))
		return nil
	})
	if errors.Is(err, errPageFull) {
		err = nil
	}
	return ids, more, err
}

// Feed lists the sequence numbers of owner's events after the one after
// (0: from the first), in the vault's order, at most limit (0: all). An
// event may be purged by the time it is read (tx.Event: ErrNotFound).
func Feed(tx vault.Tx, owner string, after uint64, limit int) ([]uint64, error) {
	prefix := append([]byte(owner), 0)
	var seqs []uint64
	err := tx.Table(tableFeed).Scan(prefix, func(k, _ []byte) error {
		seq := binary.BigEndian.Uint64(k[len(prefix):])
		if seq <= after {
			return nil
		}
		if limit > 0 && len(seqs) == limit {
			return errPageFull
		}
		seqs = append(seqs, seq)
		return nil
	})
	if errors.Is(err, errPageFull) {
		err = nil
	}
	return seqs, err
}

// Message is what a message's sender may see about it: its errand and
// times, and per recipient the status and every event.
type Message struct {
	ID         string
	Errand     string
	Created    time.Time
	Expires    time.Time
	Sender     string // the sender the gateway vouches for
	Owner      string
	Recipients []Recipient
}

// Recipient is one recipient of a Message. Personal numbers (in Rcpt and
// in Events) are whole: each door masks them as its reader may see them.
type Recipient struct {
	Index   int
	Address string // as the sender wrote it
	Rcpt    addressing.Recipient
	// Status is the kind of the recipient's latest event by rank (see
	// StatusOf): EventAccepted while the notification waits.
	Status vault.EventKind
	Events []vault.Event
}

// rank orders the statuses, so that a late delivery report does not hide
// an open, nor an open a withdrawal.
var rank = map[vault.EventKind]int{
	vault.EventAccepted:  0,
	vault.EventNotified:  1,
	vault.EventDelivered: 2,
	vault.EventFailed:    3,
	vault.EventDenied:    4,
	vault.EventOpened:    5,
	vault.EventExpired:   6,
	vault.EventRevoked:   7,
}

// StatusOf is a recipient's status after events (theirs, in order): the
// kind of the highest-ranked one; EventAccepted when there are none.
func StatusOf(events []vault.Event) vault.EventKind {
	status, best := vault.EventAccepted, -1
	for _, ev := range events {
		if r, ok := rank[ev.Kind]; ok && r > best {
			status, best = ev.Kind, r
		}
	}
	return status
}

// Read reads message id inside tx: vault.ErrNotFound when it is not (or no
// longer) there.
func Read(tx vault.Tx, id string) (Message, error) {
	var m Message
	events, err := tx.Events(id)
	if err != nil {
		return m, err
	}
	m.ID = id
	for i := 0; ; i++ {
		l, err := tx.Letter(id, i)
		if errors.Is(err, vault.ErrNotFound) && i > 0 {
			break
		}
		if err != nil {
			return m, err
		}
		if i == 0 {
			m.Errand, m.Created, m.Expires, m.Sender, m.Owner = l.Errand, l.Received.UTC(), l.Expires.UTC(), l.Vouched(), l.Owner()
		}
		r := Recipient{Index: i, Address: l.Rcpt.Address, Rcpt: l.Rcpt.Recipient}
		for _, ev := range events {
			if ev.Recipient == i {
				r.Events = append(r.Events, ev)
			}
		}
		r.Status = StatusOf(r.Events)
		m.Recipients = append(m.Recipients, r)
	}
	return m, nil
}
