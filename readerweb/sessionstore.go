package readerweb

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"sigill/vault"
)

// Stored sessions: what another node (or this one after a restart) must
// know of a browser's session lives in the vault's table reader_sessions,
// so that a browser may land on any node once logged in: the grants its
// logins won. Each request with a cookie reads its record, and a logout or
// a claim on one node ends the old id on every node. A pending BankID order
// is still this node's alone (it lives in memory, with its collector), and
// so is a same-device order's return path (it holds the link token, which
// the store never holds in clear): the login itself needs the node it
// started on.
//
// A record is keyed by SHA-256 of the session id, and its grants by the
// link's tokenKey, so the table holds neither the cookies nor the tokens.

const tSessions = "reader_sessions" // SHA-256(session id) → storedSession (JSON)

var sessionTables = []string{tSessions}

// HookName names the reader's hook in the vault.
const HookName = "reader sessions"

// Hook declares the reader's table; register it in the vault's Options.Hooks.
// At a GDPR erasure it ends every stored session with a grant won by that
// number (eraseSessions).
func Hook() vault.Hook {
	return vault.Hook{Name: HookName, Tables: sessionTables, Erasing: eraseSessions}
}

// eraseSessions deletes the stored sessions holding a grant of
// personalNumber: the grant names the person, and the number must leave
// the store. Such a browser is logged out on its next request.
func eraseSessions(tx vault.Tx, personalNumber, _ string) error {
	var gone [][]byte
	err := tx.Table(tSessions).Scan(nil, func(k, v []byte) error {
		var st storedSession
		if err := json.Unmarshal(v, &st); err != nil {
			return fmt.Errorf("stored session %x: %w", k, err)
		}
		for _, g := range st.Grants {
			if g.PN == personalNumber {
				gone = append(gone, append([]byte(nil), k...))
				break
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range gone {
		if err := tx.Table(tSessions).Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// storedSession is a session as another node needs it.
type storedSession struct {
	Expires time.Time              `json:"expires"`
	Grants  map[string]storedGrant `json:"grants,omitempty"` // by tokenKey, base64url (it is bytes)
}

type storedGrant struct {
	PN    string    `json:"pn"`
	Name  string    `json:"name"`
	Until time.Time `json:"until"`
}

func sessionKey(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

// record is what ss keeps for other nodes; called with s.mu held, or
// before ss is shared.
func (ss *session) record() storedSession {
	st := storedSession{Expires: ss.expires}
	for k, g := range ss.grants {
		if st.Grants == nil {
			st.Grants = map[string]storedGrant{}
		}
		st.Grants[base64.RawURLEncoding.EncodeToString([]byte(k))] = storedGrant{PN: g.pn, Name: g.name, Until: g.until}
	}
	return st
}

// saveSession writes ss's record and deletes the record of the session it
// replaces (gone: an id that must open nothing any more), in one durable
// transaction. A session with nothing another node needs is not written.
func (s *Server) saveSession(ss *session, st storedSession, gone string) (err error) {
	if len(st.Grants) == 0 && gone == "" {
		return nil
	}
	defer func() {
		if err == nil && len(st.Grants) > 0 {
			s.mu.Lock()
			ss.stored = true
			s.mu.Unlock()
		}
	}()
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	err = s.opt.Vault.Update(context.Background(), sessionTables, func(tx vault.Tx) error {
		t := tx.Table(tSessions)
		if gone != "" {
			if err := t.Delete(sessionKey(gone)); err != nil {
				return err
			}
		}
		if len(st.Grants) == 0 {
			return nil
		}
		return t.Put(sessionKey(ss.id), b)
	})
	if err != nil {
		return fmt.Errorf("readerweb: save session: %w", err)
	}
	return nil
}

// forgetSession deletes a session's record: the id opens nothing on any
// node from then on.
func (s *Server) forgetSession(id string) {
	err := s.opt.Vault.Update(context.Background(), sessionTables, func(tx vault.Tx) error {
		return tx.Table(tSessions).Delete(sessionKey(id))
	})
	if err != nil {
		s.log.Error("forgetting a session", "err", err)
	}
}

// loadSession reads a session's record; nil when there is none (never
// written, ended, or past its expiry).
func (s *Server) loadSession(id string) (*storedSession, error) {
	var st *storedSession
	err := s.opt.Vault.View(sessionTables, func(tx vault.Tx) error {
		b, err := tx.Table(tSessions).Get(sessionKey(id))
		if err != nil || b == nil {
			return err
		}
		st = new(storedSession)
		return json.Unmarshal(b, st)
	})
	if err != nil {
		return nil, fmt.Errorf("readerweb: load session: %w", err)
	}
	if st != nil && !s.now().Before(st.Expires) {
		return nil, nil
	}
	return st, nil
}

// syncSession brings this node's copy of the request's session in step
// with its record, before the caller looks at it under s.mu: a session
// another node made is taken in (without an order: those stay where they
// started), and one whose record another node deleted (a logout, a claim)
// is dropped unless it holds this node's pending order. A request without
// a cookie, or a HEAD request, reads nothing.
func (s *Server) syncSession(id string) {
	if id == "" {
		return
	}
	st, err := s.loadSession(id)
	if err != nil {
		s.log.Error("reading a session", "err", err)
		return // this node's copy stands
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[id]
	switch {
	case st == nil && ss != nil && ss.stored: // ended on another node
		if ss.order == nil {
			delete(s.sessions, id)
		} else {
			ss.grants, ss.stored = nil, false // this node's order goes on
		}
	case st != nil && ss == nil && !s.closed && len(s.sessions) < maxSessions:
		ss = &session{id: id, expires: st.Expires, stored: true}
		s.adoptLocked(ss, st)
		s.sessions[id] = ss
	case st != nil && ss != nil:
		s.adoptLocked(ss, st)
	}
}

// adoptLocked takes a record's grants into ss; s.mu held.
func (s *Server) adoptLocked(ss *session, st *storedSession) {
	now := s.now()
	for enc, g := range st.Grants {
		k, err := base64.RawURLEncoding.DecodeString(enc)
		if err == nil && now.Before(g.Until) {
			if ss.grants == nil {
				ss.grants = map[string]grant{}
			}
			ss.grants[string(k)] = grant{pn: g.PN, name: g.Name, until: g.Until}
		}
	}
}

// sweepStored deletes the records of sessions past their expiry.
func (s *Server) sweepStored() error {
	now := s.now()
	var old [][]byte
	err := s.opt.Vault.View(sessionTables, func(tx vault.Tx) error {
		return tx.Table(tSessions).Scan(nil, func(k, v []byte) error {
			var st storedSession
			if json.Unmarshal(v, &st) != nil || !now.Before(st.Expires) {
				old = append(old, append([]byte(nil), k...))
			}
			return nil
		})
	})
	if err != nil || len(old) == 0 {
		return err
	}
	return s.opt.Vault.Update(context.Background(), sessionTables, func(tx vault.Tx) error {
		for _, k := range old {
			if err := tx.Table(tSessions).Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

var errNoHook = errors.New("readerweb: the vault was opened without the reader's hook (readerweb.Hook): sessions would not reach the other nodes")
