package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"sigill/addressing"
	"sigill/vault"
)

// expiryRequest is PUT /api/v1/messages/{id}/expiry's body: the new
// lifetime counted from when the message was received, in exp='s notation
// (as the send's expires_in), or the new instant. One of the two.
type expiryRequest struct {
	ExpiresIn string `json:"expires_in"`
	Expires   string `json:"expires"`
}

// maxExpiryBody bounds an expiry change: two short strings.
const maxExpiryBody = 4 << 10

// decodeExpiry reads an expiry change and checks what needs no message:
// every fault, or errNotJSON. The limit (vault.max_retention after the
// message was received) needs the message, and is checked by the caller.
// FuzzDecodeExpiry drives it with outside input.
func decodeExpiry(body []byte) (vault.ExpiryChange, []fieldError, error) {
	var req expiryRequest
	fault, err := decodeObject(body, &req, `is not a field of an expiry change; it takes expires_in ("7d") or expires (RFC 3339)`)
	if err != nil || fault != nil {
		return vault.ExpiryChange{}, fault, err
	}
	var (
		change vault.ExpiryChange
		faults []fieldError
	)
	switch {
	case req.ExpiresIn == "" && req.Expires == "":
		faults = append(faults, fieldError{Field: "expires_in", Detail: `is missing: give expires_in (a lifetime from when the message was received, e.g. "7d") or expires (an RFC 3339 time)`})
	case req.ExpiresIn != "" && req.Expires != "":
		faults = append(faults, fieldError{Field: "expires", Detail: "is given with expires_in; give one of the two"})
	case req.ExpiresIn != "":
		l, err := addressing.ParseLifetime(req.ExpiresIn)
		if err != nil {
			faults = append(faults, fieldError{Field: "expires_in", Detail: err.Error()})
		}
		change.Lifetime = l.Duration()
	default:
		at, err := time.Parse(time.RFC3339, req.Expires)
		if err != nil || at.IsZero() {
			faults = append(faults, fieldError{Field: "expires", Detail: fmt.Sprintf("%q is not an RFC 3339 time, e.g. 2026-12-24T12:00:00+01:00", req.Expires)})
		}
		change.At = at
	}
	return change, faults, nil
}

