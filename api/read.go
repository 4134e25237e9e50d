package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"sigill/apikey"
	"sigill/vault"
	"sigill/vault/sentindex"
)

// eventAppended is the hook's Appended: it queues ev's webhook deliveries
// to its letter's owner.
func eventAppended(tx vault.Tx, ev vault.Event) error {
	l, err := tx.Letter(ev.MessageID, ev.Recipient)
	if errors.Is(err, vault.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if l.Owner() == "" {
		return nil // a relayed message with a null sender: nobody's
	}
	return queueWebhooks(tx, l.Owner(), ev)
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

func (s *Server) getMessage(w http.ResponseWriter, r *http.Request) {
	key := keyOf(r)
	id := r.PathValue("id")
	var view messageView
	err := s.o.Vault.View(readTables, func(tx vault.Tx) error {
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
	var keep func(string) bool
	if reference != "" {
		keep = func(ref string) bool { return ref == reference }
	}
	list := messageList{Messages: []messageView{}}
	err := s.o.Vault.View(readTables, func(tx vault.Tx) error {
		ids, more, err := sentindex.Messages(tx, key.Account, cursor, keep, limit)
		if err != nil {
			return err
		}
		if more {
			list.Next = ids[len(ids)-1]
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
	feed := eventFeed{Events: []feedEvent{}, Next: eventCursor(after)}
	err := s.o.Vault.View(readTables, func(tx vault.Tx) error {
		seqs, err := sentindex.Feed(tx, key.Account, after, limit)
		if err != nil {
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
