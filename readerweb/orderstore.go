package readerweb

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"sigill/bankid"
	"sigill/vault"
)

// Stored orders: a pending BankID order lives in its session's record
// (reader_sessions, storedOrder), so that a browser started through one node
// can poll, see its QR code, return from the app, complete and read through
// any other. Three tables:
//
//	reader_sessions  SHA-256(session id) → the session with its order (state,
//	                 BankID's orderRef, the secrets sealed, see below)
//	reader_orders    SHA-256(session id) → who collects the order and when it
//	                 last said so (heartbeat); only while the order is pending
//	reader_persons   SHA-256(label, personal number) → the session hash of
//	                 the pending order that names that person
//
// One node collects each pending order (its owner). It writes the order's
// record when what BankID says changes, and the heartbeat in reader_orders
// at most every beatEvery otherwise. A node whose heartbeat is older than
// staleAfter is taken for dead: every node scans reader_orders every
// takeoverEvery, and one takes the order over (a write that finds the
// heartbeat still stale) and collects from then on.
//
// Ending an order is a write, not a message to its owner: whoever ends it
// (cancel, logout, a new start for the same person, on any node) deletes its
// entry in reader_orders and marks or removes the order in the record, then
// cancels it at BankID itself with the orderRef. The owner's next write
// finds the entry gone and stops collecting. The owner's own writes are
// conditional in the same way (the entry still names it, the record still
// holds the order pending), so an order ended elsewhere is never brought
// back.
//
// What is sealed: autoStartToken, qrStartToken and qrStartSecret (anyone with
// them could start or scan the order) and a same-device order's return path
// (it holds the link token) are sealed with AES-256-GCM under a key derived
// (HKDF-SHA256) from the session id, which only the browser's cookie holds:
// the store has only its hash. Every request that needs them (the page, a
// poll's QR code, qr.svg, /r/) carries the cookie; the collector needs none
// of them. BankID's orderRef is stored in clear: the collector on another
// node needs it with no request at hand, and it is of no use without the
// relying party's client certificate. What the order learns (the person's
// number and name once complete) is stored as the session's grants are.

const (
	tOrders  = "reader_orders"  // SHA-256(session id) → orderBeat (JSON)
	tPersons = "reader_persons" // personKey(pn) → SHA-256(session id)

	beatEvery     = 5 * time.Second  // the owner's heartbeat, when nothing else is written
	staleAfter    = 20 * time.Second // a heartbeat this old: the owner is taken for dead
	takeoverEvery = 5 * time.Second  // how often a node looks for orders to take over
)

// storedOrder is a session's order in its record.
type storedOrder struct {
	Ref        string    `json:"ref"`    // BankID's orderRef
	Sealed     []byte    `json:"sealed"` // orderSecrets, sealed under the session's key
	Key        []byte    `json:"key"`    // tokenKey of the link
	MessageID  string    `json:"message"`
	Recipient  int       `json:"recipient"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent,omitempty"` // for the audit trail of a denial
	SameDevice bool      `json:"same_device,omitempty"`
	Person     []byte    `json:"person,omitempty"` // personKey of the required person
	Started    time.Time `json:"started"`

	Status   string `json:"status"`
	Hint     string `json:"hint,omitempty"`
	RFA      string `json:"rfa,omitempty"`
	Risk     bool   `json:"risk,omitempty"`
	Replaced bool   `json:"replaced,omitempty"`
	PN       string `json:"pn,omitempty"`
	Name     string `json:"name,omitempty"`
}

// orderSecrets are what the store never holds in clear.
type orderSecrets struct {
	AutoStart string `json:"a"`
	QRToken   string `json:"t"`
	QRSecret  string `json:"s"`
}

// orderBeat is a pending order's entry in reader_orders.
type orderBeat struct {
	Owner string    `json:"owner"` // Server.node
	Beat  time.Time `json:"beat"`
}

var orderTables = []string{tSessions, tOrders, tPersons}

// personKey names a person in reader_persons. It is a pseudonym, not a
// secret: personal numbers are few enough to be tried one by one.
func personKey(pn string) []byte {
	h := sha256.Sum256([]byte("sigill reader person\x00" + pn))
	return h[:]
}

// sessionAEAD is the seal of what a session's record must not hold in
// clear, keyed by the session id itself.
func sessionAEAD(id string) cipher.AEAD {
	key, err := hkdf.Key(sha256.New, []byte(id), nil, "sigill readerweb v1: session seal", 32)
	if err != nil {
		panic("readerweb: hkdf: " + err.Error())
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic("readerweb: aes: " + err.Error())
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("readerweb: gcm: " + err.Error())
	}
	return aead
}

// seal encrypts plain for session id; what names its purpose (bound in).
func seal(id, what string, plain []byte) []byte {
	aead := sessionAEAD(id)
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	return aead.Seal(nonce, nonce, plain, []byte(what))
}

func unseal(id, what string, sealed []byte) ([]byte, error) {
	aead := sessionAEAD(id)
	if len(sealed) < aead.NonceSize() {
		return nil, errors.New("readerweb: sealed value too short")
	}
	return aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(what))
}

