package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"sigill/addressing"
	"sigill/apikey"
	"sigill/intake"
	"sigill/vault"
	"sigill/vault/sentindex"
)

// idempotencyRecord is what a used Idempotency-Key keeps: the request it
// was used with and the answer given.
type idempotencyRecord struct {
	Hash     []byte    `json:"hash"` // SHA-256 of the request body
	Status   int       `json:"status"`
	Location string    `json:"location"`
	Body     string    `json:"body"` // byte for byte as first sent
	Created  time.Time `json:"created"`
}

var errKeyTaken = errors.New("the Idempotency-Key was used meanwhile")

// validIdempotencyKey: 1-255 printable ASCII characters (api.md).
func validIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// maxBody bounds a send request: the largest message, base64 grows
// attachments by a third, and JSON's escapes may double text.
func (s *Server) maxBody() int64 {
	if s.o.Rules.MaxBytes <= 0 {
		return 64 << 20
	}
	return 2*s.o.Rules.MaxBytes + 64<<10
}

func (s *Server) send(w http.ResponseWriter, r *http.Request) {
	key := keyOf(r)
	idem := r.Header.Get("Idempotency-Key")
	if !validIdempotencyKey(idem) {
		writeProblem(w, http.StatusBadRequest, "idempotency-key", "send an Idempotency-Key header: 1 to 255 printable ASCII characters, new for each message (a UUID will do); sending again with the same key and body never sends twice")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody()))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		writeProblem(w, http.StatusRequestEntityTooLarge, "too-large", fmt.Sprintf("the request is over %d bytes; the message may be at most %d bytes as MIME (smtp.max_message_bytes)", tooLarge.Limit, s.o.Rules.MaxBytes))
		return
	}
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "unreadable", "the request body could not be read")
		return
	}
	// The account is the sender the gateway vouches for in every SMS and
	// page, under SMTP's rule for MAIL FROM.
	var unshowable *intake.SenderError
	if errors.As(intake.CheckSender(key.Account), &unshowable) {
		detail := "this API key's account cannot be shown to recipients as the sender: " + unshowable.Why
		if unshowable.Masked != "" {
			detail += " (" + unshowable.Masked + ")"
		}
		writeProblem(w, http.StatusForbidden, "sender-refused", detail+"; send with a key of an account with a plain mailbox address")
		return
	}
	sum := sha256.Sum256(body)
	slot := key.ID + "\x00" + idem
	if !s.begin(slot) {
		writeProblem(w, http.StatusConflict, "idempotency-in-flight", "a request with this Idempotency-Key is still being answered; wait for it, then send again to get its answer")
		return
	}
	defer s.end(slot)

	prior, err := s.idempotencyRecord(slot)
	if err != nil {
		s.o.Logger.Error("api: idempotency record unreadable", "err", err)
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "the vault could not be read; try again with the same Idempotency-Key")
		return
	}
	if prior != nil {
		if !bytes.Equal(prior.Hash, sum[:]) {
			writeProblem(w, http.StatusUnprocessableEntity, "idempotency-key-reused", "this Idempotency-Key was used with another request body; use a new key for a new message")
			return
		}
		replayed.Inc()
		w.Header().Set("Idempotent-Replayed", "true")
		w.Header().Set("Location", prior.Location)
		writeRaw(w, prior.Status, []byte(prior.Body))
		return
	}

	req, faults, err := decodeSend(body)
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "not-json", "the body must be one JSON object, a message as the OpenAPI document describes it")
		return
	}
	var recipients []vault.Recipient
	if req != nil {
		if err := intake.CheckErrand(req.Subject); err != nil {
			faults = append(faults, fieldError{Field: "subject", Detail: subjectDetail(err)})
		}
		if max := s.maxLifetime(); req.lifetime > max {
			faults = append(faults, fieldError{Field: "expires_in", Detail: fmt.Sprintf("%s is longer than this gateway keeps a message (vault.max_retention: %s)", req.ExpiresIn, addressing.Lifetime(max))})
		}
		var more []fieldError
		recipients, more = s.recipients(req)
		faults = append(faults, more...)
	}
	if len(faults) > 0 {
		writeProblem(w, http.StatusUnprocessableEntity, "invalid", fmt.Sprintf("%d field(s) to mend; nothing was stored", len(faults)), faults...)
		return
	}

	raw, err := s.build(key.Account, req)
	if err != nil {
		s.o.Logger.Error("api: building the MIME message", "err", err)
		writeProblem(w, http.StatusInternalServerError, "internal", "the message could not be built; nothing was stored")
		return
	}
	in, err := s.o.Rules.Incoming(intake.Message{Sender: key.Account, Account: key.Account, Raw: raw, Recipients: recipients})
	var large *intake.TooLargeError
	switch {
	case errors.As(err, &large):
		writeProblem(w, http.StatusRequestEntityTooLarge, "too-large", fmt.Sprintf("the message with its attachments is %d bytes as MIME, over the limit of %d (smtp.max_message_bytes); send less or smaller attachments", large.Size, large.Max))
		return
	case err != nil:
		// The fields were checked above: another refusal is intake's rule
		// on something the API built, and says so.
		writeProblem(w, http.StatusUnprocessableEntity, "invalid", "the message was refused: "+err.Error())
		return
	}

	in.Lifetime = req.lifetime
	var answer []byte
	in.WithinTables = readTables
	in.Within = func(tx vault.Tx, id string) error {
		t := tx.Table(tableIdempotency)
		if b, err := t.Get([]byte(slot)); err != nil || b != nil {
			return errors.Join(err, errKeyTaken)
		}
		rec, _ := json.Marshal(sentRecord{Account: key.Account, Key: key.ID, Reference: req.Reference, IdempotencyKey: idem})
		if err := tx.Table(tableMessages).Put([]byte(id), rec); err != nil {
			return err
		}
		if err := sentindex.SetReference(tx, key.Account, id, req.Reference); err != nil {
			return err
		}
		view, err := viewMessage(tx, id, key.Allows(apikey.ScopeAudit))
		if err != nil {
			return err
		}
		if answer, err = json.Marshal(view); err != nil {
			return err
		}
		answer = append(answer, '\n')
		record, _ := json.Marshal(idempotencyRecord{Hash: sum[:], Status: http.StatusCreated, Location: "/api/v1/messages/" + id, Body: string(answer), Created: tx.Now().UTC()})
		return t.Put([]byte(slot), record)
	}
	// The accept runs to its end even if the client goes: it may send the
	// request again and gets this answer.
	accepted, err := s.o.Vault.Accept(context.WithoutCancel(r.Context()), in)
	switch {
	case errors.Is(err, errKeyTaken):
		writeProblem(w, http.StatusConflict, "idempotency-in-flight", "another request with this Idempotency-Key was answered meanwhile; send again to get its answer")
		return
	case err != nil:
		s.o.Logger.Error("api: vault refused message", "account", addressing.MaskPersonalNumbers(key.Account), "err", err)
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "the message could not be stored safely and was not kept; try again later with the same Idempotency-Key")
		return
	}
	if s.o.Accepted != nil && accepted.Claimable > 0 {
		s.o.Accepted()
	}
	sent.Inc()
	s.o.Logger.Info("message accepted", "id", accepted.ID, "listener", "api", "key", key.ID,
		"from", addressing.MaskPersonalNumbers(key.Account), "recipients", len(recipients), "bytes", len(raw))
	w.Header().Set("Location", "/api/v1/messages/"+accepted.ID)
	writeRaw(w, http.StatusCreated, answer)
}

