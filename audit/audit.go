package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"sigill/receipts/mailbox"
	"sigill/vault"
)

// The staff actions recorded. Each names what happened in a word others
// can filter on; Detail says the rest.
const (
	ActionSignIn           = "staff.signin"           // a staff web sign-in completed (both steps)
	ActionSignInFailed     = "staff.signin_failed"    // a wrong password or second factor, at the staff web, SMTP or IMAP (Detail: where)
	ActionSecondFactor     = "staff.second_factor"    // enrolled, confirmed, reset, recovery codes made (Detail)
	ActionAppPassword      = "staff.app_password"     // made or revoked (Detail)
	ActionAccount          = "staff.account"          // added, removed, password set, disabled, enabled (Detail); Target: the account
	ActionAPIKeyCreated    = "apikey.created"         // Target: the key's id; Detail: account and scopes
	ActionAPIKeyRevoked    = "apikey.revoked"         // Target: the key's id
	ActionMessageViewed    = "staff.message_viewed"   // a message's page in the staff web; Target: the message id
	ActionAuditExport      = "audit.export"           // Detail: the filter; Subject: the number's hash when one was asked
	ActionGDPRExport       = "gdpr.export"            // Subject: the number's hash
	ActionErasureRequested = "gdpr.erasure_requested" // Target: the request id (two-person approval)
	ActionErasureApproved  = "gdpr.erasure_approved"  // Target: the request id
	ActionErased           = "gdpr.erased"            // Target: the request id; Detail: what changed
)

// StaffAudit is one thing a person did through a door of sigill.
type StaffAudit struct {
	At        time.Time `json:"at"` // default now
	Actor     string    `json:"actor"`
	Action    string    `json:"action"`
	Target    string    `json:"target,omitempty"`
	IP        string    `json:"ip,omitempty"`
	UserAgent string    `json:"user_agent,omitempty"`
	Detail    string    `json:"detail,omitempty"`
	// Subject is the keyed hash (hex) of a personal number the action was
	// about (Store.Subject), never the number.
	Subject string `json:"subject,omitempty"`
}

const (
	tableStaff    = "audit_staff"
	tableByNumber = "audit_by_number"
	tableMeta     = "audit_meta"
	tableErasures = "gdpr_erasures"
)

var tables = []string{tableStaff, tableByNumber, tableMeta, tableErasures}

var keyBackfilled = []byte("events_indexed")

// ErrNotAttached: the store is used before Attach gave it its vault.
var ErrNotAttached = errors.New("audit: the store has no vault (Attach it)")

// Store is the audit trail's reading side and the staff's records, on a
// vault opened with its Hook.
type Store struct {
	v         *vault.Vault
	replies   *mailbox.Store // the person's answers for an export; nil: none
	indexKey  []byte
	sealKey   []byte
	retention time.Duration
}

// New makes a store whose staff records are kept for retention
// (vault.audit_retention; zero: vault.DefaultAuditRetention). Its Hook
// goes into the vault's Options.Hooks, then Attach gives it the vault.
func New(retention time.Duration) *Store {
	if retention <= 0 {
		retention = vault.DefaultAuditRetention
	}
	return &Store{retention: retention}
}

// Hook declares the tables and files every event that names a personal
// number in the by-number index (and unfiles it when its event goes at
// audit retention).
func (s *Store) Hook() vault.Hook {
	return vault.Hook{Name: "audit", Tables: tables, Appended: s.index, Purging: s.unindex}
}

// AttachReplies gives the store the receipts mailboxes that keep the
// answers from the reader's page, so that a GDPR export includes the
// person's own while they can be opened.
func (s *Store) AttachReplies(boxes *mailbox.Store) { s.replies = boxes }

// Attach gives the store the vault it was hooked into, derives its keys
// from the vault's key file, and files the events appended before the
// index existed (once).
func (s *Store) Attach(v *vault.Vault) error {
	idx, err := v.DerivedKey("audit: personal number index")
	if err != nil {
		return err
	}
	seal, err := v.DerivedKey("gdpr: pending erasure seal")
	if err != nil {
		return err
	}
	s.v, s.indexKey, s.sealKey = v, idx, seal
	return s.backfill()
}

// Subject is the keyed hash of a personal number, as the index and the
// staff records keep it (hex).
func (s *Store) Subject(pnr string) string { return hex.EncodeToString(s.mac(pnr)) }

func (s *Store) mac(pnr string) []byte {
	m := hmac.New(sha256.New, s.indexKey)
	m.Write([]byte(pnr))
	return m.Sum(nil)
}

// numbersOf are the personal numbers an event makes the message the
// business of: the opener's or refused person's, and at "accepted" the
// recipient's logins.
func numbersOf(tx vault.Tx, ev vault.Event) ([]string, error) {
	var out []string
	if len(ev.PersonalNumber) == 12 {
		out = append(out, ev.PersonalNumber)
	}
	if ev.Kind == vault.EventAccepted {
		l, err := tx.Letter(ev.MessageID, ev.Recipient)
		if errors.Is(err, vault.ErrNotFound) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, l.Rcpt.Logins...)
	}
	return out, nil
}

