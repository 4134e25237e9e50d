package api

import (
	"encoding/json"
	"time"

	"sigill/addressing"
	"sigill/vault"
	"sigill/vault/sentindex"
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

// statusNames names an event kind in the API, as a status.
var statusNames = map[vault.EventKind]string{
	vault.EventAccepted:  "queued",
	vault.EventNotified:  "notified",
	vault.EventDelivered: "delivered",
	vault.EventFailed:    "notify_failed",
	vault.EventDenied:    "denied",
	vault.EventOpened:    "opened",
	vault.EventExpired:   "expired",
	vault.EventRevoked:   "revoked",
}

// eventType names an event in the API: as its status, but "accepted" for
// the first.
func eventType(k vault.EventKind) string {
	if k == vault.EventAccepted {
		return "accepted"
	}
	if name, ok := statusNames[k]; ok {
		return name
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

// viewMessage builds a message's view inside tx (open to readTables);
// audit shows personal numbers whole.
func viewMessage(tx vault.Tx, id string, audit bool) (messageView, error) {
	var mv messageView
	ref, err := referenceOf(tx, id)
	if err != nil {
		return mv, err
	}
	m, err := sentindex.Read(tx, id)
	if err != nil {
		return mv, err
	}
	mask := maskNumber
	if audit {
		mask = func(n string) string { return n }
	}
	mv = messageView{ID: id, Subject: m.Errand, Created: m.Created, Expires: m.Expires, Sender: m.Sender, Reference: ref, Recipients: []recipientView{}}
	for _, r := range m.Recipients {
		rv := recipientView{Index: r.Index, Channel: string(r.Rcpt.Channel), To: r.Rcpt.To, Logins: []string{}, Events: []eventView{}, Status: statusNames[r.Status]}
		for _, n := range r.Rcpt.Logins {
			rv.Logins = append(rv.Logins, mask(n))
		}
		for _, d := range r.Rcpt.Born {
			rv.Logins = append(rv.Logins, d+"*")
		}
		if r.Rcpt.Anyone {
			rv.Logins = append(rv.Logins, "*")
		}
		for _, ev := range r.Events {
			e := eventView{Type: eventType(ev.Kind), At: ev.At.UTC(), Name: ev.Name}
			e.Actor, e.Reason = actorAndReason(ev)
			if ev.PersonalNumber != "" {
				e.By = mask(ev.PersonalNumber)
			}
			rv.Events = append(rv.Events, e)
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
