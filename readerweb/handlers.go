package readerweb

import (
	"encoding/json"
	"errors"
	"html/template"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"sigill/bankid"
	"sigill/vault"
)

// nonceLen is the length of a return nonce (randomID(16)).
const nonceLen = 22

// wellFormedNonce tells a return nonce of randomID's shape: 22 characters
// of base64url.
func wellFormedNonce(nonce string) bool {
	if len(nonce) != nonceLen {
		return false
	}
	for i := 0; i < len(nonce); i++ {
		c := nonce[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// letter looks a token up without decrypting anything: the letter, and
// whether its link opens it (vault.LinkFine). Any other state — unknown
// (malformed, too), expired or revoked — comes with no letter. A vault
// fault reads as unknown: it must not show a letter that may have been
// withdrawn.
func (s *Server) letter(token string) (vault.Letter, vault.LinkState) {
	st, l, err := s.opt.Vault.Lookup(token)
	if err != nil {
		s.log.Error("vault lookup", "err", err)
		return vault.Letter{}, vault.LinkUnknown
	}
	if st != vault.LinkFine {
		return vault.Letter{}, st
	}
	return l, st
}

// notOpen answers a page request for a link that opens nothing: the
// withdrawn page for a revoked link (with the errand and the sender, which
// the notice named already, in the recipient's language), else the one
// page for unknown and expired links, with the same status and page shape
// as a valid one.
func (s *Server) notOpen(w http.ResponseWriter, r *http.Request, t *texts, st vault.LinkState) {
	if st != vault.LinkRevoked {
		s.invalid(w, r, t)
		return
	}
	st, l, err := s.opt.Vault.Lookup(r.PathValue("token"))
	if err != nil || st != vault.LinkRevoked {
		s.plain(w, r, http.StatusOK, t, t.WithdrawnTitle, t.WithdrawnText)
		return
	}
	t = s.textsOf(r, &l)
	p := s.newPage(t, r.URL.Path)
	p.Kind, p.Heading, p.Text = "withdrawn", t.WithdrawnTitle, t.WithdrawnText
	p.Errand, p.Sender = l.Errand, l.Vouched()
	p.Sent, p.SentISO = t.date(l.Received.In(s.loc)), l.Received.UTC().Format(time.RFC3339)
	s.render(w, r, http.StatusOK, p)
}

// notOpenJSON is notOpen for the JSON API: 410 Gone with "withdrawn" for a
// revoked link, 404 with "not_found" for the rest.
func (s *Server) notOpenJSON(w http.ResponseWriter, t *texts, st vault.LinkState) {
	if st == vault.LinkRevoked {
		writeJSON(w, http.StatusGone, apiError{Error: "withdrawn", Message: t.WithdrawnText})
		return
	}
	writeJSON(w, http.StatusNotFound, apiError{Error: "not_found", Message: t.InvalidText})
}

// postedLetter is the letter a POST to token's link is about, and the
// page's words; when the link opens nothing it has answered (the page, or
// JSON when asJSON) and ok is false.
func (s *Server) postedLetter(w http.ResponseWriter, r *http.Request, token string, asJSON bool) (l vault.Letter, t *texts, ok bool) {
	l, link := s.letter(token)
	if link != vault.LinkFine {
		t := s.textsOf(r, nil)
		if asJSON {
			s.notOpenJSON(w, t, link)
		} else {
			s.notOpen(w, r, t, link)
		}
		return vault.Letter{}, nil, false
	}
	return l, s.textsOf(r, &l), true
}

// textsOf picks the page's language: ?lang=, else the recipient's, else the
// default.
func (s *Server) textsOf(r *http.Request, l *vault.Letter) *texts {
	def := s.opt.DefaultLang
	if l != nil && normLang(l.Rcpt.Lang) != "" {
		def = l.Rcpt.Lang
	}
	return textsFor(r.URL.Query().Get("lang"), def)
}

func mobileUA(ua string) bool {
	for _, m := range []string{"Mobi", "Android", "iPhone", "iPad", "iPod"} {
		if strings.Contains(ua, m) {
			return true
		}
	}
	return false
}

// letterPage is a page about one letter, before anything is decrypted.
func (s *Server) letterPage(r *http.Request, t *texts, token string, l vault.Letter) *page {
	base := "/m/" + token
	p := s.newPage(t, base)
	p.Kind, p.Base, p.Script = "flow", base, true
	p.Errand, p.Sender = l.Errand, l.Vouched()
	sent := l.Received.In(s.loc)
	p.Sent, p.SentISO = t.date(sent), l.Received.UTC().Format(time.RFC3339)
	p.Until, p.UntilISO = t.date(l.Expires.In(s.loc)), l.Expires.UTC().Format(time.RFC3339)
	p.State = "start"
	p.LaunchPrefix = "bankid:///"
	if mobileUA(r.UserAgent()) {
		p.LaunchPrefix = "https://app.bankid.com/"
	}
	return p
}

// invalid answers a token that opens nothing: the same status and page shape
// as a valid one.
func (s *Server) invalid(w http.ResponseWriter, r *http.Request, t *texts) {
	s.plain(w, r, http.StatusOK, t, t.InvalidTitle, t.InvalidText)
}

// servePage is GET /m/<token>: the letter's page, showing the state of this
// browser's order, or the message once BankID let the person in.
func (s *Server) servePage(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	l, link := s.letter(token)
	if link != vault.LinkFine {
		s.notOpen(w, r, s.textsOf(r, nil), link)
		return
	}
	t := s.textsOf(r, &l)
	st := s.standingOf(r, tokenKey(token))
	switch st.kind {
	case "granted", "complete":
		s.showMessage(w, r, t, token, l, st)
		return
	}
	p := s.letterPage(r, t, token, l)
	switch st.kind {
	case "pending":
		o := st.order
		p.State, p.Refresh = "pending", true
		p.Status = st.state.message(t, o.sameDevice)
		if o.sameDevice {
			p.SameDevice = true
			p.LaunchURL = template.URL(bankid.LaunchURL(o.autoStart, "", mobileUA(r.UserAgent())))
		} else {
			svg, err := bankid.QRSVG(o.qrData(s.now()))
			if err == nil {
				p.QR, p.QRSVG = true, template.HTML(svg)
			}
		}
	case "failed", "denied":
		p.Notice = st.state.message(t, st.order.sameDevice)
		if st.kind == "denied" {
			p.NoticeTitle = t.DeniedTitle
		}
	}
	s.render(w, r, http.StatusOK, p)
}

// showMessage decrypts and shows the message to a session that has, or has
// just won, the grant for it.
func (s *Server) showMessage(w http.ResponseWriter, r *http.Request, t *texts, token string, l vault.Letter, st standing) {
	lb, ok := s.open(w, r, t, token)
	if !ok {
		return
	}
	g := st.grant
	if st.kind == "complete" {
		if _, err := s.claim(w, r, st, l); err != nil {
			s.claimFailed(w, r, t, err)
			return
		}
		g = grant{pn: st.state.pn, name: st.state.name}
	}
	p := s.letterPage(r, t, token, l)
	p.Kind, p.Script, p.Person = "message", false, g.name
	if p.Person == "" {
		p.Person = maskedDate(g.pn)
	}
	mv := &mailView{From: l.Vouched(), OnBehalfOf: onBehalfOf(l, lb), Text: lb.Text, HTML: template.HTML(lb.HTML)} // sanitised by parseLetter
	for _, i := range lb.Attachments {
		part := lb.Parts[i]
		av := attView{Name: part.Name, URL: p.Base + "/att/" + strconv.Itoa(i), Size: t.size(len(part.Body))}
		if part.Unreadable {
			av.Note = t.WinmailUnreadable
		}
		mv.Attachments = append(mv.Attachments, av)
	}
	p.Mail = mv
	s.replyForm(p, t, l, g.pn)
	s.render(w, r, http.StatusOK, p)
}

func maskedDate(pn string) string {
	if len(pn) == 12 {
		return pn[:8] + "-****"
	}
	return ""
}

func (s *Server) claimFailed(w http.ResponseWriter, r *http.Request, t *texts, err error) {
	if errors.Is(err, errGone) {
		// Another request of this session claimed it first; start over.
		http.Redirect(w, r, r.URL.Path+"?lang="+t.Lang, http.StatusSeeOther)
		return
	}
	s.plain(w, r, http.StatusInternalServerError, t, t.ErrorTitle, t.ErrorText)
}

// open decrypts and parses the message of token; on failure it has answered.
func (s *Server) open(w http.ResponseWriter, r *http.Request, t *texts, token string) (*letterBody, bool) {
	_, raw, err := s.opt.Vault.Decrypt(token)
	if err != nil {
		if errors.Is(err, vault.ErrRevoked) {
			s.notOpen(w, r, t, vault.LinkRevoked) // withdrawn since the look-up
		} else if errors.Is(err, vault.ErrNotFound) || errors.Is(err, vault.ErrExpired) {
			s.invalid(w, r, t)
		} else {
			s.log.Error("vault decrypt", "err", err)
			s.plain(w, r, http.StatusInternalServerError, t, t.ErrorTitle, t.ErrorText)
		}
		return nil, false
	}
	lb, err := parseLetter(raw, "/m/"+token)
	clear(raw)
	if err != nil {
		s.log.Error("parsing message", "err", err)
		s.plain(w, r, http.StatusInternalServerError, t, t.ErrorTitle, t.ErrorText)
		return nil, false
	}
	lb.HTML = withBlockedNotes(lb.HTML, t.ImageBlocked)
	return lb, true
}

// authStart is the answer to POST /m/<token>/auth in JSON.
type authStart struct {
	AutoStartToken string `json:"autoStartToken"`
	QR             string `json:"qr"`
}

// authStatus is the answer to GET /m/<token>/auth.
type authStatus struct {
	Status   string `json:"status"`
	HintCode string `json:"hintCode"`
	Message  string `json:"message"`
	QR       string `json:"qr"`
}

// serveStart is POST /m/<token>/auth: a new BankID order for this browser.
// device=same asks for an order to start on this device (with a returnUrl);
// anything else is an order for the QR code.
func (s *Server) serveStart(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	asJSON := wantsJSON(r)
	l, t, ok := s.postedLetter(w, r, token, asJSON)
	if !ok {
		return
	}
	now := s.now()
	client := ipKey(s.clientIP(r))
	if !s.limits.ipOrders.allow(client, now, 1) || !s.limits.allowLink(tokenKey(token), client, now, true) {
		s.tooMany(w, r)
		return
	}
	device := ""
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var body struct {
			Device string `json:"device"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err == nil {
			device = body.Device
		}
	} else {
		device = r.PostFormValue("device")
	}
	o, err := s.startOrder(w, r, token, l, device == "same", t.Lang)
	if err != nil {
		status, msg := http.StatusBadGateway, bankid.ErrorMessage(err, t.Lang)
		switch {
		case errors.Is(err, errBusy):
			status, msg = http.StatusServiceUnavailable, t.BusyText
		case errors.Is(err, errSigningIn):
			status, msg = http.StatusConflict, t.SigningInText
		}
		if asJSON {
			writeJSON(w, status, apiError{Error: "bankid", Message: msg})
			return
		}
		p := s.letterPage(r, t, token, l)
		p.Notice = msg
		s.render(w, r, status, p)
		return
	}
	if asJSON {
		writeJSON(w, http.StatusOK, authStart{AutoStartToken: o.autoStart, QR: o.qrData(s.now())})
		return
	}
	http.Redirect(w, r, "/m/"+token+"?lang="+t.Lang, http.StatusSeeOther)
}

// servePoll is GET /m/<token>/auth: the state of this browser's order.
func (s *Server) servePoll(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	l, link := s.letter(token)
	if link != vault.LinkFine {
		t := s.textsOf(r, nil)
		if link == vault.LinkRevoked {
			writeJSON(w, http.StatusGone, authStatus{Status: "withdrawn", Message: t.WithdrawnText})
			return
		}
		writeJSON(w, http.StatusNotFound, authStatus{Status: "none", Message: t.InvalidText})
		return
	}
	t := s.textsOf(r, &l)
	st := s.standingOf(r, tokenKey(token))
	switch st.kind {
	case "granted":
		writeJSON(w, http.StatusOK, authStatus{Status: "complete"})
	case "complete":
		if _, err := s.claim(w, r, st, l); err != nil {
			if errors.Is(err, errGone) {
				writeJSON(w, http.StatusNotFound, authStatus{Status: "none"})
				return
			}
			writeJSON(w, http.StatusInternalServerError, apiError{Error: "internal", Message: t.ErrorText})
			return
		}
		writeJSON(w, http.StatusOK, authStatus{Status: "complete"})
	case "pending":
		writeJSON(w, http.StatusOK, authStatus{
			Status: "pending", HintCode: st.state.hint,
			Message: st.state.message(t, st.order.sameDevice), QR: st.order.qrData(s.now()),
		})
	case "failed", "denied":
		writeJSON(w, http.StatusOK, authStatus{
			Status: st.kind, HintCode: st.state.hint, Message: st.state.message(t, st.order.sameDevice),
		})
	default:
		writeJSON(w, http.StatusNotFound, authStatus{Status: "none"})
	}
}

// serveQR is GET /m/<token>/qr.svg: the QR code of this second, for the
// page's script to put in place of the last one.
func (s *Server) serveQR(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	if _, link := s.letter(token); link != vault.LinkFine {
		http.NotFound(w, r)
		return
	}
	st := s.standingOf(r, tokenKey(token))
	if st.kind != "pending" {
		http.NotFound(w, r)
		return
	}
	svg, err := bankid.QRSVG(st.order.qrData(s.now()))
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(svg)))
	w.Write([]byte(svg))
}

// serveCancel is POST /m/<token>/cancel: the order is cancelled at BankID and
// forgotten; the page shows its buttons again.
func (s *Server) serveCancel(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	key := tokenKey(token)
	st := s.standingOf(r, key)
	if st.order != nil {
		s.endOrder(st.sess, true)
		s.mu.Lock()
		if st.sess.order == st.order {
			st.sess.order = nil
		}
		s.mu.Unlock()
	}
	if wantsJSON(r) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, "/m/"+token+"?lang="+textsFor(r.URL.Query().Get("lang"), s.opt.DefaultLang).Lang, http.StatusSeeOther)
}

// serveLogout is POST /m/<token>/logout: the session ends.
func (s *Server) serveLogout(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	if ss := s.takeSession(r); ss != nil {
		s.endOrder(ss, false)
	}
	s.clearCookie(w)
	if wantsJSON(r) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, "/m/"+token+"?lang="+textsFor(r.URL.Query().Get("lang"), s.opt.DefaultLang).Lang, http.StatusSeeOther)
}

// onBehalfOf is the message's From header as written, when its address is
// not the sender the gateway vouches for; "" when it is, or there is none.
// The page shows it only beside the vouched sender, marked as unverified.
func onBehalfOf(l vault.Letter, lb *letterBody) string {
	if lb.From == "" || (lb.FromAddress != "" && strings.EqualFold(lb.FromAddress, l.Vouched())) {
		return ""
	}
	return lb.From
}

// letterJSON is GET /m/<token>/message.json.
type letterJSON struct {
	Errand      string           `json:"errand"`
	From        string           `json:"from"`                   // the vouched sender
	OnBehalfOf  string           `json:"on_behalf_of,omitempty"` // an unverified From header that names someone else
	Sent        string           `json:"sent"`
	Expires     string           `json:"expires"` // RFC 3339, UTC: readable until then
	Text        string           `json:"text"`
	HTML        string           `json:"html"`
	Attachments []attachmentJSON `json:"attachments"`
	// RepliesAllowed: the person may answer (POST reply); Replies are the
	// answers they sent, as the sender got them.
	RepliesAllowed bool        `json:"replies_allowed"`
	Replies        []replyJSON `json:"replies"`
}

type attachmentJSON struct {
	Name string `json:"name"`
	Size int    `json:"size"`
	URL  string `json:"url"`
}

func (s *Server) serveMessageJSON(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	l, link := s.letter(token)
	if link != vault.LinkFine {
		s.notOpenJSON(w, s.textsOf(r, nil), link)
		return
	}
	t := s.textsOf(r, &l)
	st := s.standingOf(r, tokenKey(token))
	if st.kind != "granted" && st.kind != "complete" {
		writeJSON(w, http.StatusForbidden, apiError{Error: "forbidden", Message: t.ForbiddenText})
		return
	}
	_, raw, err := s.opt.Vault.Decrypt(token)
	if err != nil {
		if errors.Is(err, vault.ErrRevoked) {
			s.notOpenJSON(w, t, vault.LinkRevoked) // withdrawn since the look-up
			return
		}
		if errors.Is(err, vault.ErrNotFound) || errors.Is(err, vault.ErrExpired) {
			s.notOpenJSON(w, t, vault.LinkUnknown)
			return
		}
		s.log.Error("vault decrypt", "err", err)
		writeJSON(w, http.StatusInternalServerError, apiError{Error: "internal", Message: t.ErrorText})
		return
	}
	base := "/m/" + token
	lb, err := parseLetter(raw, base)
	clear(raw)
	if err != nil {
		s.log.Error("parsing message", "err", err)
		writeJSON(w, http.StatusInternalServerError, apiError{Error: "internal", Message: t.ErrorText})
		return
	}
	lb.HTML = withBlockedNotes(lb.HTML, t.ImageBlocked)
	pn := st.grant.pn
	if st.kind == "complete" {
		if _, err := s.claim(w, r, st, l); err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, errGone) {
				status = http.StatusForbidden
			}
			writeJSON(w, status, apiError{Error: "forbidden", Message: t.ForbiddenText})
			return
		}
		pn = st.state.pn
	}
	out := letterJSON{
		Errand: l.Errand, From: l.Vouched(), OnBehalfOf: onBehalfOf(l, lb), Sent: l.Received.UTC().Format(time.RFC3339), Expires: l.Expires.UTC().Format(time.RFC3339),
		Text: lb.Text, HTML: lb.HTML, Attachments: []attachmentJSON{},
		RepliesAllowed: s.opt.Replies != nil && l.RepliesAllowed(), Replies: s.repliesJSON(t, l, pn),
	}
	for _, i := range lb.Attachments {
		out.Attachments = append(out.Attachments, attachmentJSON{
			Name: lb.Parts[i].Name, Size: len(lb.Parts[i].Body), URL: base + "/att/" + strconv.Itoa(i),
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// servePart serves an inline image (cid) or an attachment of the message to
// a session that holds the grant.
func (s *Server) servePart(inline bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token := r.PathValue("token")
		l, link := s.letter(token)
		if link != vault.LinkFine {
			http.NotFound(w, r)
			return
		}
		t := s.textsOf(r, &l)
		if st := s.standingOf(r, tokenKey(token)); st.kind != "granted" {
			s.plain(w, r, http.StatusForbidden, t, t.ErrorTitle, t.ForbiddenText)
			return
		}
		n, err := strconv.Atoi(r.PathValue("n"))
		if err != nil || n < 0 {
			http.NotFound(w, r)
			return
		}
		lb, ok := s.open(w, r, t, token)
		if !ok {
			return
		}
		if n >= len(lb.Parts) {
			http.NotFound(w, r)
			return
		}
		part := lb.Parts[n]
		h := w.Header()
		// Whatever the part is, it runs nothing here.
		h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
		if inline {
			if part.ContentID == "" || !inlineImage(part.MediaType) {
				http.NotFound(w, r)
				return
			}
			h.Set("Content-Type", part.MediaType)
			h.Set("Content-Disposition", "inline")
		} else {
			isAtt := false
			for _, i := range lb.Attachments {
				isAtt = isAtt || i == n
			}
			if !isAtt {
				http.NotFound(w, r)
				return
			}
			h.Set("Content-Type", downloadType(part.MediaType))
			h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": part.Name}))
		}
		h.Set("Content-Length", strconv.Itoa(len(part.Body)))
		w.Write(part.Body)
	}
}

// serveReturn is GET /r/<nonce>, the returnUrl of a same-device order: for
// the browser whose session holds that order it leads back to the letter's
// page. It wakes the page; it proves nothing.
func (s *Server) serveReturn(w http.ResponseWriter, r *http.Request) {
	nonce := r.PathValue("nonce")
	t := textsFor(r.URL.Query().Get("lang"), s.opt.DefaultLang)
	if path := s.returnPathOf(r, nonce); path != "" {
		http.Redirect(w, r, path, http.StatusSeeOther)
		return
	}
	if _, err := r.Cookie(s.cookieName()); err != nil && r.URL.Query().Get("b") == "" && wellFormedNonce(nonce) {
		// Opened from the BankID app, the request may count as cross-site,
		// and a SameSite=Strict cookie is not sent. A navigation from this
		// site's own page is same-site: try once more that way.
		p := s.newPage(t, r.URL.Path)
		p.Kind, p.Heading, p.Text = "plain", t.ReturnTitle, t.ReturnText
		p.Jump = template.HTMLAttr(`content="0;url=/r/` + nonce + `?b=1"`) // nonce: 22 base64url characters
		s.render(w, r, http.StatusOK, p)
		return
	}
	s.plain(w, r, http.StatusOK, t, t.ReturnTitle, t.ReturnText)
}
