package api

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"sigill/apikey"
	"sigill/vault"
)

// Webhooks: an account's systems register endpoints (POST
// /api/v1/webhooks), and each event of the account's messages that an
// endpoint subscribed to becomes an outbox job of kind JobWebhook, queued
// by the hook in the event's own transaction: a delivery is on disk with
// its event or not at all, and no restart loses one. The notifier claims
// the jobs with its lease and retries them on Standard Webhooks' schedule
// (notifier.WebhookBackoff); Deliver (deliver.go) makes each attempt.
//
// An endpoint belongs to the account of the key that made it, as the
// event feed does; any of the account's keys with events:read lists,
// deletes and rotates it. A disabled account's endpoints get nothing, and
// an endpoint made before its account was removed and made anew never
// gets anything again (as API keys end). Personal numbers in deliveries
// are masked unless the key that made the endpoint had audit:read.

// JobWebhook is the kind of the outbox job of one delivery: MessageID and
// Recipient are the event's, Event its sequence number, To the endpoint's
// id.
const JobWebhook = "webhook"

const tableWebhooks = "api_webhooks" // account ‖ 0 ‖ endpoint id → endpoint as JSON

// webhookTypes names the vault's events in webhooks.
var webhookTypes = map[vault.EventKind]string{
	vault.EventNotified:  "message.notified",
	vault.EventDelivered: "message.delivered",
	vault.EventFailed:    "message.notify_failed",
	vault.EventOpened:    "message.opened",
	vault.EventDenied:    "message.denied",
	vault.EventExpired:   "message.expired",
	vault.EventRevoked:   "message.revoked",
	vault.EventReplied:   "message.replied",
}

var knownWebhookTypes = []string{
	"message.notified", "message.delivered", "message.notify_failed", "message.opened",
	"message.denied", "message.expired", "message.revoked", "message.replied",
}

const (
	maxEndpoints      = 20 // per account
	maxWebhookURL     = 2048
	maxWebhookBody    = 16 << 10
	secretBytes       = 32
	secretPrefix      = "whsec_"
	rotationGrace     = 24 * time.Hour // both secrets sign this long after a rotation
	endpointIDPrefix  = "wh_"
	endpointIDEntropy = 10 // bytes
)

// endpoint is a registered webhook endpoint as kept in tableWebhooks.
type endpoint struct {
	ID      string    `json:"id"`
	Account string    `json:"account"`
	Key     string    `json:"key"` // the API key that made it
	URL     string    `json:"url"`
	Events  []string  `json:"events"`
	Audit   bool      `json:"audit,omitempty"` // whole personal numbers
	Created time.Time `json:"created"`
	// Secrets sign deliveries, newest first; one whose Until has passed
	// signs no more (the secret before a rotation).
	Secrets []endpointSecret `json:"secrets"`
}

type endpointSecret struct {
	Key   []byte    `json:"key"`
	Until time.Time `json:"until,omitzero"`
}

// live are the secrets that sign a delivery at now, newest first.
func (e endpoint) live(now time.Time) [][]byte {
	var keys [][]byte
	for _, s := range e.Secrets {
		if s.Until.IsZero() || now.Before(s.Until) {
			keys = append(keys, s.Key)
		}
	}
	return keys
}

func (e endpoint) wants(typ string) bool { return slices.Contains(e.Events, typ) }

func endpointKey(account, id string) []byte { return append(append([]byte(account), 0), id...) }

// webhookView is an endpoint as the API shows it; Secret only when it is
// new (on create and rotate).
type webhookView struct {
	ID             string     `json:"id"`
	URL            string     `json:"url"`
	Events         []string   `json:"events"`
	Created        time.Time  `json:"created"`
	Secret         string     `json:"secret,omitempty"`
	PreviousExpiry *time.Time `json:"previous_secret_expires,omitempty"`
}

func (e endpoint) view(now time.Time) webhookView {
	v := webhookView{ID: e.ID, URL: e.URL, Events: e.Events, Created: e.Created}
	for _, s := range e.Secrets[1:] {
		if now.Before(s.Until) {
			until := s.Until
			v.PreviousExpiry = &until
		}
	}
	return v
}

func secretString(key []byte) string { return secretPrefix + base64.StdEncoding.EncodeToString(key) }

func newSecret() []byte {
	b := make([]byte, secretBytes)
	rand.Read(b)
	return b
}

// webhookRequest is POST /api/v1/webhooks's body.
type webhookRequest struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
}

