package api

import (
	"fmt"
	"net/http"
	"time"

	"sigill/apikey"
)

// repliesView is GET /api/v1/messages/{id}/replies's answer: every
// recipient's answers from the reader's page, oldest first, with their
// files' bytes in base64 (as a send's attachments are): a reply is bounded
// by smtp.max_message_bytes, so one answer holds them all and no reply
// needs an id of its own.
type repliesView struct {
	ID      string      `json:"id"`
	Expires time.Time   `json:"expires"`
	Replies []replyView `json:"replies"`
}

type replyView struct {
	Recipient   int             `json:"recipient"`
	At          time.Time       `json:"at"`
	By          string          `json:"by"`   // the personal number, masked without audit:read
	Name        string          `json:"name"` // as BankID gave it
	Text        string          `json:"text"`
	Attachments []replyFileView `json:"attachments"`
}

type replyFileView struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int    `json:"size"`
	Content     []byte `json:"content"` // base64, by encoding/json
}

// listReplies answers the replies to a message of the key's account while
// they can be opened: until the message expires (410 after: they went
// with its content).
func (s *Server) listReplies(w http.ResponseWriter, r *http.Request) {
	key := keyOf(r)
	id := r.PathValue("id")
	if s.o.Replies == nil {
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "replies are not served by this gateway")
		return
	}
	l, now, ok := s.ownMessage(w, id, key.Account, "to read its replies")
	if !ok {
		return
	}
	if l.Expired || !now.Before(l.Expires) {
		writeProblem(w, http.StatusGone, "expired", fmt.Sprintf("the message expired at %s: its replies were deleted with its content (the replied events stay in GET /api/v1/messages/%s)", l.Expires.UTC().Format(time.RFC3339), id))
		return
	}
	answers, err := s.o.Replies.Answers(id, "")
	if err != nil {
		s.o.Logger.Error("api: opening a message's replies", "id", id, "err", err)
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "the replies could not be read; try again shortly")
		return
	}
	mask := maskNumber
	if key.Allows(apikey.ScopeAudit) {
		mask = func(n string) string { return n }
	}
	out := repliesView{ID: id, Expires: l.Expires.UTC(), Replies: []replyView{}}
	for _, a := range answers {
		rv := replyView{Recipient: a.Event.Recipient, At: a.Event.At.UTC(), By: mask(a.Event.PersonalNumber), Name: a.Event.Name, Text: a.Text, Attachments: []replyFileView{}}
		for _, f := range a.Files {
			rv.Attachments = append(rv.Attachments, replyFileView{Filename: f.Name, ContentType: f.ContentType, Size: len(f.Body), Content: f.Body})
		}
		out.Replies = append(out.Replies, rv)
	}
	writeJSON(w, http.StatusOK, out)
}
