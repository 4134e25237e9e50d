package staffweb

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"sigill/addressing"
	"sigill/vault"
)

// The stages of a session (see the package doc).
const (
	StageSecondFactor = "second_factor" // the password was right; a code is due
	StageEnrol        = "enrol"         // the password was right; TOTP must be enrolled first
	StageIn           = "in"            // signed in
)

const (
	tableSessions  = "staffweb_sessions"            // SHA-256(cookie value) → sessionRecord (JSON)
	tableByAccount = "staffweb_sessions_by_account" // address ‖ 0 ‖ SHA-256(cookie value) → "1"

	// pendingFor is how long a session may stay before "in": time to find
	// the phone, or to install an authenticator app and enrol.
	pendingFor = 10 * time.Minute
	// touchEvery: a session's last request is written at most this often,
	// so that reading pages does not cost a durable write each. The idle
	// timeout is as exact as this.
	touchEvery = time.Minute
)

var tables = []string{tableSessions, tableByAccount}

// Hook declares the staff web's tables to the vault. Every vault the
// staff web runs on, and every command that opens one, opens it with Hook.
func Hook() vault.Hook { return vault.Hook{Name: "staff web", Tables: tables} }

// sessionRecord is a session as stored.
type sessionRecord struct {
	Account string `json:"account"`
	// AccountCreated tells the account apart from one removed and made
	// anew under the same address, which the session must not open.
	AccountCreated time.Time `json:"account_created"`
	// Generation is the account's credential generation at sign-in
	// (vault.Account.Generation): a password set or a second factor reset
	// since, here or by `sigill user`, ends the session, as it ends the
	// account's SMTP and IMAP sessions.
	Generation uint64    `json:"generation,omitempty"`
	Stage      string    `json:"stage"`
	Created    time.Time `json:"created"` // when this stage began (for "in": sign-in)
	LastSeen   time.Time `json:"last_seen"`
	// Notice is the key of a text to show once on the next page.
	Notice string `json:"notice,omitempty"`
}

// Session is a signed-in user's session, as handlers get it.
type Session struct {
	Account vault.Account // read anew at this request
	Stage   string
	Created time.Time // sign-in (for Stage "in")

	key    []byte // SHA-256 of the cookie value
	notice string
}

// cookieName is __Host- prefixed over HTTPS: the browser then takes the
// cookie only from a secure origin, for Path=/, without a Domain.
func (s *Server) cookieName() string {
	if s.opt.Secure {
		return "__Host-sigill-staff"
	}
	return "sigill-staff"
}

func sessionKey(value string) []byte {
	sum := sha256.Sum256([]byte(value))
	return sum[:]
}

func indexKey(address string, key []byte) []byte {
	return append(append([]byte(strings.ToLower(address)), 0), key...)
}

// cookieKey is the key of the session r's cookie names, or nil.
func (s *Server) cookieKey(r *http.Request) []byte {
	c, err := r.Cookie(s.cookieName())
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return nil
	}
	return sessionKey(c.Value)
}

func (s *Server) setCookie(w http.ResponseWriter, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.opt.Secure, SameSite: http.SameSiteLaxMode,
	})
}

// startSession makes a new session for acct at stage and sets its cookie.
// The session r came with, if any, is deleted in the same transaction, so
// an id from before a step never opens anything after it; so are the
// account's sessions that have run out.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, acct vault.Account, stage string) (*Session, error) {
	value := base64.RawURLEncoding.EncodeToString(randomBytes(32))
	key := sessionKey(value)
	now := s.opt.Now().UTC()
	rec, err := json.Marshal(sessionRecord{Account: acct.Address, AccountCreated: acct.Created, Generation: acct.Generation, Stage: stage, Created: now, LastSeen: now})
	if err != nil {
		return nil, err
	}
	old := s.cookieKey(r)
	err = s.opt.Vault.Update(r.Context(), tables, func(tx vault.Tx) error {
		if old != nil {
			if err := deleteSession(tx, old); err != nil {
				return err
			}
		}
		if err := s.deleteExpired(tx, acct.Address, now); err != nil {
			return err
		}
		if err := tx.Table(tableSessions).Put(key, rec); err != nil {
			return err
		}
		return tx.Table(tableByAccount).Put(indexKey(acct.Address, key), []byte("1"))
	})
	if err != nil {
		return nil, fmt.Errorf("staffweb: start session: %w", err)
	}
	s.setCookie(w, value, 0)
	s.opt.Logger.Info("staffweb: session", "account", addressing.MaskPersonalNumbers(acct.Address), "stage", stage, "ip", clientIP(r).String())
	return &Session{Account: acct, Stage: stage, Created: now, key: key}, nil
}

