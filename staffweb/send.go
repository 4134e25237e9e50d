package staffweb

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"sigill/addressing"
	"sigill/intake"
)

// Sending is what the send form needs from the configuration: the rules
// SMTP's RCPT (Policy) and DATA (Rules) apply, so that a message sent from
// the form is stored exactly as one sent by SMTP or the REST API.
type Sending struct {
	Policy        addressing.Policy
	Rules         intake.Rules
	MaxRecipients int    // smtp.max_recipients
	Hostname      string // the right side of the Message-IDs of built messages
	// Accepted, when set, is called after a message is stored that left
	// notifications for a claim (vault.Accepted.Claimable), so the
	// notifier sends at once.
	Accepted func()
}

func init() {
	mount(func(s *Server, mux *http.ServeMux) {
		s.handle(mux, "GET /send", s.SignedIn(s.sendForm))
		s.handle(mux, "POST /send", s.SignedIn(s.send))
	})
	addTexts(map[string]string{
		"SendTitle":          "Skicka ett säkert meddelande",
		"SendIntro":          "Mottagaren får en avisering med ärendet och en länk, och läser meddelandet efter inloggning med BankID.",
		"FaultSummary":       "Rätta följande och skicka igen:",
		"RecipientsLabel":    "Mottagare",
		"RecipientsHint":     "En mottagare per rad: ett mobilnummer eller en e-postadress följt av personnummer som får öppna meddelandet (skilda med mellanslag eller komma), t.ex. 0701234567 199908072391. * låter vem som helst med BankID öppna, 19990807* alla födda den dagen. Adressformatet från e-posten (0701234567&login=199908072391&) går också.",
		"SubjectLabel":       "Ärende",
		"SubjectWarning":     "Ärendet skickas okrypterat i aviseringen (SMS eller e-post). Skriv inget känsligt och inget personnummer här.",
		"BodyLabel":          "Meddelande",
		"BodyHint":           "Skyddas och visas först efter inloggning med BankID.",
		"AttachmentLabel":    "Bilagor",
		"AttachmentHint":     "Valfritt. Flera filer går bra.",
		"LangLabel":          "Språk för avisering och läsarsida",
		"LangSV":             "Svenska",
		"LangEN":             "Engelska",
		"ExpLabel":           "Giltighetstid",
		"ExpHint":            "Valfritt: hur länge meddelandet kan läsas, t.ex. 7d (dagar), 36h (timmar) eller 2w (veckor); högst %s. Tomt: gatewayens standard.",
		"RepliesLabel":       "Mottagaren får svara från läsarsidan",
		"SendButton":         "Skicka",
		"SentNotice":         "Meddelandet är skickat.",
		"FaultNoRecipients":  "Skriv minst en mottagare.",
		"FaultLine":          "Rad %d (%s): %s",
		"FaultTooMany":       "%d mottagare; högst %d per meddelande. Skicka resten i ett nytt meddelande.",
		"FaultSubjectPNR":    "Ärendet innehåller ett personnummer (%s). Ärendet skickas okrypterat: flytta numret till meddelandet.",
		"FaultSubjectLong":   "Ärendet är för långt: högst %d tecken.",
		"FaultBodyEmpty":     "Skriv ett meddelande eller bifoga en fil.",
		"FaultLang":          "Välj svenska eller engelska.",
		"FaultExp":           "%s är ingen giltighetstid; skriv ett tal och m, h, d eller w, t.ex. 7d.",
		"FaultExpLong":       "%s är längre än gatewayen sparar meddelanden (%s).",
		"FaultTooLarge":      "Meddelandet med bilagor är för stort: högst %d byte. Skicka färre eller mindre filer.",
		"FaultAttachment":    "Filen %s kunde inte läsas; välj den igen.",
		"FaultRefused":       "Meddelandet togs inte emot: %s",
		"FaultStore":         "Meddelandet kunde inte sparas säkert och skickades inte. Försök igen om en stund.",
		"AttachmentsNotKept": "Välj bilagorna igen: en webbläsare skickar inte om filer.",
	}, map[string]string{
		"SendTitle":          "Send a secure message",
		"SendIntro":          "The recipient gets a notice with the errand and a link, and reads the message after signing in with BankID.",
		"FaultSummary":       "Mend the following and send again:",
		"RecipientsLabel":    "Recipients",
		"RecipientsHint":     "One recipient per line: a mobile number or e-mail address followed by the personal identity numbers that may open the message (separated by spaces or commas), e.g. 0701234567 199908072391. * lets anyone with BankID open it, 19990807* anyone born that day. The e-mail address syntax (0701234567&login=199908072391&) works too.",
		"SubjectLabel":       "Errand",
		"SubjectWarning":     "The errand travels unencrypted in the notice (SMS or e-mail). Write nothing sensitive and no personal identity number here.",
		"BodyLabel":          "Message",
		"BodyHint":           "Protected, and shown only after signing in with BankID.",
		"AttachmentLabel":    "Attachments",
		"AttachmentHint":     "Optional. Several files are fine.",
		"LangLabel":          "Language of the notice and reader page",
		"LangSV":             "Swedish",
		"LangEN":             "English",
		"ExpLabel":           "Lifetime",
		"ExpHint":            "Optional: how long the message can be read, e.g. 7d (days), 36h (hours) or 2w (weeks); at most %s. Empty: the gateway's default.",
		"RepliesLabel":       "The recipient may answer from the reader page",
		"SendButton":         "Send",
		"SentNotice":         "The message has been sent.",
		"FaultNoRecipients":  "Write at least one recipient.",
		"FaultLine":          "Line %d (%s): %s",
		"FaultTooMany":       "%d recipients; at most %d per message. Send the rest in another message.",
		"FaultSubjectPNR":    "The errand holds a personal identity number (%s). The errand travels unencrypted: move the number into the message.",
		"FaultSubjectLong":   "The errand is too long: at most %d characters.",
		"FaultBodyEmpty":     "Write a message or attach a file.",
		"FaultLang":          "Choose Swedish or English.",
		"FaultExp":           "%s is not a lifetime; write a number and m, h, d or w, e.g. 7d.",
		"FaultExpLong":       "%s is longer than this gateway keeps messages (%s).",
		"FaultTooLarge":      "The message with its attachments is too large: at most %d bytes. Send fewer or smaller files.",
		"FaultAttachment":    "The file %s could not be read; choose it again.",
		"FaultRefused":       "The message was not accepted: %s",
		"FaultStore":         "The message could not be stored safely and was not sent. Please try again in a moment.",
		"AttachmentsNotKept": "Choose the attachments again: a browser does not send files twice.",
	})
}