// returnKey names a same-device order's return nonce in a session.
func returnKey(nonce string) string {
	h := sha256.Sum256([]byte("sigill reader return\x00" + nonce))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// storedOrderOf is o as its session's record keeps it; s.mu held or o not
// yet shared.
func storedOrderOf(sid string, o *order) *storedOrder {
	sec, _ := json.Marshal(orderSecrets{AutoStart: o.autoStart, QRToken: o.qrToken, QRSecret: o.qrSecret})
	so := &storedOrder{
		Ref: o.ref, Sealed: seal(sid, "order", sec), Key: []byte(o.key), MessageID: o.messageID,
		Recipient: o.recipient, IP: o.ip, UserAgent: o.userAgent, SameDevice: o.sameDevice, Started: o.started,
	}
	if pn := onlyLogin(o.rcpt); pn != "" {
		so.Person = personKey(pn)
	}
	so.setState(o.orderState)
	return so
}

func (so *storedOrder) setState(st orderState) {
	so.Status, so.Hint, so.RFA, so.Risk, so.Replaced, so.PN, so.Name =
		st.status, st.hint, string(st.rfa), st.risk, st.replaced, st.pn, st.name
}

func (so *storedOrder) state() orderState {
	return orderState{status: so.Status, hint: so.Hint, rfa: bankid.RFA(so.RFA), risk: so.Risk, replaced: so.Replaced, pn: so.PN, name: so.Name}
}

// remoteOrder is a stored order as a node that does not collect it sees it
// for a request of session sid: its state and, unsealed, its secrets.
func remoteOrder(sid string, so *storedOrder) (*order, error) {
	b, err := unseal(sid, "order", so.Sealed)
	if err != nil {
		return nil, fmt.Errorf("readerweb: unseal order: %w", err)
	}
	var sec orderSecrets
	if err := json.Unmarshal(b, &sec); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	close(done)
	return &order{
		ref: so.Ref, autoStart: sec.AutoStart, qrToken: sec.QRToken, qrSecret: sec.QRSecret,
		key: string(so.Key), messageID: so.MessageID, recipient: so.Recipient, ip: so.IP, userAgent: so.UserAgent,
		sameDevice: so.SameDevice, started: so.Started, skey: sessionKey(sid),
		cancel: func() {}, done: done, orderState: so.state(),
	}, nil
}

// getJSON reads key of table into v; false when missing.
func getJSON(t vault.Table, key []byte, v any) (bool, error) {
	b, err := t.Get(key)
	if err != nil || b == nil {
		return false, err
	}
	return true, json.Unmarshal(b, v)
}

func putJSON(t vault.Table, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return t.Put(key, b)
}

// dropOrderIndex deletes a pending order's entry in reader_orders and its
// person's entry (when it still points at the session skey).
func dropOrderIndex(tx vault.Tx, skey []byte, so *storedOrder) error {
	if err := tx.Table(tOrders).Delete(skey); err != nil {
		return err
	}
	if so == nil || so.Person == nil {
		return nil
	}
	persons := tx.Table(tPersons)
	cur, err := persons.Get(so.Person)
	if err != nil || cur == nil || string(cur) != string(skey) {
		return err
	}
	return persons.Delete(so.Person)
}

var errNotCollecting = errors.New("readerweb: the order is no longer this node's to collect")

// recordState writes what the collector learnt of o into its session's
// record, and the heartbeat, if this node still collects o (its entry in
// reader_orders names this node) and the record still holds o pending;
// errNotCollecting otherwise: the order was ended, or taken over, elsewhere.
// An order that ends leaves reader_orders and reader_persons.
func (s *Server) recordState(o *order, st orderState) error {
	return s.opt.Vault.Update(context.Background(), orderTables, func(tx vault.Tx) error {
		if err := s.mustCollect(tx, o); err != nil {
			return err
		}
		var rec storedSession
		ok, err := getJSON(tx.Table(tSessions), o.skey, &rec)
		if err != nil {
			return err
		}
		if !ok || rec.Order == nil || rec.Order.Ref != o.ref || rec.Order.Status != "pending" {
			return dropOrderIndex(tx, o.skey, rec.Order)
		}
		rec.Order.setState(st)
		if err := putJSON(tx.Table(tSessions), o.skey, rec); err != nil {
			return err
		}
		if st.status != "pending" {
			return dropOrderIndex(tx, o.skey, rec.Order)
		}
		return putJSON(tx.Table(tOrders), o.skey, orderBeat{Owner: s.node, Beat: s.now()})
	})
}

// heartbeat tells the other nodes that this one still collects o;
// errNotCollecting when it does not any more.
func (s *Server) heartbeat(o *order) error {
	return s.opt.Vault.Update(context.Background(), orderTables, func(tx vault.Tx) error {
		if err := s.mustCollect(tx, o); err != nil {
			return err
		}
		return putJSON(tx.Table(tOrders), o.skey, orderBeat{Owner: s.node, Beat: s.now()})
	})
}

// mustCollect is errNotCollecting unless o's entry in reader_orders names
// this node.
func (s *Server) mustCollect(tx vault.Tx, o *order) error {
	var beat orderBeat
	ok, err := getJSON(tx.Table(tOrders), o.skey, &beat)
	if err != nil {
		return err
	}
	if !ok || beat.Owner != s.node {
		return errNotCollecting
	}
	return nil
}

// endStored ends the pending order of the session skey in the store: with
// replaced, it stays in the record as failed (the page says a new sign-in
// replaced it); otherwise it leaves the record. It returns the order as it
// was, nil when none was pending. With spareUserSign, an order whose person
// is entering the security code is left alone and errSigningIn returned.
func (s *Server) endStored(skey []byte, replaced, spareUserSign bool) (*storedOrder, error) {
	var ended *storedOrder
	err := s.opt.Vault.Update(context.Background(), orderTables, func(tx vault.Tx) error {
		ended = nil
		var rec storedSession
		ok, err := getJSON(tx.Table(tSessions), skey, &rec)
		if err != nil || !ok || rec.Order == nil || rec.Order.Status != "pending" {
			return err
		}
		if spareUserSign && rec.Order.Hint == string(bankid.HintUserSign) {
			return errSigningIn
		}
		so := *rec.Order
		ended = &so
		if replaced {
			rec.Order.Status, rec.Order.Hint, rec.Order.Replaced = "failed", "", true
		} else {
			rec.Order = nil
		}
		if err := putJSON(tx.Table(tSessions), skey, rec); err != nil {
			return err
		}
		return dropOrderIndex(tx, skey, &so)
	})
	if err != nil {
		return nil, err
	}
	return ended, nil
}

// pendingFor is the session hash of the pending order that names person,
// from any node; nil when there is none.
func (s *Server) pendingFor(person string) ([]byte, error) {
	var skey []byte
	err := s.opt.Vault.View(orderTables, func(tx vault.Tx) error {
		b, err := tx.Table(tPersons).Get(personKey(person))
		skey = append([]byte(nil), b...)
		return err
	})
	if len(skey) == 0 {
		skey = nil
	}
	return skey, err
}

// cancelRef cancels an order at BankID by its orderRef (an order another
// node may have started).
func (s *Server) cancelRef(ref, messageID string) {
	s.cancelAtBankID(&order{ref: ref, messageID: messageID})
}

// takeOver looks for pending orders whose owner has stopped beating and
// collects them from now on. Each is taken by one node: the write that takes
// it finds the heartbeat still stale, or takes nothing.
func (s *Server) takeOver() {
	now := s.now()
	var stale [][]byte
	err := s.opt.Vault.View(orderTables, func(tx vault.Tx) error {
		return tx.Table(tOrders).Scan(nil, func(k, v []byte) error {
			var b orderBeat
			if json.Unmarshal(v, &b) == nil && b.Owner != s.node && now.Sub(b.Beat) >= staleAfter {
				stale = append(stale, append([]byte(nil), k...))
			}
			return nil
		})
	})
	if err != nil {
		s.log.Error("looking for orders to take over", "err", err)
		return
	}
	for _, skey := range stale {
		if err := s.takeOne(skey); err != nil {
			s.log.Error("taking an order over", "err", err)
		}
	}
}

func (s *Server) takeOne(skey []byte) error {
	var so *storedOrder
	err := s.opt.Vault.Update(context.Background(), orderTables, func(tx vault.Tx) error {
		so = nil
		var b orderBeat
		ok, err := getJSON(tx.Table(tOrders), skey, &b)
		if err != nil || !ok || b.Owner == s.node || s.now().Sub(b.Beat) < staleAfter {
			return err
		}
		var rec storedSession
		ok, err = getJSON(tx.Table(tSessions), skey, &rec)
		if err != nil {
			return err
		}
		if !ok || rec.Order == nil || rec.Order.Status != "pending" {
			return dropOrderIndex(tx, skey, rec.Order)
		}
		so = rec.Order
		return putJSON(tx.Table(tOrders), skey, orderBeat{Owner: s.node, Beat: s.now()})
	})
	if err != nil || so == nil {
		return err
	}
	l, err := s.opt.Vault.LetterByID(so.MessageID, so.Recipient)
	if err != nil {
		// Nobody could be let in without the letter: the order ends.
		if _, err := s.endStored(skey, false, false); err == nil {
			s.cancelRef(so.Ref, so.MessageID)
		}
		return fmt.Errorf("the order's letter: %w", err)
	}
	o := &order{
		ref: so.Ref, key: string(so.Key), messageID: so.MessageID, recipient: so.Recipient,
		rcpt: l.Rcpt.Recipient, ip: so.IP, userAgent: so.UserAgent, sameDevice: so.SameDevice, started: so.Started,
		skey: skey, done: make(chan struct{}), orderState: so.state(), lastWrite: s.now(),
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil // the next node's to take
	}
	s.active++
	cctx, stop := context.WithCancel(s.ctx)
	o.cancel = stop
	s.collectors[string(skey)] = o
	s.wg.Add(1)
	s.mu.Unlock()
	s.log.Info("bankid order taken over from a node that stopped collecting it", "message", o.messageID)
	ordersTakenOver.Inc()
	go s.collect(cctx, o)
	return nil
}