func (s *Store) index(tx vault.Tx, ev vault.Event) error {
	return s.eachIndexKey(tx, ev, func(k []byte) error { return tx.Table(tableByNumber).Put(k, nil) })
}

func (s *Store) unindex(tx vault.Tx, ev vault.Event) error {
	return s.eachIndexKey(tx, ev, tx.Table(tableByNumber).Delete)
}

// eachIndexKey calls fn with the by-number index key of every number ev
// concerns.
func (s *Store) eachIndexKey(tx vault.Tx, ev vault.Event, fn func(key []byte) error) error {
	if s.indexKey == nil {
		return ErrNotAttached
	}
	numbers, err := numbersOf(tx, ev)
	if err != nil {
		return err
	}
	for _, n := range numbers {
		if err := fn(append(s.mac(n), ev.MessageID...)); err != nil {
			return err
		}
	}
	return nil
}

// backfill files the events of a vault that had them before this index.
func (s *Store) backfill() error {
	done := false
	if err := s.v.View(tables, func(tx vault.Tx) error {
		b, err := tx.Table(tableMeta).Get(keyBackfilled)
		done = b != nil
		return err
	}); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if done {
		return nil
	}
	var events []vault.Event
	err := s.v.ScanEvents(0, func(ev vault.Event) (bool, error) {
		if len(ev.PersonalNumber) == 12 || ev.Kind == vault.EventAccepted {
			events = append(events, ev)
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("audit: file earlier events: %w", err)
	}
	err = s.v.Update(context.Background(), tables, func(tx vault.Tx) error {
		for _, ev := range events {
			if err := s.index(tx, ev); err != nil {
				return err
			}
		}
		return tx.Table(tableMeta).Put(keyBackfilled, []byte{1})
	})
	if err != nil {
		return fmt.Errorf("audit: file earlier events: %w", err)
	}
	return nil
}

// RecordStaffAudit appends what a person did; it returns once it is on
// disk.
func (s *Store) RecordStaffAudit(ctx context.Context, a StaffAudit) error {
	if s.v == nil {
		return ErrNotAttached
	}
	err := s.v.Update(ctx, tables, func(tx vault.Tx) error { return recordTx(tx, a) })
	if err != nil {
		return fmt.Errorf("audit: record %s: %w", a.Action, err)
	}
	return nil
}

func recordTx(tx vault.Tx, a StaffAudit) error {
	if a.Actor == "" || a.Action == "" {
		return errors.New("a staff record needs an actor and an action")
	}
	if a.At.IsZero() {
		a.At = tx.Now()
	}
	a.At = a.At.UTC()
	raw, err := json.Marshal(a)
	if err != nil {
		return err
	}
	t := tx.Table(tableStaff)
	seq, err := t.NextSequence()
	if err != nil {
		return err
	}
	return t.Put(staffKey(a.At, seq), raw)
}

func staffKey(at time.Time, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano())), seq)
}

// Sweep deletes the staff records older than the retention, as the
// vault's Sweep deletes message events, and returns how many went.
func (s *Store) Sweep(ctx context.Context) (int, error) {
	if s.v == nil {
		return 0, ErrNotAttached
	}
	var n int
	err := s.v.Update(ctx, tables, func(tx vault.Tx) error {
		cutoff := uint64(tx.Now().Add(-s.retention).UnixNano())
		var old [][]byte
		errEnough := errors.New("enough")
		err := tx.Table(tableStaff).Scan(nil, func(k, _ []byte) error {
			if len(k) != 16 || binary.BigEndian.Uint64(k[:8]) >= cutoff {
				return errEnough
			}
			old = append(old, append([]byte(nil), k...))
			return nil
		})
		if err != nil && !errors.Is(err, errEnough) {
			return err
		}
		for _, k := range old {
			if err := tx.Table(tableStaff).Delete(k); err != nil {
				return err
			}
		}
		n = len(old)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("audit: sweep: %w", err)
	}
	return n, nil
}

// RunSweeper sweeps at once and then every interval until ctx ends.
func (s *Store) RunSweeper(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		_, _ = s.Sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// maxUserAgent bounds what the trail keeps of a User-Agent header.
const maxUserAgent = 256

// UserAgent is a User-Agent header as the trail keeps it (the reader's
// opens, the staff web's records): at most 256 bytes of printable ASCII,
// anything else '?', so that a header cannot bloat or garble an event or
// an export.
func UserAgent(header string) string {
	b := []byte(header)
	if len(b) > maxUserAgent {
		b = b[:maxUserAgent]
	}
	for i, c := range b {
		if c < ' ' || c > '~' {
			b[i] = '?'
		}
	}
	return string(b)
}