// maxErrandRunes bounds the errand as the API does: an SMS has little room.
const maxErrandRunes = 255

// sendData is the form as the template shows it: what was typed, and the
// fault of each field by its name ("" for none).
type sendData struct {
	Recipients, Subject, Body, Lang, Exp string
	Replies                              bool
	Faults                               map[string][]string
	HadAttachments                       bool // the faulty form had files, which the browser will not send again
	MaxLifetime                          string
}

// Fault is a field's faults (none: nil).
func (d sendData) Fault(field string) []string { return d.Faults[field] }

// Invalid is aria-invalid's value for a field.
func (d sendData) Invalid(field string) string {
	if len(d.Faults[field]) > 0 {
		return "true"
	}
	return "false"
}

// FaultList is every fault, with its field, in the form's order: the
// summary at the top links each to its field.
func (d sendData) FaultList() []struct{ Field, Text string } {
	var out []struct{ Field, Text string }
	for _, f := range []string{"recipients", "subject", "body", "attachment", "lang", "exp", "form"} {
		for _, text := range d.Faults[f] {
			out = append(out, struct{ Field, Text string }{f, text})
		}
	}
	return out
}

func (s *Server) maxLifetime() time.Duration {
	if m := s.opt.Sending.Policy.MaxLifetime; m > 0 {
		return m
	}
	return addressing.DefaultMaxLifetime
}