// decodeWebhook reads a registration and checks every field that needs
// no policy; FuzzDecodeWebhook drives it. Events absent or empty: every
// type. The URL's reach (the SSRF guard) is the server's to check.
func decodeWebhook(body []byte) (*webhookRequest, *url.URL, []fieldError, error) {
	var req webhookRequest
	if faults, err := decodeObject(body, &req, "is not a field of a webhook; write url and events"); faults != nil || err != nil {
		return nil, nil, faults, err
	}
	var faults []fieldError
	u, err := url.Parse(req.URL)
	switch {
	case req.URL == "":
		faults = append(faults, fieldError{Field: "url", Detail: "is empty; write the https URL sigill is to POST events to"})
	case len(req.URL) > maxWebhookURL:
		faults = append(faults, fieldError{Field: "url", Detail: fmt.Sprintf("is %d bytes; write at most %d", len(req.URL), maxWebhookURL)})
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" || hasControl(req.URL):
		faults = append(faults, fieldError{Field: "url", Detail: "is not an absolute http(s) URL such as https://journal.example.se/hooks/sigill"})
	case u.User != nil:
		faults = append(faults, fieldError{Field: "url", Detail: "holds a user name or password; sigill signs each delivery instead (webhook-signature)"})
	case u.Fragment != "":
		faults = append(faults, fieldError{Field: "url", Detail: "has a #fragment, which is never sent; leave it out"})
	}
	if len(req.Events) == 0 {
		req.Events = slices.Clone(knownWebhookTypes)
	}
	seen := map[string]bool{}
	for i, typ := range req.Events {
		switch {
		case !slices.Contains(knownWebhookTypes, typ):
			faults = append(faults, fieldError{Field: fmt.Sprintf("events[%d]", i), Detail: fmt.Sprintf("%q is not an event type; write one of %s", typ, strings.Join(knownWebhookTypes, ", "))})
		case seen[typ]:
			faults = append(faults, fieldError{Field: fmt.Sprintf("events[%d]", i), Detail: fmt.Sprintf("%q is written twice", typ)})
		}
		seen[typ] = true
	}
	if len(faults) > 0 {
		return &req, nil, faults, nil
	}
	return &req, u, nil, nil
}

func (s *Server) readSmall(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeProblem(w, http.StatusRequestEntityTooLarge, "too-large", fmt.Sprintf("the request is over %d bytes; a webhook is a URL and a list of event types", tooLarge.Limit))
		return nil, false
	case err != nil:
		writeProblem(w, http.StatusBadRequest, "unreadable", "the request body could not be read")
		return nil, false
	}
	return body, true
}

var errTooManyEndpoints = errors.New("too many endpoints")

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) {
	key := keyOf(r)
	body, ok := s.readSmall(w, r)
	if !ok {
		return
	}
	req, u, faults, err := decodeWebhook(body)
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "not-json", "the body must be one JSON object: {\"url\": \"https://…\", \"events\": [\"message.opened\", …]}")
		return
	}
	if len(faults) == 0 {
		if f := s.checkWebhookURL(r, u); f != nil {
			faults = append(faults, *f)
		}
	}
	if len(faults) > 0 {
		writeProblem(w, http.StatusUnprocessableEntity, "invalid", fmt.Sprintf("%d field(s) to mend; nothing was stored", len(faults)), faults...)
		return
	}
	id := make([]byte, endpointIDEntropy)
	rand.Read(id)
	ep := endpoint{
		ID:      endpointIDPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(id)),
		Account: key.Account, Key: key.ID, URL: req.URL, Events: req.Events, Audit: key.Allows(apikey.ScopeAudit),
		Secrets: []endpointSecret{{Key: newSecret()}},
	}
	err = s.o.Vault.Update(r.Context(), tables, func(tx vault.Tx) error {
		n := 0
		err := tx.Table(tableWebhooks).Scan(append([]byte(key.Account), 0), func(_, _ []byte) error { n++; return nil })
		if err != nil {
			return err
		}
		if n >= maxEndpoints {
			return errTooManyEndpoints
		}
		ep.Created = tx.Now().UTC()
		raw, err := json.Marshal(ep)
		if err != nil {
			return err
		}
		return tx.Table(tableWebhooks).Put(endpointKey(key.Account, ep.ID), raw)
	})
	switch {
	case errors.Is(err, errTooManyEndpoints):
		writeProblem(w, http.StatusUnprocessableEntity, "invalid", "nothing was stored", fieldError{Field: "url", Detail: fmt.Sprintf("the account has %d webhooks, the most it may have; delete one first", maxEndpoints)})
		return
	case err != nil:
		s.o.Logger.Error("api: storing a webhook", "err", err)
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "the webhook could not be stored; try again shortly")
		return
	}
	s.o.Logger.Info("api: webhook registered", "webhook", ep.ID, "key", key.ID, "host", u.Hostname())
	v := ep.view(ep.Created)
	v.Secret = secretString(ep.Secrets[0].Key)
	w.Header().Set("Location", "/api/v1/webhooks/"+ep.ID)
	writeJSON(w, http.StatusCreated, v)
}

// checkWebhookURL refuses, as a fault of the url field, a URL the SSRF
// guard would not connect to, or plain http to an address not allowed by
// name (sigill dev takes http to loopback).
func (s *Server) checkWebhookURL(r *http.Request, u *url.URL) *fieldError {
	if s.o.Egress == nil {
		return &fieldError{Field: "url", Detail: "this gateway delivers no webhooks (no SSRF guard is configured)"}
	}
	if err := s.o.Egress.CheckURL(r.Context(), u); err != nil {
		return &fieldError{Field: "url", Detail: fmt.Sprintf("%v: sigill posts only to public addresses unless api.webhook_allow names the host or network", err)}
	}
	if u.Scheme == "http" && !s.o.Egress.HostAllowed(u.Hostname()) && !s.o.PlainHTTPWebhooks {
		return &fieldError{Field: "url", Detail: "must be https (plain http only to a host api.webhook_allow names)"}
	}
	return nil
}

