package api

import (
	"encoding/json"
	"errors"
	"time"

	"sigill/addressing"
	"sigill/vault"
)

// messageView is a message as GET /api/v1/messages/{id} answers it.
type messageView struct {
	ID         string          `json:"id"`
	Subject    string          `json:"subject"`
	Created    time.Time       `json:"created"`
	Expires    time.Time       `json:"expires"`
	Sender     string          `json:"sender"`
	Reference  string          `json:"reference,omitempty"`
	Recipients []recipientView `json:"recipients"`
}

type recipientView struct {
	Index   int         `json:"index"`
	Channel string      `json:"channel"`
	To      string      `json:"to"`
	Logins  []string    `json:"logins"`
	Status  string      `json:"status"`
	Events  []eventView `json:"events"`
}

type eventView struct {
	Type string    `json:"type"`
	At   time.Time `json:"at"`
	By   string    `json:"by,omitempty"`   // the personal number of who opened or tried
	Name string    `json:"name,omitempty"` // their name, as BankID gave it
	// Actor is who did it, where staff did (revoked, expiry_changed): the
	// account, or "admin"; Reason is a withdrawal's reason.
	Actor  string `json:"actor,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// actorAndReason are an event's Actor and Reason as the API shows them.
func actorAndReason(ev vault.Event) (actor, reason string) {
	if ev.Kind == vault.EventRevoked {
		return ev.By, ev.Detail
	}
	return ev.By, ""
}

// statusOf names an event kind in the API; rank orders the statuses, so
// that a late delivery report does not hide an open.
var statusOf = map[vault.EventKind]struct {
	name string
	rank int
}{
	vault.EventAccepted:  {"queued", 0},
	vault.EventNotified:  {"notified", 1},
	vault.EventDelivered: {"delivered", 2},
	vault.EventFailed:    {"notify_failed", 3},
	vault.EventDenied:    {"denied", 4},
	vault.EventOpened:    {"opened", 5},
	vault.EventExpired:   {"expired", 6},
	vault.EventRevoked:   {"revoked", 7},
}

// eventType names an event in the API: as its status, but "accepted" for
// the first.
func eventType(k vault.EventKind) string {
	if k == vault.EventAccepted {
		return "accepted"
	}
	if s, ok := statusOf[k]; ok {
		return s.name
	}
	return string(k)
}

// sentRecord is what the API keeps about a message it sent.
type sentRecord struct {
	Account        string `json:"account"`
	Key            string `json:"key"`
	Reference      string `json:"reference,omitempty"`
	IdempotencyKey string `json:"idempotency_key"`
}

// viewMessage builds a message's view inside tx; audit shows personal
// numbers whole.
func viewMessage(tx vault.Tx, id string, audit bool) (messageView, error) {
	var mv messageView
	ref, err := referenceOf(tx, id)
	if err != nil {
		return mv, err
	}
	mv.Reference = ref
	events, err := tx.Events(id)
	if err != nil {
		return mv, err
	}
	mask := maskNumber
	if audit {
		mask = func(n string) string { return n }
	}
	mv.ID = id
	mv.Recipients = []recipientView{}
	for i := 0; ; i++ {
		l, err := tx.Letter(id, i)
		if errors.Is(err, vault.ErrNotFound) && i > 0 {
			break
		}
		if err != nil {
			return mv, err
		}
		if i == 0 {
			mv.Subject, mv.Created, mv.Expires, mv.Sender = l.Errand, l.Received.UTC(), l.Expires.UTC(), l.Vouched()
		}
		rv := recipientView{Index: i, Channel: string(l.Rcpt.Channel), To: l.Rcpt.To, Logins: []string{}, Events: []eventView{}}
		for _, n := range l.Rcpt.Logins {
			rv.Logins = append(rv.Logins, mask(n))
		}
		for _, d := range l.Rcpt.Born {
			rv.Logins = append(rv.Logins, d+"*")
		}
		if l.Rcpt.Anyone {
			rv.Logins = append(rv.Logins, "*")
		}
		rank := -1
		for _, ev := range events {
			if ev.Recipient != i {
				continue
			}
			e := eventView{Type: eventType(ev.Kind), At: ev.At.UTC(), Name: ev.Name}
			e.Actor, e.Reason = actorAndReason(ev)
			if ev.PersonalNumber != "" {
				e.By = mask(ev.PersonalNumber)
			}
			rv.Events = append(rv.Events, e)
			if s, ok := statusOf[ev.Kind]; ok && s.rank > rank {
				rank, rv.Status = s.rank, s.name
			}
		}
		if rv.Status == "" {
			rv.Status = "queued"
		}
		mv.Recipients = append(mv.Recipients, rv)
	}
	return mv, nil
}

// maskNumber is a personal number as a key without audit:read sees it.
func maskNumber(n string) string { return addressing.Mask(n) }

// referenceOf is the client's reference of a message the API sent; "" for
// another.
func referenceOf(tx vault.Tx, id string) (string, error) {
	raw, err := tx.Table(tableMessages).Get([]byte(id))
	if err != nil || raw == nil {
		return "", err
	}
	var rec sentRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return "", err
	}
	return rec.Reference, nil
}
