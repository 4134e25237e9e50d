package audit

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"sigill/addressing"
	"sigill/vault"
)

// ContentNote is what a GDPR export says about the messages' content.
const ContentNote = "The messages' content is not included. The gateway stores each message encrypted under a key that only the recipient's link (a token the gateway does not keep) or the organisation's escrow key (kept off the server) opens, so it cannot decrypt a message for an export; after its expiry the content is deleted. The person can open a message that has not expired with their link; the organisation can export it with its escrow key (sigill vault escrow). The person's own answers from the reader's page (replies: their text and files) are included while their message has not expired: the gateway keeps them sealed under a key it holds until then, and deletes them with the message's content."

// PersonExport is everything the store holds about one personal number.
type PersonExport struct {
	PersonalNumber string          `json:"personal_number"`
	Exported       time.Time       `json:"exported"`
	ContentNote    string          `json:"content_note"`
	Messages       []PersonMessage `json:"messages"`
}

// PersonMessage is one message the number was allowed to read, or read,
// or was refused: its metadata, the recipients that concern the person,
// and their events, less other people's opens.
type PersonMessage struct {
	ID         string            `json:"id"`
	Errand     string            `json:"errand"`
	Sender     string            `json:"sender"`
	Received   time.Time         `json:"received"`
	Expires    time.Time         `json:"expires"`
	Expired    bool              `json:"expired"`
	Content    *string           `json:"content"` // always null: ContentNote
	Recipients []PersonRecipient `json:"recipients"`
	Events     []Entry           `json:"events"`
	// Replies are the person's answers from the reader's page, while the
	// message has not expired (ContentNote).
	Replies []PersonReply `json:"replies"`
}

// PersonReply is one answer the person sent from the reader's page.
type PersonReply struct {
	Recipient int               `json:"recipient"`
	At        time.Time         `json:"at"`
	Text      string            `json:"text"`
	Files     []PersonReplyFile `json:"files"`
}

// PersonReplyFile is a file of an answer, with its bytes (base64 in JSON).
type PersonReplyFile struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int    `json:"size"`
	Content     []byte `json:"content"`
}

// PersonRecipient is one recipient of the message that names the number
// or where the number opened or was refused.
type PersonRecipient struct {
	Index   int    `json:"index"`
	Channel string `json:"channel"`
	To      string `json:"to"`
	Address string `json:"address"`
	Allowed bool   `json:"allowed"` // the number may open this recipient's link
}

// ExportPerson gathers what the store holds about pnr (12 digits) and
// records that actor exported it (ActionGDPRExport).
func (s *Store) ExportPerson(ctx context.Context, pnr, actor string) (PersonExport, error) {
	if s.v == nil {
		return PersonExport{}, ErrNotAttached
	}
	if len(pnr) != 12 {
		return PersonExport{}, fmt.Errorf("gdpr: export: %q is not a 12-digit personal number", addressing.Mask(pnr))
	}
	ids, err := s.messagesOf(pnr)
	if err != nil {
		return PersonExport{}, err
	}
	out := PersonExport{PersonalNumber: pnr, ContentNote: ContentNote, Messages: []PersonMessage{}}
	err = s.v.View(tables, func(tx vault.Tx) error {
		out.Exported = tx.Now().UTC()
		for _, id := range ids {
			m, err := personMessage(tx, id, pnr)
			if errors.Is(err, vault.ErrNotFound) {
				continue // purged since it was filed
			}
			if err != nil {
				return err
			}
			out.Messages = append(out.Messages, m)
		}
		return nil
	})
	if err != nil {
		return PersonExport{}, fmt.Errorf("gdpr: export: %w", err)
	}
	for i := range out.Messages {
		if err := s.addReplies(&out.Messages[i], pnr); err != nil {
			return PersonExport{}, fmt.Errorf("gdpr: export: %w", err)
		}
	}
	detail := fmt.Sprintf("%d messages", len(out.Messages))
	if err := s.RecordStaffAudit(ctx, StaffAudit{Actor: actor, Action: ActionGDPRExport, Detail: detail, Subject: s.Subject(pnr)}); err != nil {
		return PersonExport{}, err
	}
	return out, nil
}

// addReplies puts the person's answers to m, as they can still be opened,
// into m (none without AttachReplies, or once m has expired).
func (s *Store) addReplies(m *PersonMessage, pnr string) error {
	m.Replies = []PersonReply{}
	if s.replies == nil || m.Expired {
		return nil
	}
	answers, err := s.replies.Answers(m.ID, pnr)
	if err != nil {
		return err
	}
	for _, a := range answers {
		r := PersonReply{Recipient: a.Event.Recipient, At: a.Event.At.UTC(), Text: a.Text, Files: []PersonReplyFile{}}
		for _, f := range a.Files {
			r.Files = append(r.Files, PersonReplyFile{Name: f.Name, ContentType: f.ContentType, Size: len(f.Body), Content: f.Body})
		}
		m.Replies = append(m.Replies, r)
	}
	return nil
}