type webhookList struct {
	Webhooks []webhookView `json:"webhooks"`
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) {
	key := keyOf(r)
	list := webhookList{Webhooks: []webhookView{}}
	err := s.o.Vault.View(tables, func(tx vault.Tx) error {
		now := tx.Now()
		return tx.Table(tableWebhooks).Scan(append([]byte(key.Account), 0), func(_, raw []byte) error {
			var ep endpoint
			if err := json.Unmarshal(raw, &ep); err != nil {
				return err
			}
			list.Webhooks = append(list.Webhooks, ep.view(now))
			return nil
		})
	})
	if err != nil {
		s.o.Logger.Error("api: listing webhooks", "err", err)
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "the vault could not be read; try again shortly")
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	key := keyOf(r)
	id := r.PathValue("id")
	err := s.o.Vault.Update(r.Context(), tables, func(tx vault.Tx) error {
		t := tx.Table(tableWebhooks)
		if b, err := t.Get(endpointKey(key.Account, id)); err != nil || b == nil {
			return errors.Join(err, vault.ErrNotFound)
		}
		return t.Delete(endpointKey(key.Account, id))
	})
	switch {
	case errors.Is(err, vault.ErrNotFound):
		writeProblem(w, http.StatusNotFound, "not-found", "no webhook "+id+" of this account")
	case err != nil:
		s.o.Logger.Error("api: deleting a webhook", "err", err)
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "the webhook could not be deleted; try again shortly")
	default:
		s.o.Logger.Info("api: webhook deleted", "webhook", id, "key", key.ID)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	}
}

// rotateWebhook gives an endpoint a new secret; the one it had signs
// beside it for rotationGrace, so the receiver can switch without losing
// a delivery. A secret older than that is dropped.
func (s *Server) rotateWebhook(w http.ResponseWriter, r *http.Request) {
	key := keyOf(r)
	id := r.PathValue("id")
	var (
		ep  endpoint
		now time.Time
	)
	err := s.o.Vault.Update(r.Context(), tables, func(tx vault.Tx) error {
		t := tx.Table(tableWebhooks)
		raw, err := t.Get(endpointKey(key.Account, id))
		if err != nil || raw == nil {
			return errors.Join(err, vault.ErrNotFound)
		}
		ep = endpoint{}
		if err := json.Unmarshal(raw, &ep); err != nil {
			return err
		}
		now = tx.Now().UTC()
		ep.Secrets = []endpointSecret{{Key: newSecret()}, {Key: ep.Secrets[0].Key, Until: now.Add(rotationGrace)}}
		b, err := json.Marshal(ep)
		if err != nil {
			return err
		}
		return t.Put(endpointKey(key.Account, id), b)
	})
	switch {
	case errors.Is(err, vault.ErrNotFound):
		writeProblem(w, http.StatusNotFound, "not-found", "no webhook "+id+" of this account")
		return
	case err != nil:
		s.o.Logger.Error("api: rotating a webhook secret", "err", err)
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "the secret could not be rotated; try again shortly")
		return
	}
	s.o.Logger.Info("api: webhook secret rotated", "webhook", id, "key", key.ID)
	v := ep.view(now)
	v.Secret = secretString(ep.Secrets[0].Key)
	writeJSON(w, http.StatusOK, v)
}

// queueWebhooks is part of the hook's Appended: a delivery job for each of
// the owner's endpoints that subscribed to ev's type, in ev's transaction.
func queueWebhooks(tx vault.Tx, owner string, ev vault.Event) error {
	typ, ok := webhookTypes[ev.Kind]
	if !ok {
		return nil
	}
	var due []endpoint
	err := tx.Table(tableWebhooks).Scan(append([]byte(owner), 0), func(_, raw []byte) error {
		var ep endpoint
		if err := json.Unmarshal(raw, &ep); err != nil {
			return err
		}
		if ep.wants(typ) {
			due = append(due, ep)
		}
		return nil
	})
	if err != nil || len(due) == 0 {
		return err
	}
	for _, ep := range due {
		live, err := endpointLive(tx, ep)
		if err != nil {
			return err
		}
		if !live {
			continue // an old account's endpoint; the next may be the new one's
		}
		if _, err := tx.QueueJob(vault.Job{Kind: JobWebhook, MessageID: ev.MessageID, Recipient: ev.Recipient, To: ep.ID, Event: ev.Seq}); err != nil {
			return err
		}
	}
	return nil
}

// endpointLive reports whether ep's account may still get deliveries: it
// exists, is not disabled, and is not one made anew after ep.
func endpointLive(tx vault.Tx, ep endpoint) (bool, error) {
	acct, err := tx.Account(ep.Account)
	if errors.Is(err, vault.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return !acct.Disabled && !acct.Created.After(ep.Created), nil
}
