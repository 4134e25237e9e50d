package api

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"sigill/apikey"
	"sigill/vault"
)

// The reading side keeps two indexes, filled by the hook's Appended inside
// the transaction of every event whatever door the message came through
// (SMTP too): the messages of each owner, newest first, and each owner's
// events in the vault's order. Messages stored before this version have
// no entries.
const (
	tableByOwner = "api_by_owner" // owner ‖ 0 ‖ id with every byte inverted (newest first) → reference
	tableFeed    = "api_feed"     // owner ‖ 0 ‖ big-endian event seq → nothing
)

// indexEvent is the hook's Appended: it files ev under its letter's owner,
// and queues its webhook deliveries.
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
	if err := queueWebhooks(tx, owner, ev); err != nil {
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
	if l, err := tx.Letter(ev.MessageID, ev.Recipient); err == nil && l.Owner() != "" {
		if err := tx.Table(tableFeed).Delete(feedKey(l.Owner(), ev.Seq)); err != nil {
			return err
		}
		if err := tx.Table(tableByOwner).Delete(ownerKey(l.Owner(), ev.MessageID)); err != nil {
			return err
		}
	} else if err != nil && !errors.Is(err, vault.ErrNotFound) {
		return err
	}
	return purgeRecords(tx, ev)
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

// pageLimit reads ?limit= (def when absent, at most max).
func pageLimit(r *http.Request, def, max int) (int, *fieldError) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, &fieldError{Field: "limit", Detail: fmt.Sprintf("%q must be a whole number from 1 to %d", v, max)}
	}
	return n, nil
}

var errPageFull = errors.New("page full")

func (s *Server) getMessage(w http.ResponseWriter, r *http.Request) {
	key := keyOf(r)
	id := r.PathValue("id")
	var view messageView
	err := s.o.Vault.View(tables, func(tx vault.Tx) error {
		l, err := tx.Letter(id, 0)
		if err != nil {
			return err
		}
		if l.Owner() != key.Account {
			return vault.ErrNotFound // another account's message is not there for this key
		}
		view, err = viewMessage(tx, id, key.Allows(apikey.ScopeAudit))
		return err
	})
	switch {
	case errors.Is(err, vault.ErrNotFound):
		writeProblem(w, http.StatusNotFound, "not-found", "no message "+id+" of this account")
	case err != nil:
		s.o.Logger.Error("api: reading a message", "id", id, "err", err)
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "the vault could not be read; try again shortly")
	default:
		writeJSON(w, http.StatusOK, view)
	}
}

type messageList struct {
	Messages []messageView `json:"messages"`
	Next     string        `json:"next,omitempty"`
}

