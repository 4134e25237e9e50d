package staffweb

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"sigill/addressing"
	"sigill/audit"
	"sigill/vault"
	"sigill/vault/sentindex"
)

// A message's page also shows the recipients' answers (text, and files
// to download) while the message can be read, and has a form that
// shortens or extends its lifetime: the doors the API and the CLI have,
// on the same operations (mailbox.Store.Answers, vault.ChangeExpiry).

func init() {
	mount(func(s *Server, mux *http.ServeMux) {
		s.handle(mux, "POST /messages/{id}/expiry", s.SignedIn(s.setExpiry))
		s.handle(mux, "GET /messages/{id}/replies/{seq}/files/{n}", s.SignedIn(s.replyFile))
	})
	addTexts(map[string]string{
		"RepliesHeading":      "Svar från mottagarna",
		"ReplyFrom":           "Mottagare %d, %s",
		"ReplyFiles":          "Bifogade filer",
		"RepliesNone":         "Inga svar ännu.",
		"RepliesKept":         "Svaren finns kvar så länge meddelandet kan läsas och raderas sedan med det.",
		"ExpiryHeading":       "Ändra hur länge meddelandet kan läsas",
		"ExpiryLabel":         "Ny giltighetstid",
		"ExpiryHint":          "En tid räknat från när det skickades (30m, 36h, 7d, 2w) eller en tidpunkt (2026-12-24 12:00). Kortare eller längre, som längst till %s.",
		"ExpirySubmit":        "Ändra giltighetstiden",
		"ExpiryChangedNotice": "Giltighetstiden är ändrad.",
		"ExpiryGoneNotice":    "Giltighetstiden gick inte att ändra: meddelandet har gått ut eller är återkallat.",
		"FaultExpiry":         "Det går inte att läsa: skriv en tid som 7d eller en tidpunkt som 2026-12-24 12:00.",
		"FaultExpiryLate":     "Det är senare än meddelanden sparas här: som längst till %s.",
		"FaultExpiryPast":     "Det är inte i framtiden. För att avsluta meddelandet nu, återkalla det.",
	}, map[string]string{
		"RepliesHeading":      "Answers from the recipients",
		"ReplyFrom":           "Recipient %d, %s",
		"ReplyFiles":          "Attached files",
		"RepliesNone":         "No answers yet.",
		"RepliesKept":         "The answers are kept while the message can be read, and deleted with it.",
		"ExpiryHeading":       "Change how long the message can be read",
		"ExpiryLabel":         "New lifetime",
		"ExpiryHint":          "A time counted from when it was sent (30m, 36h, 7d, 2w) or a date and time (2026-12-24 12:00). Shorter or longer, until %s at the latest.",
		"ExpirySubmit":        "Change the lifetime",
		"ExpiryChangedNotice": "The lifetime has been changed.",
		"ExpiryGoneNotice":    "The lifetime could not be changed: the message has expired or was withdrawn.",
		"FaultExpiry":         "It cannot be read: write a time such as 7d or a date and time such as 2026-12-24 12:00.",
		"FaultExpiryLate":     "That is later than messages are kept here: until %s at the latest.",
		"FaultExpiryPast":     "That is not in the future. To end the message now, withdraw it.",
	})
}

// replyData is one answer as the page shows it.
type replyData struct {
	Seq       uint64
	Number    int // the recipient, as people count
	At        time.Time
	Who       string // name and masked number
	Text      string
	Files     []replyFileData
	Recipient int
}

type replyFileData struct {
	N    int
	Name string
	Size string
}

// open tells whether m can still be read: its answers shown, its lifetime
// changed.
func (s *Server) open(m sentindex.Message) bool {
	if !s.opt.Now().Before(m.Expires) {
		return false
	}
	for _, rc := range m.Recipients {
		if rc.Status != vault.EventRevoked && rc.Status != vault.EventExpired {
			return true
		}
	}
	return false
}

