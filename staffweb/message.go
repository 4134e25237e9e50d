package staffweb

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"sigill/addressing"
	"sigill/audit"
	"sigill/vault"
	"sigill/vault/sentindex"
)

// One message's page: per recipient the channel, address, who may open
// it (masked), the status, and every event with its time; withdrawing
// (one recipient or all).

func init() {
	mount(func(s *Server, mux *http.ServeMux) {
		s.handle(mux, "GET /messages/{id}", s.SignedIn(s.messagePage))
		s.handle(mux, "POST /messages/{id}/revoke", s.SignedIn(s.revoke))
		s.handle(mux, "GET /static/message-status.js", http.HandlerFunc(serveStatusScript))
	})
	addTexts(map[string]string{
		"MessageTitle":       "Meddelande",
		"MessageSent":        "Skickat",
		"MessageExpires":     "Kan läsas till",
		"MessageFrom":        "Avsändare",
		"MessageID":          "Meddelande-id",
		"RecipientHeading":   "Mottagare %d",
		"RecipientChannel":   "Kanal",
		"RecipientTo":        "Till",
		"RecipientAddress":   "Adress som skriven",
		"RecipientLogins":    "Får öppna",
		"RecipientStatus":    "Status",
		"Timeline":           "Händelser",
		"EventAccepted":      "Mottaget och krypterat",
		"EventNotified":      "Avisering skickad",
		"EventNotifiedVia":   "Avisering skickad via %s",
		"EventDelivered":     "Aviseringen levererad",
		"EventFailed":        "Aviseringen misslyckades",
		"EventFailedWhy":     "Aviseringen misslyckades: %s",
		"EventOpened":        "Öppnat av %s",
		"EventDenied":        "Nekad: %s försökte öppna",
		"EventExpired":       "Utgånget; innehållet raderat",
		"EventRevoked":       "Återkallat",
		"EventRevokedBy":     "Återkallat av %s",
		"EventRevokedWhy":    "Återkallat av %s: %s",
		"RevokeReason":       "Skäl (valfritt, syns i kvittot)",
		"FaultReason":        "Skälet togs inte emot: %s",
		"EventExpiryChanged": "Giltighetstiden ändrad av %s",
		"EventReplied":       "Besvarat av %s (svaret finns i din inkorg)",
		"AnyoneWithBankID":   "vem som helst med BankID",
		"BornOn":             "född %s",
		"RevokeOne":          "Återkalla för mottagare %d",
		"RevokeAll":          "Återkalla för alla mottagare",
		"RevokeHint":         "Länken slutar fungera och visar att meddelandet är återkallat. Det går inte att ångra.",
		"RevokedNotice":      "Meddelandet är återkallat.",
		"RevokeFault":        "Det gick inte att återkalla: meddelandet har redan gått ut.",
		"BackToLog":          "Till skickade meddelanden",
		"MessageGoneTitle":   "Meddelandet finns inte",
		"MessageGoneText":    "Det finns inget sådant meddelande från ditt konto (eller så har det rensats).",
		"Refresh":            "Uppdatera",
	}, map[string]string{
		"MessageTitle":       "Message",
		"MessageSent":        "Sent",
		"MessageExpires":     "Readable until",
		"MessageFrom":        "Sender",
		"MessageID":          "Message id",
		"RecipientHeading":   "Recipient %d",
		"RecipientChannel":   "Channel",
		"RecipientTo":        "To",
		"RecipientAddress":   "Address as written",
		"RecipientLogins":    "May open",
		"RecipientStatus":    "Status",
		"Timeline":           "Events",
		"EventAccepted":      "Received and encrypted",
		"EventNotified":      "Notice sent",
		"EventNotifiedVia":   "Notice sent via %s",
		"EventDelivered":     "Notice delivered",
		"EventFailed":        "Notice failed",
		"EventFailedWhy":     "Notice failed: %s",
		"EventOpened":        "Opened by %s",
		"EventDenied":        "Denied: %s tried to open it",
		"EventExpired":       "Expired; content deleted",
		"EventRevoked":       "Withdrawn",
		"EventRevokedBy":     "Withdrawn by %s",
		"EventRevokedWhy":    "Withdrawn by %s: %s",
		"RevokeReason":       "Reason (optional, shown in the receipt)",
		"FaultReason":        "The reason was refused: %s",
		"EventExpiryChanged": "Lifetime changed by %s",
		"EventReplied":       "Answered by %s (the answer is in your mailbox)",
		"AnyoneWithBankID":   "anyone with BankID",
		"BornOn":             "born %s",
		"RevokeOne":          "Withdraw for recipient %d",
		"RevokeAll":          "Withdraw for every recipient",
		"RevokeHint":         "The link stops working and says the message was withdrawn. This cannot be undone.",
		"RevokedNotice":      "The message has been withdrawn.",
		"RevokeFault":        "It could not be withdrawn: the message has expired already.",
		"BackToLog":          "To sent messages",
		"MessageGoneTitle":   "No such message",
		"MessageGoneText":    "Your account has no such message (or it has been purged).",
		"Refresh":            "Refresh",
	})
}

