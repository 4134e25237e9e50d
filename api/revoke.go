package api

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"sigill/addressing"
	"sigill/apikey"
	"sigill/vault"
)

// revokeRequest is POST /api/v1/messages/{id}/revoke's body, all of it
// optional: no body withdraws the message for every recipient.
type revokeRequest struct {
	Recipients []int  `json:"recipients"`
	Reason     string `json:"reason"`
}

// maxRevokeBody bounds a revoke request: a reason and some indexes.
const maxRevokeBody = 64 << 10

// decodeRevoke reads a revoke request (an empty body is one with nothing
// in it) and checks what needs no message: every fault, or errNotJSON.
// Indexes are checked against the message by the vault. FuzzDecodeRevoke
// drives it with outside input.
func decodeRevoke(body []byte) (revokeRequest, []fieldError, error) {
	var req revokeRequest
	if len(bytes.TrimSpace(body)) == 0 {
		return req, nil, nil
	}
	fault, err := decodeObject(body, &req, "is not a field of a withdrawal; it takes recipients and reason")
	if err != nil || fault != nil {
		if fault != nil && strings.HasPrefix(fault[0].Field, "recipients") {
			fault[0].Field = "recipients" // recipients.0 in encoding/json's words: the list is what to mend
		}
		return req, fault, err
	}
	var faults []fieldError
	if req.Recipients != nil && len(req.Recipients) == 0 {
		faults = append(faults, fieldError{Field: "recipients", Detail: "is empty; leave it out to withdraw the message for every recipient"})
	}
	for i, n := range req.Recipients {
		if n < 0 {
			faults = append(faults, fieldError{Field: fmt.Sprintf("recipients[%d]", i), Detail: fmt.Sprintf("%d is not a recipient index; they count from 0, as in the message's recipients", n)})
		}
	}
	if err := vault.CheckReason(req.Reason); err != nil {
		faults = append(faults, fieldError{Field: "reason", Detail: strings.TrimPrefix(err.Error(), vault.ErrBadReason.Error()+": ")})
	}
	return req, faults, nil
}

// revoke withdraws a message of the key's account, for the recipients
// asked for or all, and answers the message as GET does.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	key := keyOf(r)
	id := r.PathValue("id")
	body, ok := readBody(w, r, maxRevokeBody, "a withdrawal's")
	if !ok {
		return
	}
	req, faults, err := decodeRevoke(body)
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "not-json", `the body must be empty or one JSON object: {"recipients": [0], "reason": "…"}`)
		return
	}
	// Another account's message is not there for this key, before any
	// fault of the body is told.
	var recipients int
	err = s.o.Vault.View(tables, func(tx vault.Tx) error {
		if _, err := ownLetter(tx, id, key.Account); err != nil {
			return err
		}
		for recipients = 1; ; recipients++ {
			if _, err := tx.Letter(id, recipients); errors.Is(err, vault.ErrNotFound) {
				return nil
			} else if err != nil {
				return err
			}
		}
	})
	if !s.readOwn(w, id, "to withdraw", err) {
		return
	}
	for i, n := range req.Recipients {
		if n >= recipients {
			faults = append(faults, fieldError{Field: fmt.Sprintf("recipients[%d]", i), Detail: fmt.Sprintf("the message has no recipient %d: it has %d, counted from 0", n, recipients)})
		}
	}
	if len(faults) > 0 {
		writeProblem(w, http.StatusUnprocessableEntity, "invalid", "the withdrawal has faults; nothing was withdrawn", faults...)
		return
	}
	res, err := s.o.Vault.RevokeRecipients(r.Context(), id, req.Recipients, req.Reason, key.Account)
	switch {
	case errors.Is(err, vault.ErrExpired):
		writeProblem(w, http.StatusConflict, "expired", "the message has expired: its content is deleted already, and nothing is left to withdraw")
		return
	case err != nil && len(res.Revoked) == 0:
		s.o.Logger.Error("api: withdrawing a message", "id", id, "err", err)
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "the message could not be withdrawn; try again (a withdrawal is idempotent)")
		return
	case err != nil:
		// Withdrawn and refused from now on; only the copies' shredding is
		// owed, and the background pass finishes it.
		s.o.Logger.Error("api: a message withdrawn, its key not yet replaced", "id", id, "err", err)
	}
	s.o.Logger.Info("api: message withdrawn", "id", id, "recipients", res.Revoked, "already", res.Already, "account", addressing.MaskPersonalNumbers(key.Account), "key", key.ID)
	if s.o.Accepted != nil && len(res.Revoked) > 0 {
		s.o.Accepted() // the sender's receipts are due
	}
	s.answerMessage(w, id, key, "was withdrawn")
}

// answerMessage answers message id after a change (what it was: "was
// withdrawn") as GET /api/v1/messages/{id} does.
func (s *Server) answerMessage(w http.ResponseWriter, id string, key apikey.Key, what string) {
	var view messageView
	err := s.o.Vault.View(tables, func(tx vault.Tx) error {
		var err error
		view, err = viewMessage(tx, id, key.Allows(apikey.ScopeAudit))
		return err
	})
	if err != nil {
		s.o.Logger.Error("api: reading a message back", "id", id, "err", err)
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "the message "+what+", but could not be read back; GET it")
		return
	}
	writeJSON(w, http.StatusOK, view)
}