// fillLifecycle puts m's answers and its expiry form into d.
func (s *Server) fillLifecycle(r *http.Request, t texts, m sentindex.Message, d *messageData) {
	d.Latest = m.Created.Add(s.maxLifetime())
	d.ExpiryChangeable = s.open(m)
	if s.opt.Replies == nil || !s.opt.Now().Before(m.Expires) {
		return
	}
	d.RepliesShown = true
	answers, err := s.opt.Replies.Answers(m.ID, "")
	if err != nil {
		s.opt.Logger.Error("staffweb: reading a message's answers", "id", m.ID, "err", err)
		return
	}
	for _, a := range answers {
		rd := replyData{Seq: a.Event.Seq, Number: a.Event.Recipient + 1, Recipient: a.Event.Recipient, At: a.Event.At, Who: who(t, a.Event), Text: a.Text}
		for i, f := range a.Files {
			rd.Files = append(rd.Files, replyFileData{N: i, Name: f.Name, Size: fileSize(len(f.Body))})
		}
		d.Replies = append(d.Replies, rd)
	}
}

// fileSize writes a size for people.
func fileSize(n int) string {
	switch {
	case n < 1000:
		return strconv.Itoa(n) + " B"
	case n < 1000*1000:
		return strconv.Itoa((n+500)/1000) + " kB"
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

// replyFile serves one file of an answer as a download: never shown in
// the staff web's origin, whatever type the recipient's browser declared.
func (s *Server) replyFile(w http.ResponseWriter, r *http.Request, sess *Session) {
	m, ok := s.ownMessageOrAnswer(w, r, sess)
	if !ok {
		return
	}
	seq, err1 := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	n, err2 := strconv.Atoi(r.PathValue("n"))
	if err1 != nil || err2 != nil || s.opt.Replies == nil || !s.opt.Now().Before(m.Expires) {
		http.NotFound(w, r)
		return
	}
	answers, err := s.opt.Replies.Answers(m.ID, "")
	if err != nil {
		s.fail(w, r, "reading a message's answers", err)
		return
	}
	for _, a := range answers {
		if a.Event.Seq != seq || n < 0 || n >= len(a.Files) {
			continue
		}
		f := a.Files[n]
		s.record(r, sess.Account.Address, audit.ActionMessageViewed, m.ID, "an answer's file")
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": f.Name}))
		w.Header().Set("Cache-Control", "no-store")
		w.Write(f.Body)
		return
	}
	http.NotFound(w, r)
}

// setExpiry shortens or extends the lifetime of the account's message, as
// `sigill message expire` and the API do; then back to the page.
func (s *Server) setExpiry(w http.ResponseWriter, r *http.Request, sess *Session) {
	m, ok := s.ownMessageOrAnswer(w, r, sess)
	if !ok {
		return
	}
	typed := strings.TrimSpace(r.PostFormValue("expires"))
	refuse := func(fault string) {
		s.renderMessage(w, r, sess, http.StatusUnprocessableEntity, m, messageData{ExpiryValue: typed, ExpiryFault: fault})
	}
	lifetime, at, err := addressing.ParseExpiry(typed, s.stockholm)
	if err != nil {
		refuse(s.word(r, "FaultExpiry"))
		return
	}
	if lifetime > 0 {
		at = m.Created.Add(lifetime.Duration())
	}
	t := textsFor(r, s.opt.DefaultLang)
	if latest := m.Created.Add(s.maxLifetime()); at.After(latest) {
		refuse(s.wordf(r, "FaultExpiryLate", t.date(latest, s.stockholm)))
		return
	}
	if !at.After(s.opt.Now()) {
		refuse(s.word(r, "FaultExpiryPast"))
		return
	}
	_, err = s.opt.Vault.ChangeExpiry(m.ID, vault.ExpiryChange{At: at}, ownerOf(sess))
	switch {
	case errors.Is(err, vault.ErrBadExpiry):
		// The vault's own limit, checked again under its lock.
		_, detail, _ := strings.Cut(err.Error(), vault.ErrBadExpiry.Error()+": ")
		refuse(detail)
		return
	case errors.Is(err, vault.ErrExpired), errors.Is(err, vault.ErrRevoked), errors.Is(err, vault.ErrFixedExpiry):
		s.notify(r, sess, "ExpiryGoneNotice")
	case err != nil:
		s.fail(w, r, "changing a message's lifetime", err)
		return
	default:
		s.notify(r, sess, "ExpiryChangedNotice")
	}
	seeOther(w, r, "/messages/"+m.ID)
}