type messageData struct {
	ID, Errand, Sender string
	Created, Expires   time.Time
	Recipients         []recipientData
	Revocable          int // recipients that can still be withdrawn
	// A withdrawal refused for its reason: which form ("all" or the
	// recipient's index), what was typed, and why.
	FaultForm, Reason, Fault string
	// The recipients' answers (lifecycle.go), shown while the message can
	// be read; the expiry form, with what was typed and its fault.
	RepliesShown     bool
	Replies          []replyData
	ExpiryChangeable bool
	Latest           time.Time // the latest expiry the limit allows
	ExpiryValue      string
	ExpiryFault      string
}

// ReasonFault is the fault of a withdraw form's reason ("" for none).
func (d messageData) ReasonFault(form string) string {
	if d.FaultForm == form {
		return d.Fault
	}
	return ""
}

// ReasonValue is what was typed in a withdraw form's reason.
func (d messageData) ReasonValue(form string) string {
	if d.FaultForm == form {
		return d.Reason
	}
	return ""
}

type recipientData struct {
	recipientStatus
	Number    int // Index + 1, as people count
	Channel   string
	Written   string   // the address as written, personal numbers masked
	Logins    []string // who may open it, masked
	Events    []eventData
	Revocable bool
}

type eventData struct {
	At   time.Time
	Kind string
	Text string
}

// serveStatusScript serves the page's optional script, which refreshes the
// statuses while the page is open (static/message-status.js). Its name
// carries no hash, so a browser asks again each time.
func serveStatusScript(w http.ResponseWriter, r *http.Request) {
	js, err := staticFS.ReadFile("static/message-status.js")
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(js)
}

// ownMessage reads message id of the signed-in account: ErrNotFound for
// another account's, so that a guessed id tells nothing.
func (s *Server) ownMessage(sess *Session, id string) (sentindex.Message, error) {
	var m sentindex.Message
	err := s.opt.Vault.View(sentindex.Tables, func(tx vault.Tx) error {
		var err error
		m, err = sentindex.Read(tx, id)
		if err == nil && m.Owner != ownerOf(sess) {
			err = vault.ErrNotFound
		}
		return err
	})
	return m, err
}

// ownMessageOrAnswer is ownMessage of the request's {id}; ok false when it
// has answered (404, or a fault of the store).
func (s *Server) ownMessageOrAnswer(w http.ResponseWriter, r *http.Request, sess *Session) (sentindex.Message, bool) {
	m, err := s.ownMessage(sess, r.PathValue("id"))
	if errors.Is(err, vault.ErrNotFound) {
		s.render(w, r, sess, http.StatusNotFound, "problem", struct{ Heading, Text string }{s.word(r, "MessageGoneTitle"), s.word(r, "MessageGoneText")})
		return m, false
	}
	if err != nil {
		s.fail(w, r, "reading a message", err)
		return m, false
	}
	return m, true
}

func (s *Server) messagePage(w http.ResponseWriter, r *http.Request, sess *Session) {
	m, ok := s.ownMessageOrAnswer(w, r, sess)
	if !ok {
		return
	}
	// Who looked at whose recipients and events is the audit trail's, the
	// page's refreshes (its script's) included: each is a look.
	s.record(r, sess.Account.Address, audit.ActionMessageViewed, m.ID, "message page")
	s.renderMessage(w, r, sess, http.StatusOK, m, messageData{})
}

