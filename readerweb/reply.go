package readerweb

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"sigill/addressing"
	"sigill/intake"
	"sigill/receipts"
	"sigill/receipts/mailbox"
	"sigill/vault"
)

// Replies from the page. A person who has opened a message with BankID
// may answer it in a text box, with files, unless the sender wrote
// reply=no in the address; the answer is mailed to the sender as the
// person's (receipts/mailbox: PostReply), and the page then lists what the
// person sent, as the sender gets it.
//
// POST /m/<token>/reply takes multipart/form-data (the page's form: "text"
// and any number of "files") or application/x-www-form-urlencoded ("text"
// alone). It needs a session that holds the grant for the link (403
// otherwise), is refused with 403 and the reason when the sender turned
// replies off, passes http.CrossOriginProtection like every POST here, is
// limited to 5 replies at once per link and one more every 20 s (429), and
// its body to MaxReplyBytes and 64 KiB for the form's own bytes: beyond
// that, or when the mail it makes is larger than MaxReplyBytes (the
// files in base64), 413 with a page that names the limit. The form's files
// are read into memory, never to a temporary file: what the person sends
// is on disk only sealed in the vault. A form answer ends in 303 back to
// the message; a JSON one ("Accept: application/json") in 201
// {"status":"sent","at"}.

// replyFormOverhead is what the form adds to the reply's own bytes
// (boundaries, part headers) within the body's limit.
const replyFormOverhead = 64 << 10

// maxReplyFiles bounds the files of one reply.
const maxReplyFiles = 20

// errBadForm is a reply's body that does not read as a form.
var errBadForm = errors.New("the reply is not a form this page sends")

// replyView is one of the person's sent answers on the page.
type replyView struct {
	At, AtISO string
	Text      string
	Files     []string
}

// readReplyForm reads a reply's text and files from r's body (bounded by
// the caller). A part's filename becomes the file's name, its
// Content-Type the file's declared type; an empty file input (a browser
// sends one when no file was chosen) is no file.
func readReplyForm(r *http.Request) (string, []receipts.File, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return "", nil, errBadForm
	}
	switch mt {
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return "", nil, formError(err)
		}
		return r.PostForm.Get("text"), nil, nil
	case "multipart/form-data":
	default:
		return "", nil, errBadForm
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return "", nil, errBadForm
	}
	var (
		text  strings.Builder
		files []receipts.File
	)
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", nil, formError(err)
		}
		body, err := io.ReadAll(p)
		if err != nil {
			return "", nil, formError(err)
		}
		switch p.FormName() {
		case "text":
			text.Write(body)
		case "files":
			if p.FileName() == "" && len(body) == 0 {
				continue
			}
			if len(files) == maxReplyFiles {
				return "", nil, fmt.Errorf("%w: more than %d files", errBadForm, maxReplyFiles)
			}
			files = append(files, receipts.File{Name: p.FileName(), ContentType: p.Header.Get("Content-Type"), Body: body})
		}
	}
	return text.String(), files, nil
}

// formError keeps a body over its limit told apart from a malformed one.
func formError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return err
	}
	return fmt.Errorf("%w: %v", errBadForm, err)
}