// maxLifetime is the longest expires_in: the addressing policy's, as for exp=.
func (s *Server) maxLifetime() time.Duration {
	if s.o.Policy.MaxLifetime > 0 {
		return s.o.Policy.MaxLifetime
	}
	return addressing.DefaultMaxLifetime
}

func subjectDetail(err error) string {
	var pnr *intake.PersonalNumberError
	if errors.As(err, &pnr) {
		return "holds a personal identity number (" + pnr.Masked + "); the subject is sent in clear text by SMS: move the number into text or html"
	}
	return err.Error()
}

func (s *Server) begin(slot string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inFlight[slot] {
		return false
	}
	s.inFlight[slot] = true
	return true
}

func (s *Server) end(slot string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inFlight, slot)
}

func (s *Server) idempotencyRecord(slot string) (*idempotencyRecord, error) {
	var rec *idempotencyRecord
	err := s.o.Vault.View(tables, func(tx vault.Tx) error {
		b, err := tx.Table(tableIdempotency).Get([]byte(slot))
		if err != nil || b == nil {
			return err
		}
		rec = new(idempotencyRecord)
		return json.Unmarshal(b, rec)
	})
	return rec, err
}

// purgeRecords removes what the API kept about a message when its audit
// trail goes (the hook's Purging, once per event: the second time finds
// nothing).
func purgeRecords(tx vault.Tx, ev vault.Event) error {
	msgs := tx.Table(tableMessages)
	raw, err := msgs.Get([]byte(ev.MessageID))
	if err != nil || raw == nil {
		return err
	}
	var rec sentRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return err
	}
	if err := tx.Table(tableIdempotency).Delete([]byte(rec.Key + "\x00" + rec.IdempotencyKey)); err != nil {
		return err
	}
	return msgs.Delete([]byte(ev.MessageID))
}