func (s *Server) sendForm(w http.ResponseWriter, r *http.Request, sess *Session) {
	lang := normLang(s.opt.Sending.Policy.DefaultLang)
	if lang == "" {
		lang = "sv"
	}
	s.render(w, r, sess, http.StatusOK, "send", sendData{Lang: lang, Replies: true, MaxLifetime: addressing.Lifetime(s.maxLifetime()).String()})
}

// maxForm bounds a POST /send: the largest message, the base64 that
// attachments grow by in MIME not being in the form, plus the fields. A
// form over it is refused while it is read, before its fields are: that
// answer names the attachments but cannot keep what was typed.
func (s *Server) maxForm() int64 {
	if m := s.opt.Sending.Rules.MaxBytes; m > 0 {
		return m + 1<<20
	}
	return 64 << 20
}

// send takes the form, checks every field the way SMTP's RCPT and DATA
// would, and stores the message through intake exactly as they do.
func (s *Server) send(w http.ResponseWriter, r *http.Request, sess *Session) {
	o := s.opt.Sending
	account := sess.Account.Address
	d := sendData{Faults: map[string][]string{}, MaxLifetime: addressing.Lifetime(s.maxLifetime()).String()}
	fault := func(field, key string, args ...any) {
		d.Faults[field] = append(d.Faults[field], s.wordf(r, key, args...))
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.maxForm())
	var tooLarge *http.MaxBytesError
	if err := r.ParseMultipartForm(1 << 20); errors.As(err, &tooLarge) {
		fault("attachment", "FaultTooLarge", o.Rules.MaxBytes)
		s.renderSend(w, r, sess, d)
		return
	} else if err != nil && !errors.Is(err, http.ErrNotMultipart) {
		http.Error(w, "unreadable form", http.StatusBadRequest)
		return
	}
	if r.MultipartForm != nil {
		defer r.MultipartForm.RemoveAll()
	}
	d.Recipients, d.Subject, d.Body = r.PostFormValue("recipients"), r.PostFormValue("subject"), r.PostFormValue("body")
	d.Lang, d.Exp = r.PostFormValue("lang"), strings.TrimSpace(r.PostFormValue("exp"))
	d.Replies = r.PostFormValue("replies") != ""
	if _, given := r.PostForm["replies"]; !given && r.PostFormValue("replies_shown") == "" {
		d.Replies = true // a client that does not know the field: the default
	}

	if normLang(d.Lang) == "" || len(d.Lang) != 2 {
		fault("lang", "FaultLang")
	}
	var pnr *intake.PersonalNumberError
	if err := intake.CheckErrand(d.Subject); errors.As(err, &pnr) {
		fault("subject", "FaultSubjectPNR", pnr.Masked)
	} else if utf8.RuneCountInString(d.Subject) > maxErrandRunes {
		fault("subject", "FaultSubjectLong", maxErrandRunes)
	}
	var lifetime time.Duration
	if d.Exp != "" {
		l, err := addressing.ParseLifetime(d.Exp)
		switch {
		case err != nil:
			fault("exp", "FaultExp", d.Exp)
		case l.Duration() > s.maxLifetime():
			fault("exp", "FaultExpLong", d.Exp, d.MaxLifetime)
		default:
			lifetime = l.Duration()
		}
	}
	recipients, lines := readRecipients(o.Policy, d.Recipients, lineOptions{Lang: normLang(d.Lang), NoReplies: !d.Replies})
	for _, l := range lines {
		fault("recipients", "FaultLine", l.Line, l.Written, l.Reason)
	}
	switch n := len(recipients); {
	case n == 0 && len(lines) == 0:
		fault("recipients", "FaultNoRecipients")
	case o.MaxRecipients > 0 && n > o.MaxRecipients:
		fault("recipients", "FaultTooMany", n, o.MaxRecipients)
	}
	attachments, bad := readAttachments(r.MultipartForm)
	d.HadAttachments = len(attachments) > 0 || len(bad) > 0
	for _, name := range bad {
		fault("attachment", "FaultAttachment", name)
	}
	if strings.TrimSpace(d.Body) == "" && len(attachments) == 0 {
		fault("body", "FaultBodyEmpty")
	}
	if len(d.Faults) > 0 {
		s.renderSend(w, r, sess, d)
		return
	}

	raw, err := intake.Compose(intake.Composed{
		From: account, Subject: d.Subject, Lang: normLang(d.Lang), Text: d.Body,
		Attachments: attachments, Hostname: o.Hostname, Date: s.opt.Now().UTC(),
	})
	if err != nil {
		s.fail(w, r, "building the MIME message", err)
		return
	}
	in, err := o.Rules.Incoming(intake.Message{Sender: account, Account: account, Raw: raw, Recipients: recipients})
	var large *intake.TooLargeError
	switch {
	case errors.As(err, &large):
		fault("attachment", "FaultTooLarge", large.Max)
	case err != nil:
		// The fields were checked above: another refusal is intake's rule on
		// what the form built (a From rule, say), and says so.
		fault("form", "FaultRefused", err.Error())
	}
	if len(d.Faults) > 0 {
		s.renderSend(w, r, sess, d)
		return
	}
	in.Lifetime = lifetime
	// The accept runs to its end even if the browser goes: a message the
	// vault took is sent.
	accepted, err := s.opt.Vault.Accept(context.WithoutCancel(r.Context()), in)
	if err != nil {
		s.opt.Logger.Error("staffweb: vault refused message", "account", addressing.MaskPersonalNumbers(account), "err", err)
		fault("form", "FaultStore")
		d.Faults["form"] = d.Faults["form"][:1]
		w.Header().Set("Retry-After", "30")
		s.renderSendStatus(w, r, sess, http.StatusServiceUnavailable, d)
		return
	}
	if o.Accepted != nil && accepted.Claimable > 0 {
		o.Accepted()
	}
	s.opt.Logger.Info("message accepted", "id", accepted.ID, "listener", "staffweb",
		"from", addressing.MaskPersonalNumbers(account), "recipients", len(recipients), "bytes", len(raw))
	s.notify(r, sess, "SentNotice")
	seeOther(w, r, "/messages/"+accepted.ID)
}