// serveReply is POST /m/<token>/reply.
func (s *Server) serveReply(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	asJSON := wantsJSON(r)
	l, t, ok := s.postedLetter(w, r, token, asJSON)
	if !ok {
		return
	}
	fail := func(status int, code, title, text string) {
		if asJSON {
			writeJSON(w, status, apiError{Error: code, Message: text})
			return
		}
		s.plain(w, r, status, t, title, text)
	}
	st := s.standingOf(r, tokenKey(token))
	if st.kind != "granted" {
		fail(http.StatusForbidden, "forbidden", t.ErrorTitle, t.ForbiddenText)
		return
	}
	if s.opt.Replies == nil || !l.RepliesAllowed() {
		fail(http.StatusForbidden, "replies_off", t.ReplyHeading, t.RepliesOffText)
		return
	}
	if !s.limits.replies.allow(tokenKey(token), s.now(), 1) {
		s.tooMany(w, r)
		return
	}
	tooLarge := func() {
		fail(http.StatusRequestEntityTooLarge, "too_large", t.TooLargeTitle, fmt.Sprintf(t.TooLargeText, t.size(int(s.opt.MaxReplyBytes))))
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.opt.MaxReplyBytes+replyFormOverhead)
	text, files, err := readReplyForm(r)
	var overLimit *http.MaxBytesError
	switch {
	case errors.As(err, &overLimit):
		tooLarge()
		return
	case err != nil:
		fail(http.StatusBadRequest, "bad_form", t.ReplyHeading, t.BadReplyForm)
		return
	}
	who := mailbox.Replier{PersonalNumber: st.grant.pn, Name: st.grant.name, IP: s.clientIP(r).String()}
	ev, err := s.opt.Replies.PostReply(r.Context(), l, who, text, files)
	var large *intake.TooLargeError
	switch {
	case errors.As(err, &large):
		tooLarge()
		return
	case errors.Is(err, mailbox.ErrEmptyReply):
		fail(http.StatusBadRequest, "empty", t.ReplyHeading, t.EmptyReply)
		return
	case errors.Is(err, mailbox.ErrRepliesOff):
		fail(http.StatusForbidden, "replies_off", t.ReplyHeading, t.RepliesOffText)
		return
	case errors.Is(err, vault.ErrExpired) || errors.Is(err, vault.ErrNotFound):
		if asJSON {
			s.notOpenJSON(w, t, vault.LinkUnknown)
			return
		}
		s.invalid(w, r, t)
		return
	case err != nil:
		s.log.Error("reader: reply not stored", "message", l.ID, "recipient", l.Recipient, "err", err)
		fail(http.StatusInternalServerError, "internal", t.ErrorTitle, t.ErrorText)
		return
	}
	s.log.Info("reader: replied", "message", l.ID, "recipient", l.Recipient, "by", addressing.Mask(st.grant.pn), "files", len(files))
	if asJSON {
		writeJSON(w, http.StatusCreated, struct {
			Status string `json:"status"`
			At     string `json:"at"`
		}{"sent", ev.At.UTC().Format(time.RFC3339)})
		return
	}
	http.Redirect(w, r, "/m/"+token+"?lang="+t.Lang+"#replies", http.StatusSeeOther)
}

// sentReplies are the answers the person with pn has sent from the page
// of l, as the page shows them; nil when replies are not wired.
func (s *Server) sentReplies(t *texts, l vault.Letter, pn string) []replyView {
	if s.opt.Replies == nil {
		return nil
	}
	sent, err := s.opt.Replies.Replies(l, pn)
	if err != nil {
		s.log.Error("reader: reading sent replies", "message", l.ID, "err", err)
		return nil
	}
	var out []replyView
	for _, r := range sent {
		rv := replyView{At: t.date(r.At.In(s.loc)), AtISO: r.At.UTC().Format(time.RFC3339)}
		lb, err := parseLetter(r.Raw, "")
		clear(r.Raw)
		if err != nil {
			s.log.Error("reader: parsing a sent reply", "message", l.ID, "err", err)
			continue
		}
		rv.Text = lb.Text
		for _, i := range lb.Attachments {
			rv.Files = append(rv.Files, lb.Parts[i].Name+" ("+t.size(len(lb.Parts[i].Body))+")")
		}
		out = append(out, rv)
	}
	return out
}

// replyJSON is one sent answer in message.json.
type replyJSON struct {
	At    string   `json:"at"`
	Text  string   `json:"text"`
	Files []string `json:"files"`
}

func (s *Server) repliesJSON(t *texts, l vault.Letter, pn string) []replyJSON {
	out := []replyJSON{}
	for _, r := range s.sentReplies(t, l, pn) {
		out = append(out, replyJSON{At: r.AtISO, Text: r.Text, Files: append([]string{}, r.Files...)})
	}
	return out
}

// replyForm fills the page's reply part for a person who may read l.
func (s *Server) replyForm(p *page, t *texts, l vault.Letter, pn string) {
	if s.opt.Replies == nil {
		return
	}
	p.ReplyOpen, p.RepliesOff = l.RepliesAllowed(), !l.RepliesAllowed()
	p.ReplyHelp = fmt.Sprintf(t.ReplyHelp, t.size(int(s.opt.MaxReplyBytes)))
	p.Replies = s.sentReplies(t, l, pn)
}
