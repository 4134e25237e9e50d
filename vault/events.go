package vault

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"sigill/vault/kv"
)

// EventKind names what happened to a recipient's copy of a message. Every
// receipt and status view is built from events.
type EventKind string

// The event kinds. (Prefixed with Event because Accepted is also the type
// Accept returns.)
const (
	EventAccepted  EventKind = "accepted"  // stored by Accept, one per recipient
	EventNotified  EventKind = "notified"  // the provider took the notification
	EventDelivered EventKind = "delivered" // the provider reported delivery
	EventFailed    EventKind = "failed"    // notification failed for good
	EventOpened    EventKind = "opened"    // an allowed person read the message
	EventDenied    EventKind = "denied"    // a person not allowed tried
	EventExpired   EventKind = "expired"   // retention passed: content deleted (Sweep)
	EventRevoked   EventKind = "revoked"   // the sender withdrew the message
)

var eventKinds = map[EventKind]bool{
	EventAccepted: true, EventNotified: true, EventDelivered: true, EventFailed: true,
	EventOpened: true, EventDenied: true, EventExpired: true, EventRevoked: true,
}

// Event is one line of a message's audit trail. Events are append-only: the
// vault never changes one, and deletes them only at audit retention, with
// their message.
type Event struct {
	Seq            uint64    `json:"-"` // assigned by the vault; increases with every event
	MessageID      string    `json:"message"`
	Recipient      int       `json:"recipient"`
	Kind           EventKind `json:"kind"`
	At             time.Time `json:"at"`
	PersonalNumber string    `json:"personal_number,omitempty"`
	Name           string    `json:"name,omitempty"`
	IP             string    `json:"ip,omitempty"`
	UserAgent      string    `json:"user_agent,omitempty"` // the browser's User-Agent at an open or a denial
	ProviderID     string    `json:"provider_id,omitempty"`
	Detail         string    `json:"detail,omitempty"`
	By             string    `json:"by,omitempty"` // who did it, where someone did: the account or "admin" (expiry_changed)
}

// Record appends an event to the audit trail of an existing message. At
// defaults to now; Seq is assigned. It returns once the event is on disk.
// A "revoked" event is refused: Revoke records it, with what makes the
// withdrawal hold (revoke.go).
func (v *Vault) Record(ev Event) error {
	return v.RecordWithin(context.Background(), ev, nil, nil)
}

// putEvent appends an event (raw is ev encoded) and its entry in the
// per-message index, and runs the hooks (hook.go) in the same transaction.
// Every event goes through here.
func (v *Vault) putEvent(tx kv.Tx, id, raw []byte, ev Event) error {
	_, err := v.putEventKnown(tx, id, raw, ev, nil)
	return err
}

// putEventSeq is putEvent, returning the event's Seq.
func (v *Vault) putEventSeq(tx kv.Tx, id, raw []byte, ev Event) (uint64, error) {
	return v.putEventKnown(tx, id, raw, ev, nil)
}

// putEventKnown is putEventSeq with what the caller knows of ev's letter,
// which the hooks then need not read again (hookletter.go).
func (v *Vault) putEventKnown(tx kv.Tx, id, raw []byte, ev Event, known *eventLetter) (uint64, error) {
	events := tx.Bucket(bEvents)
	seq, err := events.NextSequence()
	if err != nil {
		return 0, err
	}
	k := seqKey(seq)
	if err := events.Put(k, raw); err != nil {
		return 0, err
	}
	if err := tx.Bucket(bParts).Put(eventKey(string(id), seq), nil); err != nil {
		return 0, err
	}
	ev.Seq = seq
	return seq, v.runAppended(tx, ev, known)
}

// Events returns a message's events in the order they were recorded.
// ErrNotFound when the vault holds nothing about the message (never stored,
// or purged at audit retention).
func (v *Vault) Events(messageID string) ([]Event, error) {
	var out []Event
	err := v.view(func(tx kv.Tx) error {
		if m, err := tx.Bucket(bParts).Get(metaKey(messageID)); err != nil || m == nil {
			return cmp.Or(err, fmt.Errorf("message %q: %w", messageID, ErrNotFound))
		}
		var err error
		out, err = eventsOf(tx, messageID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("vault: events: %w", err)
	}
	return out, nil
}

// eventsOf reads a message's events through the index: a prefix scan of
// id ‖ seq keys, not a scan of all events.
func eventsOf(tx kv.Tx, id string) ([]Event, error) {
	seqs, err := indexedEvents(tx, id)
	if err != nil {
		return nil, err
	}
	out := make([]Event, 0, len(seqs))
	for _, seq := range seqs {
		ev, err := eventBySeq(tx, seq)
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("event %d indexed for %s is missing", seq, id)
		}
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", seq, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

// indexedEvents is the seqs of a message's events, from the index.
func indexedEvents(tx kv.Tx, id string) ([]uint64, error) {
	var seqs []uint64
	prefix := eventsPrefix(id)
	err := tx.Bucket(bParts).Range(kv.Prefix(prefix), func(k, _ []byte) error {
		if len(k) == len(prefix)+8 {
			seqs = append(seqs, binary.BigEndian.Uint64(k[len(prefix):]))
		}
		return nil
	})
	return seqs, err
}

// deleteEvents removes a message's events and their index entries, after
// the hooks' Purging has seen each.
func (v *Vault) deleteEvents(tx kv.Tx, id string) (int, error) {
	events, index := tx.Bucket(bEvents), tx.Bucket(bParts)
	seqs, err := indexedEvents(tx, id)
	if err != nil {
		return 0, err
	}
	purging := slices.ContainsFunc(v.opt.Hooks, func(h Hook) bool { return h.Purging != nil })
	for _, seq := range seqs {
		if purging {
			ev, err := eventBySeq(tx, seq)
			if err != nil {
				return 0, fmt.Errorf("event %d: %w", seq, err)
			}
			if err := v.runPurging(tx, ev); err != nil {
				return 0, err
			}
		}
		if err := events.Delete(seqKey(seq)); err != nil {
			return 0, err
		}
		if err := index.Delete(eventKey(id, seq)); err != nil {
			return 0, err
		}
	}
	return len(seqs), nil
}
