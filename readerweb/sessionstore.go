package readerweb

import (
	"bytes"
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
// so that a browser may land on any node: the grants its logins won, its
// BankID order (orderstore.go) and its same-device orders' return paths
// (sealed: they hold the link token). Each request with a cookie reads its
// record, once, and a logout or a claim on one node ends the old id on
// every node.
//
// A record is keyed by SHA-256 of the session id, and its grants by the
// link's tokenKey, so the table holds neither the cookies nor the tokens.

const tSessions = "reader_sessions" // SHA-256(session id) → storedSession (JSON)

var sessionTables = []string{tSessions, tOrders, tPersons}

// HookName names the reader's hook in the vault.
const HookName = "reader sessions"

// Hook declares the reader's table; register it in the vault's Options.Hooks.
// At a GDPR erasure it ends every stored session with a grant won by that
// number, or an order that identified it (eraseSessions).
func Hook() vault.Hook {
	return vault.Hook{Name: HookName, Tables: sessionTables, Erasing: eraseSessions}
}

// eraseSessions deletes the stored sessions holding a grant of
// personalNumber, an order that BankID completed (or denied) as that
// person, or a pending order that names them: each names the person, and
// the number must leave the store. Such a browser is logged out on its next request.
func eraseSessions(tx vault.Tx, personalNumber, _ string) error {
	person := personKey(personalNumber)
	var gone [][]byte
	err := tx.Table(tSessions).Scan(nil, func(k, v []byte) error {
		var st storedSession
		if err := json.Unmarshal(v, &st); err != nil {
			return fmt.Errorf("stored session %x: %w", k, err)
		}
		holds := st.Order != nil && (st.Order.PN == personalNumber || bytes.Equal(st.Order.Person, person))
		for _, g := range st.Grants {
			holds = holds || g.PN == personalNumber
		}
		if holds {
			gone = append(gone, append([]byte(nil), k...))
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
		// A pending order that names the person leaves reader_orders too:
		// its collector stops at its next write.
		if err := tx.Table(tOrders).Delete(k); err != nil {
			return err
		}
	}
	return tx.Table(tPersons).Delete(person)
}

// storedSession is a session as another node needs it.
type storedSession struct {
	Expires time.Time              `json:"expires"`
	Grants  map[string]storedGrant `json:"grants,omitempty"` // by tokenKey, base64url (it is bytes)
	// Returns: a same-device order's return path (/m/<token>…) by
	// returnKey of its nonce, sealed under the session's key.
	Returns map[string][]byte `json:"returns,omitempty"`
	Order   *storedOrder      `json:"order,omitempty"`
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
	for k, path := range ss.returns {
		if st.Returns == nil {
			st.Returns = map[string][]byte{}
		}
		st.Returns[k] = seal(ss.id, "return "+k, []byte(path))
	}
	if ss.order != nil {
		st.Order = storedOrderOf(ss.id, ss.order)
	}
	for k, g := range ss.grants {
		if st.Grants == nil {
			st.Grants = map[string]storedGrant{}
		}
		st.Grants[base64.RawURLEncoding.EncodeToString([]byte(k))] = storedGrant{PN: g.pn, Name: g.name, Until: g.until}
	}
	return st
}

// saveStart writes the record of a session that has just started an
// order: the session with its order, the order's entry in reader_orders
// (this node collects it) and, when the order names a person, that
// person's entry in reader_persons.
func (s *Server) saveStart(ss *session, st storedSession) error {
	skey := sessionKey(ss.id)
	err := s.opt.Vault.Update(context.Background(), sessionTables, func(tx vault.Tx) error {
		if err := putJSON(tx.Table(tSessions), skey, st); err != nil {
			return err
		}
		if err := putJSON(tx.Table(tOrders), skey, orderBeat{Owner: s.node, Beat: s.now()}); err != nil {
			return err
		}
		if st.Order.Person != nil {
			return tx.Table(tPersons).Put(st.Order.Person, skey)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("readerweb: save session: %w", err)
	}
	s.mu.Lock()
	ss.stored = true
	s.mu.Unlock()
	return nil
}

// forgetSession deletes a session's record: the id opens nothing on any
// node from then on. It returns the session's order when it was pending
// (nil otherwise): it is ended in the store, and the caller cancels it at
// BankID.
func (s *Server) forgetSession(id string) *storedOrder {
	skey := sessionKey(id)
	var pending *storedOrder
	err := s.opt.Vault.Update(context.Background(), sessionTables, func(tx vault.Tx) error {
		pending = nil
		var rec storedSession
		ok, err := getJSON(tx.Table(tSessions), skey, &rec)
		if err != nil {
			return err
		}
		if ok && rec.Order != nil && rec.Order.Status == "pending" {
			pending = rec.Order
			if err := dropOrderIndex(tx, skey, rec.Order); err != nil {
				return err
			}
		}
		return tx.Table(tSessions).Delete(skey)
	})
	if err != nil {
		s.log.Error("forgetting a session", "err", err)
		return nil
	}
	return pending
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
// another node made is taken in, with its order as the record tells it
// (whichever node collects it), and one whose record another node deleted
// (a logout, a claim, a new start) is dropped, its order here stopped. A
// request without a cookie, or a HEAD request, reads nothing.
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
		delete(s.sessions, id)
		if ss.order != nil {
			ss.order.cancel() // a collector here ends; the order is over
		}
	case st != nil && ss == nil && !s.closed && len(s.sessions) < maxSessions:
		ss = &session{id: id, expires: st.Expires, stored: true}
		s.adoptLocked(ss, st)
		s.sessions[id] = ss
	case st != nil && ss != nil:
		ss.stored = true
		s.adoptLocked(ss, st)
	}
}

// adoptLocked takes a record's grants, return paths and order into ss;
// s.mu held.
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
	for k, sealed := range st.Returns {
		if _, ok := ss.returns[k]; ok {
			continue
		}
		path, err := unseal(ss.id, "return "+k, sealed)
		if err != nil {
			continue
		}
		if ss.returns == nil {
			ss.returns = map[string]string{}
		}
		ss.returns[k] = string(path)
	}
	so := st.Order
	switch {
	case so == nil:
		ss.order = nil // cancelled (a collector here stops at its next write)
	case ss.order != nil && ss.order.ref == so.Ref:
		claimed := ss.order.claimed
		ss.order.orderState = so.state()
		ss.order.claimed = claimed
	default:
		if o := s.collectors[string(sessionKey(ss.id))]; o != nil && o.ref == so.Ref {
			// This node took the order over from another.
			o.orderState = so.state()
			ss.order = o
			return
		}
		o, err := remoteOrder(ss.id, so)
		if err != nil {
			s.log.Error("reading a session's order", "err", err)
			return
		}
		ss.order = o
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
			b, err := tx.Table(tSessions).Get(k)
			if err != nil {
				return err
			}
			var rec storedSession
			_ = json.Unmarshal(b, &rec) // a record that does not decode goes too
			if err := dropOrderIndex(tx, k, rec.Order); err != nil {
				return err
			}
			if err := tx.Table(tSessions).Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

var errNoHook = errors.New("readerweb: the vault was opened without the reader's hook (readerweb.Hook): sessions would not reach the other nodes")