func personMessage(tx vault.Tx, id, pnr string) (PersonMessage, error) {
	evs, err := tx.Events(id)
	if err != nil {
		return PersonMessage{}, err
	}
	acted := map[int]bool{}
	for _, ev := range evs {
		if ev.PersonalNumber == pnr {
			acted[ev.Recipient] = true
		}
	}
	var m PersonMessage
	concerns := map[int]bool{}
	for i := 0; ; i++ {
		l, err := tx.Letter(id, i)
		if errors.Is(err, vault.ErrNotFound) && i > 0 {
			break
		}
		if err != nil {
			return PersonMessage{}, err
		}
		if i == 0 {
			m = PersonMessage{ID: id, Errand: l.Errand, Sender: l.Vouched(), Received: l.Received.UTC(), Expires: l.Expires.UTC(), Expired: l.Expired, Recipients: []PersonRecipient{}, Events: []Entry{}}
		}
		allowed := l.Rcpt.Allows(pnr)
		if !slices.Contains(l.Rcpt.Logins, pnr) && !acted[i] {
			continue // another person's link (or one open to anyone): not theirs
		}
		concerns[i] = true
		m.Recipients = append(m.Recipients, PersonRecipient{Index: i, Channel: string(l.Rcpt.Channel), To: l.Rcpt.To, Address: l.Rcpt.Address, Allowed: allowed})
	}
	for _, ev := range evs {
		if concerns[ev.Recipient] && (ev.PersonalNumber == "" || ev.PersonalNumber == pnr) {
			m.Events = append(m.Events, eventEntry(ev))
		}
	}
	return m, nil
}

// ErasureRequest is one erasure of a personal number, asked for and (at
// once, or after another administrator's approval) carried out.
type ErasureRequest struct {
	ID          string    `json:"id"`
	Requested   time.Time `json:"requested"`
	RequestedBy string    `json:"requested_by"`
	// Sealed is the number, sealed under a key derived from the key
	// file, while the request waits; gone once carried out. Only the
	// stored record has it.
	Sealed     []byte    `json:"sealed,omitempty"`
	Masked     string    `json:"masked,omitempty"` // 19990807-****, for the approver; gone once carried out
	ApprovedBy string    `json:"approved_by,omitempty"`
	Done       time.Time `json:"done,omitzero"`
	// What the erasure changed.
	Recipients int      `json:"recipients,omitempty"`
	Events     int      `json:"events,omitempty"`
	Shredded   []string `json:"shredded,omitempty"`
}

// Pending tells whether the request waits for approval.
func (r ErasureRequest) Pending() bool { return r.Done.IsZero() }

// Errors of the erasure requests.
var (
	ErrSameApprover = errors.New("gdpr: the request must be approved by another administrator than the one who asked")
	ErrDone         = errors.New("gdpr: the request has been carried out already")
)

// RequestErasure asks to erase pnr (12 digits) from the store. Without
// twoPerson it is carried out at once (Erase); with it the request is
// kept, the number sealed, until ApproveErasure by another actor.
func (s *Store) RequestErasure(ctx context.Context, pnr, actor string, twoPerson bool) (ErasureRequest, error) {
	if s.v == nil {
		return ErasureRequest{}, ErrNotAttached
	}
	if len(pnr) != 12 || strings.Trim(pnr, "0123456789") != "" {
		return ErasureRequest{}, fmt.Errorf("gdpr: erase: %q is not a 12-digit personal number", addressing.Mask(pnr))
	}
	req := ErasureRequest{ID: rand.Text()[:16], RequestedBy: actor, Masked: addressing.Mask(pnr)}
	if !twoPerson {
		return s.erase(ctx, req, pnr)
	}
	sealed, err := s.seal(req.ID, pnr)
	if err != nil {
		return ErasureRequest{}, err
	}
	req.Sealed = sealed
	err = s.v.Update(ctx, tables, func(tx vault.Tx) error {
		req.Requested = tx.Now().UTC()
		if err := putRequest(tx, req); err != nil {
			return err
		}
		return recordTx(tx, StaffAudit{Actor: actor, Action: ActionErasureRequested, Target: req.ID, Detail: "waits for another administrator's approval", Subject: s.Subject(pnr)})
	})
	if err != nil {
		return ErasureRequest{}, fmt.Errorf("gdpr: request erasure: %w", err)
	}
	req.Sealed = nil // the caller's copy: the seal stays in the store
	return req, nil
}

// ApproveErasure carries out a pending request, approved by actor, who
// must not be the one who asked.
func (s *Store) ApproveErasure(ctx context.Context, id, actor string) (ErasureRequest, error) {
	if s.v == nil {
		return ErasureRequest{}, ErrNotAttached
	}
	var req ErasureRequest
	err := s.v.View(tables, func(tx vault.Tx) error {
		var err error
		req, err = getRequest(tx, id)
		return err
	})
	if err != nil {
		return ErasureRequest{}, fmt.Errorf("gdpr: approve %s: %w", id, err)
	}
	switch {
	case !req.Pending():
		return req, ErrDone
	case strings.EqualFold(req.RequestedBy, actor):
		return req, ErrSameApprover
	}
	pnr, err := s.open(req.ID, req.Sealed)
	if err != nil {
		return ErasureRequest{}, fmt.Errorf("gdpr: approve %s: %w", id, err)
	}
	req.ApprovedBy = actor
	return s.erase(ctx, req, pnr)
}

