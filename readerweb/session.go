package readerweb

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"time"

	"sigill/bankid"
)

// session is one browser's stay: at most one BankID order, and the grants
// its successful orders won. A new order or a login replaces the session
// (a new id) but carries the unexpired grants over, so a recipient with two
// messages can read both in one browser. Its fields are guarded by
// Server.mu.
type session struct {
	id      string
	expires time.Time
	order   *order
	grants  map[string]grant // by tokenKey
	// returns maps the nonce (returnKey) of each same-device order this
	// browser started to its message, and outlives the order: on iOS the BankID
	// app's return often opens a new tab after the first one has already
	// polled and logged in, and that return must still lead to the message.
	returns map[string]string
	// stored: the grants are in the session's record (sessionstore.go), so
	// the record's end (a logout or a claim on another node) ends them.
	stored bool
}

// grant is the right to read one link's message, won with BankID. It lasts
// reader.session_ttl from the login, whichever session carries it.
type grant struct {
	pn, name string
	until    time.Time
}

// carry copies from's unexpired grants and returns into to. Called with
// s.mu held, or before to is shared.
func (s *Server) carry(to, from *session) {
	if from == nil {
		return
	}
	now := s.now()
	for k, g := range from.grants {
		if now.Before(g.until) {
			if to.grants == nil {
				to.grants = map[string]grant{}
			}
			to.grants[k] = g
		}
	}
	for n, path := range from.returns {
		if to.returns == nil {
			to.returns = map[string]string{}
		}
		to.returns[n] = path
	}
}

func randomID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("readerweb: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// cookieName is __Host-sigill with Secure (bound to this host, path / and
// HTTPS), plain sigill in dev.
func (s *Server) cookieName() string {
	if s.opt.Secure {
		return "__Host-sigill"
	}
	return "sigill"
}

func (s *Server) setCookie(w http.ResponseWriter, ss *session) {
	http.SetCookie(w, &http.Cookie{
		Name:     s.cookieName(),
		Value:    ss.id,
		Path:     "/",
		MaxAge:   int(s.opt.SessionTTL / time.Second),
		HttpOnly: true,
		Secure:   s.opt.Secure,
		SameSite: http.SameSiteStrictMode,
	})
}

func (s *Server) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name:     s.cookieName(),
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   s.opt.Secure,
		SameSite: http.SameSiteStrictMode,
	})
}

// cookieID is the session id the request's cookie names, or "".
func (s *Server) cookieID(r *http.Request) string {
	c, err := r.Cookie(s.cookieName())
	if err != nil {
		return ""
	}
	return c.Value
}

// sessionOf returns the request's live session, or nil. Called with s.mu
// held, after syncSession.
func (s *Server) sessionOf(r *http.Request) *session {
	id := s.cookieID(r)
	if id == "" {
		return nil
	}
	ss := s.sessions[id]
	if ss == nil || !s.now().Before(ss.expires) {
		return nil
	}
	return ss
}

// takeSession removes the request's session, here and from every node
// (its record), and returns it (nil when there is none). A pending order
// that another node collects is cancelled at BankID here; one collected
// here is the caller's to end (endOrder).
func (s *Server) takeSession(r *http.Request) *session {
	s.syncSession(s.cookieID(r))
	s.mu.Lock()
	ss := s.sessionOf(r)
	if ss != nil {
		delete(s.sessions, ss.id)
	}
	s.mu.Unlock()
	if ss == nil {
		return nil
	}
	if so := s.forgetSession(ss.id); so != nil && !s.collecting(sessionKey(ss.id), so.Ref) {
		s.cancelRef(so.Ref, so.MessageID)
	}
	return ss
}

// collecting tells whether this node's collector follows the order ref of
// the session skey.
func (s *Server) collecting(skey []byte, ref string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.collectors[string(skey)]
	return o != nil && o.ref == ref
}

// endOrder stops a session's order: it leaves the session's record (so no
// node shows it any more, and its collector, wherever it runs, stops at its
// next write) and is cancelled at BankID, by this node's collector when it
// runs here, else from here. With wait, endOrder returns only after that,
// so a new order for the same person does not meet alreadyInProgress.
func (s *Server) endOrder(ss *session, wait bool) {
	s.mu.Lock()
	o := ss.order
	s.mu.Unlock()
	if o == nil {
		return
	}
	so, err := s.endStored(o.skey, false, false)
	if err != nil {
		s.log.Error("ending an order", "message", o.messageID, "err", err)
	}
	s.mu.Lock()
	local := s.collectors[string(o.skey)]
	s.mu.Unlock()
	if local != nil && local.ref == o.ref {
		local.cancel()
		if wait {
			<-local.done
		}
		return
	}
	if so != nil {
		s.cancelRef(so.Ref, so.MessageID)
	}
}

// standing is what a request's session holds for one link, copied under the
// lock.
type standing struct {
	kind  string // "none", "pending", "failed", "denied", "complete" or "granted"
	sess  *session
	order *order
	state orderState
	grant grant
}

// standingOf looks at the request's session for the link with key. A HEAD
// request never has a session: it changes nothing and shows nothing.
func (s *Server) standingOf(r *http.Request, key string) standing {
	if r.Method == http.MethodHead {
		return standing{kind: "none"}
	}
	s.syncSession(s.cookieID(r))
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessionOf(r)
	if ss == nil {
		return standing{kind: "none"}
	}
	if g, ok := ss.grants[key]; ok && s.now().Before(g.until) {
		return standing{kind: "granted", sess: ss, grant: g}
	}
	o := ss.order
	if o == nil || o.key != key {
		return standing{kind: "none", sess: ss}
	}
	return standing{kind: o.status, sess: ss, order: o, state: o.orderState}
}

// returnPathOf is where the BankID app's return with nonce leads for the
// request's session: the message of the same-device order it started with
// that nonce, pending or done; "" when there is none.
func (s *Server) returnPathOf(r *http.Request, nonce string) string {
	s.syncSession(s.cookieID(r))
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss := s.sessionOf(r); ss != nil {
		return ss.returns[returnKey(nonce)]
	}
	return ""
}

// message is the order's text for the person, in lang.
func (st orderState) message(t *texts, sameDevice bool) string {
	switch {
	case st.status == "denied" && st.risk:
		return t.RiskText
	case st.status == "denied":
		return t.DeniedText
	case st.replaced:
		return t.ReplacedText
	case st.rfa != "":
		return st.rfa.Text(t.Lang)
	}
	return bankid.Message(st.status, st.hint, t.Lang, !sameDevice)
}