// deleteSession deletes one session and its index entry.
func deleteSession(tx vault.Tx, key []byte) error {
	raw, err := tx.Table(tableSessions).Get(key)
	if err != nil || raw == nil {
		return err
	}
	var rec sessionRecord
	if err := json.Unmarshal(raw, &rec); err == nil {
		if err := tx.Table(tableByAccount).Delete(indexKey(rec.Account, key)); err != nil {
			return err
		}
	}
	return tx.Table(tableSessions).Delete(key)
}

// accountSessions lists the keys of an account's sessions.
func accountSessions(tx vault.Tx, address string) ([][]byte, error) {
	prefix := indexKey(address, nil)
	var keys [][]byte
	err := tx.Table(tableByAccount).Scan(prefix, func(k, _ []byte) error {
		keys = append(keys, bytes.Clone(k[len(prefix):]))
		return nil
	})
	return keys, err
}

// deleteExpired deletes an account's sessions that have run out.
func (s *Server) deleteExpired(tx vault.Tx, address string, now time.Time) error {
	keys, err := accountSessions(tx, address)
	if err != nil {
		return err
	}
	for _, k := range keys {
		raw, err := tx.Table(tableSessions).Get(k)
		if err != nil {
			return err
		}
		var rec sessionRecord
		if raw == nil || json.Unmarshal(raw, &rec) != nil || s.expired(rec, now) {
			if err := tx.Table(tableSessions).Delete(k); err != nil {
				return err
			}
			if err := tx.Table(tableByAccount).Delete(indexKey(address, k)); err != nil {
				return err
			}
		}
	}
	return nil
}

// expired: the session has run out, by stage.
func (s *Server) expired(rec sessionRecord, now time.Time) bool {
	if rec.Stage != StageIn {
		return now.Sub(rec.Created) >= pendingFor
	}
	return now.Sub(rec.LastSeen) >= s.opt.SessionIdle || now.Sub(rec.Created) >= s.opt.SessionMax
}

// endSession deletes r's session, if any, and clears its cookie.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request) error {
	s.setCookie(w, "", -1)
	key := s.cookieKey(r)
	if key == nil {
		return nil
	}
	return s.opt.Vault.Update(r.Context(), tables, func(tx vault.Tx) error { return deleteSession(tx, key) })
}