// ErasureRequests lists the requests, pending and carried out.
func (s *Store) ErasureRequests() ([]ErasureRequest, error) {
	if s.v == nil {
		return nil, ErrNotAttached
	}
	var out []ErasureRequest
	err := s.v.View(tables, func(tx vault.Tx) error {
		return tx.Table(tableErasures).Scan(nil, func(_, raw []byte) error {
			var r ErasureRequest
			if err := json.Unmarshal(raw, &r); err != nil {
				return err
			}
			r.Sealed = nil
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("gdpr: list requests: %w", err)
	}
	slices.SortFunc(out, func(a, b ErasureRequest) int { return a.Requested.Compare(b.Requested) })
	return out, nil
}

// erase carries req out: the vault's records lose the number (the
// pseudonym "erased:" and the request id stands in events), the index
// loses its entries, the staff records their hash of it, and the request
// is kept without the number, with what changed, all in one transaction.
func (s *Store) erase(ctx context.Context, req ErasureRequest, pnr string) (ErasureRequest, error) {
	subject := s.Subject(pnr)
	prefix := s.mac(pnr)
	_, err := s.v.ErasePersonalNumber(ctx, pnr, "erased:"+req.ID, tables, func(tx vault.Tx, e vault.Erasure) error {
		now := tx.Now().UTC()
		if req.Requested.IsZero() {
			req.Requested = now
		}
		req.Done, req.Sealed, req.Masked = now, nil, ""
		req.Recipients, req.Events, req.Shredded = e.Recipients, e.Events, e.Shredded
		var drop [][]byte
		if err := tx.Table(tableByNumber).Scan(prefix, func(k, _ []byte) error {
			drop = append(drop, append([]byte(nil), k...))
			return nil
		}); err != nil {
			return err
		}
		var about [][2][]byte
		if err := tx.Table(tableStaff).Scan(nil, func(k, raw []byte) error {
			var a StaffAudit
			if err := json.Unmarshal(raw, &a); err != nil {
				return err
			}
			if a.Subject != subject {
				return nil
			}
			a.Subject = ""
			out, err := json.Marshal(a)
			about = append(about, [2][]byte{append([]byte(nil), k...), out})
			return err
		}); err != nil {
			return err
		}
		for _, k := range drop {
			if err := tx.Table(tableByNumber).Delete(k); err != nil {
				return err
			}
		}
		for _, kv := range about {
			if err := tx.Table(tableStaff).Put(kv[0], kv[1]); err != nil {
				return err
			}
		}
		if err := putRequest(tx, req); err != nil {
			return err
		}
		if req.ApprovedBy != "" {
			if err := recordTx(tx, StaffAudit{Actor: req.ApprovedBy, Action: ActionErasureApproved, Target: req.ID}); err != nil {
				return err
			}
		}
		detail := fmt.Sprintf("asked by %s; %d recipient records and %d events pseudonymised as erased:%s; %d messages shredded", req.RequestedBy, e.Recipients, e.Events, req.ID, len(e.Shredded))
		actor := req.RequestedBy
		if req.ApprovedBy != "" {
			actor = req.ApprovedBy
		}
		return recordTx(tx, StaffAudit{Actor: actor, Action: ActionErased, Target: req.ID, Detail: detail})
	})
	if err != nil {
		return ErasureRequest{}, fmt.Errorf("gdpr: erase: %w", err)
	}
	return req, nil
}

func putRequest(tx vault.Tx, r ErasureRequest) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Table(tableErasures).Put([]byte(r.ID), raw)
}

func getRequest(tx vault.Tx, id string) (ErasureRequest, error) {
	raw, err := tx.Table(tableErasures).Get([]byte(id))
	if err != nil {
		return ErasureRequest{}, err
	}
	if raw == nil {
		return ErasureRequest{}, fmt.Errorf("erasure request %q: %w", id, vault.ErrNotFound)
	}
	var r ErasureRequest
	return r, json.Unmarshal(raw, &r)
}

func (s *Store) aead() (cipher.AEAD, error) {
	b, err := aes.NewCipher(s.sealKey)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// seal keeps a pending request's number out of the vault file in clear,
// bound to the request.
func (s *Store) seal(id, pnr string) ([]byte, error) {
	a, err := s.aead()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, a.NonceSize())
	rand.Read(nonce)
	return a.Seal(nonce, nonce, []byte(pnr), []byte(id)), nil
}

func (s *Store) open(id string, sealed []byte) (string, error) {
	a, err := s.aead()
	if err != nil {
		return "", err
	}
	if len(sealed) < a.NonceSize() {
		return "", errors.New("the request's sealed number is damaged")
	}
	pnr, err := a.Open(nil, sealed[:a.NonceSize()], sealed[a.NonceSize():], []byte(id))
	if err != nil {
		return "", fmt.Errorf("the request's number does not open with this key file: %w", err)
	}
	return string(pnr), nil
}