// renderMessage shows message m; d carries a refused withdrawal's fault.
func (s *Server) renderMessage(w http.ResponseWriter, r *http.Request, sess *Session, status int, m sentindex.Message, d messageData) {
	t := textsFor(r, s.opt.DefaultLang)
	d.ID, d.Errand, d.Sender, d.Created, d.Expires = m.ID, m.Errand, m.Sender, m.Created, m.Expires
	for _, rc := range m.Recipients {
		rd := recipientData{recipientStatus: statusOf(t, rc), Number: rc.Index + 1, Channel: channelName(t, rc.Rcpt.Channel),
			Written: addressing.MaskPersonalNumbers(rc.Address)}
		for _, n := range rc.Rcpt.Logins {
			rd.Logins = append(rd.Logins, addressing.Mask(n))
		}
		for _, b := range rc.Rcpt.Born {
			if len(b) == 8 {
				rd.Logins = append(rd.Logins, strings.Replace(t["BornOn"], "%s", b[:4]+"-"+b[4:6]+"-"+b[6:], 1))
			}
		}
		if rc.Rcpt.Anyone {
			rd.Logins = append(rd.Logins, t["AnyoneWithBankID"])
		}
		for _, ev := range rc.Events {
			rd.Events = append(rd.Events, eventData{At: ev.At, Kind: string(ev.Kind), Text: eventText(t, ev)})
		}
		rd.Revocable = rc.Status != vault.EventRevoked && rc.Status != vault.EventExpired && s.opt.Now().Before(m.Expires)
		if rd.Revocable {
			d.Revocable++
		}
		d.Recipients = append(d.Recipients, rd)
	}
	s.fillLifecycle(r, t, m, &d)
	s.render(w, r, sess, status, "message", d)
}

func channelName(t texts, c addressing.Channel) string {
	if c == addressing.Email {
		return t["ChannelEmail"]
	}
	return t["ChannelSMS"]
}

// eventText words one event of the timeline.
func eventText(t texts, ev vault.Event) string {
	f := func(key, arg string) string { return strings.Replace(t[key], "%s", arg, 1) }
	switch ev.Kind {
	case vault.EventAccepted:
		return t["EventAccepted"]
	case vault.EventNotified:
		if ev.Detail != "" {
			return f("EventNotifiedVia", ev.Detail)
		}
		return t["EventNotified"]
	case vault.EventDelivered:
		return t["EventDelivered"]
	case vault.EventFailed:
		if ev.Detail != "" {
			return f("EventFailedWhy", addressing.MaskPersonalNumbers(ev.Detail))
		}
		return t["EventFailed"]
	case vault.EventOpened:
		return f("EventOpened", who(t, ev))
	case vault.EventDenied:
		return f("EventDenied", who(t, ev))
	case vault.EventExpired:
		return t["EventExpired"]
	case vault.EventRevoked:
		switch {
		case ev.By != "" && ev.Detail != "":
			return fmt.Sprintf(t["EventRevokedWhy"], ev.By, ev.Detail)
		case ev.By != "":
			return f("EventRevokedBy", ev.By)
		}
		return t["EventRevoked"]
	case vault.EventReplied:
		return f("EventReplied", who(t, ev))
	case vault.EventExpiryChanged:
		return f("EventExpiryChanged", ev.By) // the page's "Readable until" says the new end
	}
	return string(ev.Kind)
}

// revoke withdraws one recipient's copy (recipient: its index from 0, as
// in the API) or, without recipient, every one's; then back to the page.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request, sess *Session) {
	m, ok := s.ownMessageOrAnswer(w, r, sess)
	if !ok {
		return
	}
	var which []int // nil: every recipient
	form := "all"
	if v := r.PostFormValue("recipient"); v != "" {
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 || i >= len(m.Recipients) {
			http.Error(w, "recipient: an index from 0 to "+strconv.Itoa(len(m.Recipients)-1), http.StatusBadRequest)
			return
		}
		which, form = []int{i}, v
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if err := vault.CheckReason(reason); err != nil {
		s.renderMessage(w, r, sess, http.StatusUnprocessableEntity, m, messageData{FaultForm: form, Reason: reason,
			Fault: s.wordf(r, "FaultReason", strings.TrimPrefix(err.Error(), vault.ErrBadReason.Error()+": "))})
		return
	}
	// The vault's operation, as the API's and `sigill message revoke` call
	// it: idempotent, so a recipient withdrawn before is left as it is.
	_, err := s.opt.Vault.RevokeRecipients(context.WithoutCancel(r.Context()), m.ID, which, reason, ownerOf(sess))
	switch {
	case errors.Is(err, vault.ErrExpired):
		s.notify(r, sess, "RevokeFault")
	case err != nil:
		s.fail(w, r, "withdrawing a message", err)
		return
	default:
		s.notify(r, sess, "RevokedNotice")
	}
	seeOther(w, r, "/messages/"+m.ID)
}