// endOtherSessions deletes every session of address but keep's, which it
// moves to the account's credential generation: the change the user just
// made here (a new password, a reset) ends every session but this one.
func (s *Server) endOtherSessions(ctx context.Context, address string, keep []byte) error {
	return s.opt.Vault.Update(ctx, tables, func(tx vault.Tx) error {
		acct, err := tx.Account(address)
		if err != nil {
			return err
		}
		if err := changeSession(tx, keep, func(rec *sessionRecord) { rec.Generation = acct.Generation }); err != nil {
			return err
		}
		keys, err := accountSessions(tx, address)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if !bytes.Equal(k, keep) {
				if err := deleteSession(tx, k); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// changeSession changes a stored session in tx, if it is still there.
func changeSession(tx vault.Tx, key []byte, change func(*sessionRecord)) error {
	raw, err := tx.Table(tableSessions).Get(key)
	if err != nil || raw == nil {
		return err
	}
	var rec sessionRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return err
	}
	change(&rec)
	out, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return tx.Table(tableSessions).Put(key, out)
}

// errNoSession: r has no session that holds (none, unknown, run out, or
// its account disabled, removed or made anew, or its password or second
// factor changed).
var errNoSession = errors.New("no session")

// session reads r's session and its account in one read. A session that
// no longer holds is deleted and errNoSession returned.
func (s *Server) session(r *http.Request) (*Session, error) {
	key := s.cookieKey(r)
	if key == nil {
		return nil, errNoSession
	}
	now := s.opt.Now().UTC()
	var rec sessionRecord
	var acct vault.Account
	var found, holds bool
	err := s.opt.Vault.View(tables, func(tx vault.Tx) error {
		raw, err := tx.Table(tableSessions).Get(key)
		if err != nil || raw == nil {
			return err
		}
		found = true
		if err := json.Unmarshal(raw, &rec); err != nil {
			return nil // unreadable: ended below
		}
		acct, err = tx.Account(rec.Account)
		switch {
		case errors.Is(err, vault.ErrNotFound):
			return nil
		case err != nil:
			return err
		}
		holds = !acct.Disabled && acct.Created.Equal(rec.AccountCreated) && acct.Generation == rec.Generation && !s.expired(rec, now)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("staffweb: read session: %w", err)
	}
	if !found {
		return nil, errNoSession
	}
	if !holds {
		if err := s.opt.Vault.Update(r.Context(), tables, func(tx vault.Tx) error { return deleteSession(tx, key) }); err != nil {
			return nil, fmt.Errorf("staffweb: end session: %w", err)
		}
		return nil, errNoSession
	}
	if now.Sub(rec.LastSeen) >= touchEvery {
		if err := s.updateSession(r.Context(), key, func(rec *sessionRecord) { rec.LastSeen = now }); err != nil {
			return nil, err
		}
	}
	return &Session{Account: acct, Stage: rec.Stage, Created: rec.Created, key: key, notice: rec.Notice}, nil
}

// updateSession changes a stored session, if it is still there.
func (s *Server) updateSession(ctx context.Context, key []byte, change func(*sessionRecord)) error {
	err := s.opt.Vault.Update(ctx, tables, func(tx vault.Tx) error { return changeSession(tx, key, change) })
	if err != nil {
		return fmt.Errorf("staffweb: update session: %w", err)
	}
	return nil
}

// notify keeps a text (by key) to show once on the session's next page,
// after a POST's redirect.
func (s *Server) notify(r *http.Request, sess *Session, key string) {
	if err := s.updateSession(r.Context(), sess.key, func(rec *sessionRecord) { rec.Notice = key }); err != nil {
		s.opt.Logger.Error("staffweb: notice", "err", err)
	}
}

// takeNotice clears the notice a page has shown.
func (s *Server) takeNotice(r *http.Request, sess *Session) {
	sess.notice = ""
	if err := s.updateSession(r.Context(), sess.key, func(rec *sessionRecord) { rec.Notice = "" }); err != nil {
		s.opt.Logger.Error("staffweb: notice", "err", err)
	}
}

// SignedIn guards a page of a signed-in user: h gets the session, with the
// account read at this request. Without one the browser is sent to sign
// in; a session half-way (second factor or enrolment due) is sent there.
func (s *Server) SignedIn(h func(http.ResponseWriter, *http.Request, *Session)) http.Handler {
	return s.atStage(StageIn, h)
}

// stagePages are where a session at each stage belongs.
var stagePages = map[string]string{StageSecondFactor: "/login/2fa", StageEnrol: "/login/enrol", StageIn: "/"}

// atStage guards a page of sessions at stage: one at another stage is
// sent to its own page, a browser without one to /login.
func (s *Server) atStage(stage string, h func(http.ResponseWriter, *http.Request, *Session)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, err := s.session(r)
		switch {
		case errors.Is(err, errNoSession):
			s.setCookie(w, "", -1)
			seeOther(w, r, "/login")
		case err != nil:
			s.fail(w, r, "session", err)
		case sess.Stage != stage:
			seeOther(w, r, stagePages[sess.Stage])
		default:
			h(w, r, sess)
		}
	})
}

// adminOnly guards an administrator's page.
func (s *Server) adminOnly(h func(http.ResponseWriter, *http.Request, *Session)) http.Handler {
	return s.SignedIn(func(w http.ResponseWriter, r *http.Request, sess *Session) {
		if !sess.Account.Admin {
			s.problem(w, r, http.StatusForbidden, "ForbiddenTitle", "ForbiddenText")
			return
		}
		h(w, r, sess)
	})
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand since Go 1.24)
	return b
}

// RunSweeper deletes run-out sessions every interval until ctx ends. A
// session nobody comes back to is otherwise deleted only at its account's
// next sign-in (or never, for a removed account).
func (s *Server) RunSweeper(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.sweep(ctx); err != nil && ctx.Err() == nil {
				s.opt.Logger.Error("staffweb: sweeping sessions", "err", err)
			}
		}
	}
}

// sweep deletes every session that has run out and returns how many.
func (s *Server) sweep(ctx context.Context) (int, error) {
	now := s.opt.Now().UTC()
	n := 0
	err := s.opt.Vault.Update(ctx, tables, func(tx vault.Tx) error {
		n = 0
		var gone [][]byte
		err := tx.Table(tableSessions).Scan(nil, func(k, v []byte) error {
			var rec sessionRecord
			if json.Unmarshal(v, &rec) != nil || s.expired(rec, now) {
				gone = append(gone, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range gone {
			if err := deleteSession(tx, k); err != nil {
				return err
			}
		}
		n = len(gone)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("staffweb: sweep sessions: %w", err)
	}
	return n, nil
}