// setExpiry shortens or extends the lifetime of a message of the key's
// account, before it passes, within vault.max_retention after it was
// received, and answers the message as GET does.
func (s *Server) setExpiry(w http.ResponseWriter, r *http.Request) {
	key := keyOf(r)
	id := r.PathValue("id")
	body, ok := readBody(w, r, maxExpiryBody, "an expiry change's")
	if !ok {
		return
	}
	change, faults, err := decodeExpiry(bytes.TrimSpace(body))
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "not-json", `the body must be one JSON object: {"expires_in": "7d"} or {"expires": "2026-12-24T12:00:00+01:00"}`)
		return
	}
	l, now, ok := s.ownMessage(w, id, key.Account, "to change its expiry")
	if !ok {
		return
	}
	if len(faults) > 0 {
		writeProblem(w, http.StatusUnprocessableEntity, "invalid", "the expiry change has faults; nothing was changed", faults...)
		return
	}
	if l.Expired || !now.Before(l.Expires) {
		writeProblem(w, http.StatusConflict, "expired", fmt.Sprintf("the message expired at %s: its content is deleted, and its lifetime cannot change", l.Expires.UTC().Format(time.RFC3339)))
		return
	}
	field, at := "expires", change.At
	if change.Lifetime > 0 {
		field, at = "expires_in", l.Received.Add(change.Lifetime)
	}
	if latest := l.Received.Add(s.maxLifetime()); at.After(latest) {
		writeProblem(w, http.StatusUnprocessableEntity, "invalid", "the expiry change has faults; nothing was changed", fieldError{Field: field,
			Detail: fmt.Sprintf("is later than this gateway keeps a message (vault.max_retention: %s after it was received): at the latest %s", addressing.Lifetime(s.maxLifetime()), latest.UTC().Format(time.RFC3339))})
		return
	}
	if !at.After(now) {
		writeProblem(w, http.StatusUnprocessableEntity, "invalid", "the expiry change has faults; nothing was changed", fieldError{Field: field,
			Detail: fmt.Sprintf("%s is not in the future; to end the message now, withdraw it (POST /api/v1/messages/{id}/revoke)", at.UTC().Format(time.RFC3339))})
		return
	}
	changed, err := s.o.Vault.ChangeExpiry(id, change, key.Account)
	switch {
	case errors.Is(err, vault.ErrBadExpiry):
		// The vault's own limit, checked again under its lock.
		_, detail, _ := strings.Cut(err.Error(), vault.ErrBadExpiry.Error()+": ")
		writeProblem(w, http.StatusUnprocessableEntity, "invalid", "the expiry change has faults; nothing was changed", fieldError{Field: field, Detail: detail})
		return
	case errors.Is(err, vault.ErrExpired):
		writeProblem(w, http.StatusConflict, "expired", "the message has expired: its content is deleted, and its lifetime cannot change")
		return
	case errors.Is(err, vault.ErrRevoked):
		writeProblem(w, http.StatusConflict, "revoked", "the message was withdrawn: no link opens it, and its lifetime cannot change")
		return
	case errors.Is(err, vault.ErrFixedExpiry):
		writeProblem(w, http.StatusConflict, "fixed-expiry", "the message was accepted before per-message expiry: its expiry cannot change")
		return
	case err != nil:
		s.o.Logger.Error("api: changing a message's expiry", "id", id, "err", err)
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "the expiry could not be changed; try again shortly")
		return
	}
	s.o.Logger.Info("api: expiry changed", "id", id, "old", changed.Old, "expires", changed.Expires, "account", key.Account, "key", key.ID)
	s.answerMessage(w, id, key, "has its new expiry")
}

// readBody reads a request's body of at most limit bytes; false when it
// has answered (413 naming what, 400).
func readBody(w http.ResponseWriter, r *http.Request, limit int64, what string) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeProblem(w, http.StatusRequestEntityTooLarge, "too-large", fmt.Sprintf("%s body is at most %d bytes", what, limit))
			return nil, false
		}
		writeProblem(w, http.StatusBadRequest, "unreadable", "the body could not be read")
		return nil, false
	}
	return body, true
}

// ownMessage reads the first letter of message id of account, and the
// vault's time; false when it has answered (404 for another account's
// message, 503). why names the read in the log.
func (s *Server) ownMessage(w http.ResponseWriter, id, account, why string) (vault.Letter, time.Time, bool) {
	var (
		l   vault.Letter
		now time.Time
	)
	err := s.o.Vault.View(tables, func(tx vault.Tx) error {
		var err error
		l, err = ownLetter(tx, id, account)
		now = tx.Now()
		return err
	})
	return l, now, s.readOwn(w, id, why, err)
}

// readOwn answers the fault of reading an account's message, if any: 404
// for one not there (or another account's), 503 for the store's.
func (s *Server) readOwn(w http.ResponseWriter, id, why string, err error) bool {
	switch {
	case errors.Is(err, vault.ErrNotFound):
		writeProblem(w, http.StatusNotFound, "not-found", "no message "+id+" of this account")
		return false
	case err != nil:
		s.o.Logger.Error("api: reading a message "+why, "id", id, "err", err)
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "the vault could not be read; try again shortly")
		return false
	}
	return true
}

// ownLetter is the first recipient's letter of message id when account
// sent it; vault.ErrNotFound for another account's, so that it is not
// there for this key.
func ownLetter(tx vault.Tx, id, account string) (vault.Letter, error) {
	l, err := tx.Letter(id, 0)
	if err != nil {
		return vault.Letter{}, err
	}
	if l.Owner() != account {
		return vault.Letter{}, vault.ErrNotFound
	}
	return l, nil
}