// renderSend shows the form again with its faults: 422, what was typed
// kept (files excepted: no browser sends them again).
func (s *Server) renderSend(w http.ResponseWriter, r *http.Request, sess *Session, d sendData) {
	s.renderSendStatus(w, r, sess, http.StatusUnprocessableEntity, d)
}

func (s *Server) renderSendStatus(w http.ResponseWriter, r *http.Request, sess *Session, status int, d sendData) {
	if d.HadAttachments {
		d.Faults["attachment"] = append(d.Faults["attachment"], s.word(r, "AttachmentsNotKept"))
	}
	s.render(w, r, sess, status, "send", d)
}

// readAttachments reads the form's files ("attachment", any number). bad
// names the files that could not be read.
func readAttachments(form *multipart.Form) (out []intake.Attachment, bad []string) {
	if form == nil {
		return nil, nil
	}
	for _, fh := range form.File["attachment"] {
		// (A part with an empty filename, what a browser sends when no file
		// was chosen, is a plain value to the multipart reader, not a file.)
		name := path.Base(strings.ReplaceAll(fh.Filename, `\`, "/")) // a browser on Windows may send the whole path
		if !utf8.ValidString(name) || name == "." || name == "/" {
			name = "attachment"
		}
		f, err := fh.Open()
		if err != nil {
			bad = append(bad, name)
			continue
		}
		data, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			bad = append(bad, name)
			continue
		}
		ct := fh.Header.Get("Content-Type")
		if mt, _, err := mime.ParseMediaType(ct); err != nil || !strings.Contains(mt, "/") {
			ct = http.DetectContentType(data)
		} else {
			ct = mt
		}
		out = append(out, intake.Attachment{Filename: name, ContentType: ct, Data: data})
	}
	return out, bad
}