// eraseNumber is the hook's Erasing: an answer kept for a key with
// audit:read names the number whole, and is written again with the
// pseudonym in its place (the replay keeps its status and its message).
func eraseNumber(tx vault.Tx, personalNumber, pseudonym string) error {
	t := tx.Table(tableIdempotency)
	rewritten := map[string][]byte{}
	err := t.Scan(nil, func(k, raw []byte) error {
		if !bytes.Contains(raw, []byte(personalNumber)) {
			return nil
		}
		var rec idempotencyRecord
		if err := json.Unmarshal(raw, &rec); err != nil {
			return fmt.Errorf("idempotency record %q: %w", k, err)
		}
		rec.Body = strings.ReplaceAll(rec.Body, personalNumber, pseudonym)
		out, err := json.Marshal(rec)
		rewritten[string(k)] = out
		return err
	})
	if err != nil {
		return err
	}
	for k, out := range rewritten {
		if err := t.Put([]byte(k), out); err != nil {
			return err
		}
	}
	return nil
}

// recipients reads each recipient with the addressing rules SMTP's RCPT
// uses, naming each fault by its field.
func (s *Server) recipients(req *sendRequest) ([]vault.Recipient, []fieldError) {
	var (
		faults []fieldError
		rs     intake.Recipients
		p      = s.o.Policy
	)
	fault := func(field, detail string) { faults = append(faults, fieldError{Field: field, Detail: detail}) }
	domain := "invalid"
	if len(p.Domains) > 0 {
		domain = p.Domains[0]
	}
	for i, spec := range req.Recipients {
		at := fmt.Sprintf("recipients[%d]", i)
		var (
			local, field string
			r            addressing.Recipient
			err          error
		)
		switch {
		case spec.Address != "":
			field = at + ".address"
			if strings.Contains(spec.Address, "@") {
				r, err = p.Parse(withLang(spec.Address, req.Lang, true))
			} else {
				r, err = p.ParseLocal(withLang(spec.Address, req.Lang, false))
			}
		case spec.SMS != "" || spec.Email != "":
			target := spec.SMS
			field = at + ".sms"
			if spec.Email != "" {
				target, field = spec.Email, at+".email"
			}
			if strings.ContainsAny(target, "&?") {
				fault(field, "holds & or ?; write only the number or the address, the logins in logins")
				continue
			}
			if _, err := p.ParseLocal(target + "&login=*&"); err != nil {
				fault(field, refusalDetail(err))
				continue
			}
			bad := false
			for j, login := range spec.Logins {
				if strings.ContainsAny(login, "&?=") {
					fault(fmt.Sprintf("%s.logins[%d]", at, j), "must be a personal number, YYYYMMDD* or *")
					bad = true
				} else if _, err := p.ParseLocal(target + "&login=" + login + "&"); err != nil {
					fault(fmt.Sprintf("%s.logins[%d]", at, j), refusalDetail(err))
					bad = true
				}
			}
			if bad {
				continue
			}
			local = target + "&"
			for _, login := range spec.Logins {
				local += "login=" + login + "&"
			}
			if req.Lang != "" {
				local += "lang=" + req.Lang + "&"
			}
			field = at + ".logins" // what is left to refuse is about the logins: none, or too many
			r, err = p.ParseLocal(local)
		default:
			continue // decodeSend named it
		}
		if err != nil {
			fault(field, refusalDetail(err))
			continue
		}
		if req.Replies != nil && !*req.Replies {
			r.Reply = addressing.RepliesNo
		}
		address := spec.Address
		if address == "" {
			address = r.LocalPart()
		}
		if !strings.Contains(address, "@") {
			address += "@" + domain
		}
		rs.Add(address, r)
	}
	if n := len(rs.List()); s.o.MaxRecipients > 0 && n > s.o.MaxRecipients {
		fault("recipients", fmt.Sprintf("%d recipients; at most %d per message (smtp.max_recipients): send the rest in another message", n, s.o.MaxRecipients))
	}
	return rs.List(), faults
}

// withLang adds the request's lang to an address that sets none.
func withLang(address, lang string, hasDomain bool) string {
	if lang == "" || strings.Contains(strings.ToLower(address), "lang=") {
		return address
	}
	if hasDomain {
		at := strings.LastIndexByte(address, '@')
		return strings.TrimRight(address[:at], "&") + "&lang=" + lang + "&" + address[at:]
	}
	return strings.TrimRight(address, "&") + "&lang=" + lang + "&"
}

func refusalDetail(err error) string {
	var refusal *addressing.Refusal
	if errors.As(err, &refusal) {
		return refusal.Reason
	}
	return err.Error()
}

// build writes the message as MIME (intake.Compose, as the staff web's
// form does).
func (s *Server) build(account string, req *sendRequest) ([]byte, error) {
	c := intake.Composed{From: account, Subject: req.Subject, Lang: req.Lang, Text: req.Text, HTML: req.HTML, Hostname: s.o.Hostname, Date: now()}
	for _, a := range req.Attachments {
		c.Attachments = append(c.Attachments, intake.Attachment{Filename: a.Filename, ContentType: a.ContentType, Data: a.data})
	}
	return intake.Compose(c)
}