func (s *Server) listMessages(w http.ResponseWriter, r *http.Request) {
	key := keyOf(r)
	q := r.URL.Query()
	limit, fault := pageLimit(r, 50, 200)
	if fault != nil {
		writeProblem(w, http.StatusUnprocessableEntity, "invalid", "the query has a fault", *fault)
		return
	}
	cursor, reference := q.Get("cursor"), q.Get("reference")
	prefix := append([]byte(key.Account), 0)
	var after []byte
	if cursor != "" {
		after = ownerKey(key.Account, cursor)
	}
	var ids []string
	list := messageList{Messages: []messageView{}}
	err := s.o.Vault.View(tables, func(tx vault.Tx) error {
		err := tx.Table(tableByOwner).Scan(prefix, func(k, ref []byte) error {
			if after != nil && string(k) <= string(after) {
				return nil
			}
			if reference != "" && string(ref) != reference {
				return nil
			}
			if len(ids) == limit {
				list.Next = ids[len(ids)-1]
				return errPageFull
			}
			ids = append(ids, idOfOwnerKey(k, len(prefix)))
			return nil
		})
		if err != nil && !errors.Is(err, errPageFull) {
			return err
		}
		for _, id := range ids {
			view, err := viewMessage(tx, id, key.Allows(apikey.ScopeAudit))
			if errors.Is(err, vault.ErrNotFound) {
				continue // purged meanwhile
			}
			if err != nil {
				return err
			}
			list.Messages = append(list.Messages, view)
		}
		return nil
	})
	if err != nil {
		s.o.Logger.Error("api: listing messages", "err", err)
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "the vault could not be read; try again shortly")
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// feedEvent is one event of GET /api/v1/events.
type feedEvent struct {
	Cursor    string    `json:"cursor"` // read again from here with ?after=
	Type      string    `json:"type"`
	At        time.Time `json:"at"`
	Message   string    `json:"message"`
	Recipient int       `json:"recipient"`
	Reference string    `json:"reference,omitempty"`
	By        string    `json:"by,omitempty"`
	Name      string    `json:"name,omitempty"`
	Actor     string    `json:"actor,omitempty"`
	Reason    string    `json:"reason,omitempty"`
}

// feedEventOf is ev as the feed and webhooks tell it; mask hides
// personal numbers (a key without audit:read).
func feedEventOf(ev vault.Event, reference string, mask bool) feedEvent {
	fe := feedEvent{Cursor: eventCursor(ev.Seq), Type: eventType(ev.Kind), At: ev.At.UTC(), Message: ev.MessageID,
		Recipient: ev.Recipient, Reference: reference, By: ev.PersonalNumber, Name: ev.Name}
	fe.Actor, fe.Reason = actorAndReason(ev)
	if mask && fe.By != "" {
		fe.By = maskNumber(fe.By)
	}
	return fe
}

type eventFeed struct {
	Events []feedEvent `json:"events"`
	Next   string      `json:"next"`
}

// Event cursors are the vault's event sequence numbers in base 36: opaque
// to a client, stable across restarts.
func eventCursor(seq uint64) string { return "e" + strconv.FormatUint(seq, 36) }

func parseEventCursor(c string) (uint64, bool) {
	if c == "" {
		return 0, true
	}
	rest, ok := strings.CutPrefix(c, "e")
	if !ok {
		return 0, false
	}
	seq, err := strconv.ParseUint(rest, 36, 64)
	return seq, err == nil
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	key := keyOf(r)
	limit, fault := pageLimit(r, 100, 1000)
	after, ok := parseEventCursor(r.URL.Query().Get("after"))
	var faults []fieldError
	if fault != nil {
		faults = append(faults, *fault)
	}
	if !ok {
		faults = append(faults, fieldError{Field: "after", Detail: "is not a cursor this feed gave (next, or an event's cursor); leave it out to read from the start"})
	}
	if len(faults) > 0 {
		writeProblem(w, http.StatusUnprocessableEntity, "invalid", "the query has faults", faults...)
		return
	}
	mask := !key.Allows(apikey.ScopeAudit)
	prefix := append([]byte(key.Account), 0)
	feed := eventFeed{Events: []feedEvent{}, Next: eventCursor(after)}
	err := s.o.Vault.View(tables, func(tx vault.Tx) error {
		var seqs []uint64
		err := tx.Table(tableFeed).Scan(prefix, func(k, _ []byte) error {
			seq := binary.BigEndian.Uint64(k[len(prefix):])
			if seq <= after {
				return nil
			}
			if len(seqs) == limit {
				return errPageFull
			}
			seqs = append(seqs, seq)
			return nil
		})
		if err != nil && !errors.Is(err, errPageFull) {
			return err
		}
		refs := map[string]string{}
		for _, seq := range seqs {
			feed.Next = eventCursor(seq)
			ev, err := tx.Event(seq)
			if errors.Is(err, vault.ErrNotFound) {
				continue // purged
			}
			if err != nil {
				return err
			}
			ref, known := refs[ev.MessageID]
			if !known {
				if ref, err = referenceOf(tx, ev.MessageID); err != nil {
					return err
				}
				refs[ev.MessageID] = ref
			}
			feed.Events = append(feed.Events, feedEventOf(ev, ref, mask))
		}
		return nil
	})
	if err != nil {
		s.o.Logger.Error("api: reading the event feed", "err", err)
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "the vault could not be read; try again shortly")
		return
	}
	writeJSON(w, http.StatusOK, feed)
}
