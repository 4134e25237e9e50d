package readerweb

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"time"

	"sigill/bankid"
)

// session is one browser's stay: at most one BankID order, and after a
// successful one the grants it won. Its fields are guarded by Server.mu.
type session struct {
	id      string
	expires time.Time
	order   *order
	grants  map[string]grant // by tokenKey
}

// grant is the right to read one link's message, won with BankID.
type grant struct {
	pn, name string
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

// sessionOf returns the request's live session, or nil. Called with s.mu
// held.
func (s *Server) sessionOf(r *http.Request) *session {
	c, err := r.Cookie(s.cookieName())
	if err != nil || c.Value == "" {
		return nil
	}
	ss := s.sessions[c.Value]
	if ss == nil || !s.now().Before(ss.expires) {
		return nil
	}
	return ss
}

// takeSession removes the request's session from the store and returns it
// (nil when there is none).
func (s *Server) takeSession(r *http.Request) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessionOf(r)
	if ss != nil {
		delete(s.sessions, ss.id)
	}
	return ss
}

// endOrder stops a session's order: its collector ends and cancels it at
// BankID if it is still pending. With wait, endOrder returns only after that,
// so a new order for the same person does not meet alreadyInProgress.
func (s *Server) endOrder(ss *session, wait bool) {
	s.mu.Lock()
	o := ss.order
	s.mu.Unlock()
	if o == nil {
		return
	}
	o.cancel()
	if wait {
		<-o.done
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
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessionOf(r)
	if ss == nil {
		return standing{kind: "none"}
	}
	if g, ok := ss.grants[key]; ok {
		return standing{kind: "granted", sess: ss, grant: g}
	}
	o := ss.order
	if o == nil || o.key != key {
		return standing{kind: "none", sess: ss}
	}
	return standing{kind: o.status, sess: ss, order: o, state: o.orderState}
}

// orderByNonce returns the order of the request's session when its nonce is
// nonce.
func (s *Server) orderByNonce(r *http.Request, nonce string) *order {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessionOf(r)
	if ss == nil || ss.order == nil || ss.order.nonce == "" {
		return nil
	}
	if subtle.ConstantTimeCompare([]byte(ss.order.nonce), []byte(nonce)) != 1 {
		return nil
	}
	return ss.order
}

// message is the order's text for the person, in lang.
func (st orderState) message(t *texts, sameDevice bool) string {
	switch {
	case st.status == "denied" && st.risk:
		return t.RiskText
	case st.status == "denied":
		return t.DeniedText
	case st.rfa != "":
		return st.rfa.Text(t.Lang)
	}
	return bankid.Message(st.status, st.hint, t.Lang, !sameDevice)
}
