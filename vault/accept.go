package vault

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"sigill/addressing"
	"sigill/vault/kv"
)

// Incoming is a message as smtpd hands it over after DATA.
type Incoming struct {
	Sender     string // envelope MAIL FROM
	Account    string // authenticated staff account; "" when it came through the relay
	Errand     string // decoded Subject (stored in clear: it travels in clear by SMS anyway)
	MessageID  string // the original's Message-ID header value, without <>, may be empty
	Raw        []byte // the whole original MIME message: this is what gets encrypted
	Recipients []Recipient
	// Lifetime is the message's own lifetime (the API's expires_in, the
	// staff web's choice); zero when not given. The message's lifetime is
	// the shortest of it and its recipients' exp= (see expiry.go).
	Lifetime time.Duration

	// Within, when set, runs inside the transaction that stores the
	// message, after it is written, with the message's id and a Tx open to
	// WithinTables (the caller's own, declared in a Hook): what the caller
	// keeps about the acceptance (the REST API's idempotency record) is on
	// disk with the message, in the same fsync, or not at all. An error
	// fails the accept. It may run more than once (see Hook.Appended).
	Within       func(tx Tx, id string) error
	WithinTables []string
}

// Recipient is one RCPT TO of a message: the address as written and what it
// means.
type Recipient struct {
	Address string // the RCPT TO address as the sender wrote it
	addressing.Recipient
}

// Accepted is what Accept returns: the message id (for "250 2.0.0 <id>
// queued") and each recipient's link token, Tokens[i] for Recipients[i].
// The tokens exist nowhere else in clear: the vault keeps only their hashes.
type Accepted struct {
	ID     string
	Tokens []string
	// Claimable is how many of its notify jobs wait for a claim: those not
	// handed to this node's notifier at birth (Handoff, when it had no
	// room). Only those need the notifier woken: a caller that kicks it
	// after every message makes it look for due jobs once a message, in
	// vain while the handoff has room.
	Claimable int
}

// Letter is what the vault tells about one recipient's copy of a message
// without decrypting anything.
type Letter struct {
	ID, Errand, Sender, Account, MessageID string
	Received                               time.Time
	Recipient                              int // index in Incoming.Recipients
	Rcpt                                   Recipient
	Expires                                time.Time
	Expired                                bool // content deleted (or due to be): Decrypt fails with ErrExpired
}

// VouchedSender is the sender the gateway vouches for: the authenticated
// account of a submission, else the envelope sender the relay accepted
// (within smtp.relay.sender_domains). A From header says only what the
// sender wrote; pages and notices name this one.
func VouchedSender(account, envelopeSender string) string {
	if account != "" {
		return account
	}
	return envelopeSender
}

// RepliesAllowed tells whether the recipient may answer from the reader's
// page: unless the sender wrote reply=no in this recipient's address.
func (l Letter) RepliesAllowed() bool { return l.Rcpt.Reply.Allowed() }

// Vouched is the letter's VouchedSender.
func (l Letter) Vouched() string { return VouchedSender(l.Account, l.Sender) }

// Stored forms. JSON: small, readable with bbolt's own tools, and easy to
// extend; the ciphertext is kept raw in its own bucket.
type messageRecord struct {
	ID         string    `json:"id"`
	Received   time.Time `json:"received"`
	Sender     string    `json:"sender"`
	Account    string    `json:"account,omitempty"`
	Errand     string    `json:"errand"`
	MessageID  string    `json:"message_id,omitempty"`
	Size       int       `json:"size"`             // bytes of the original
	Recipients [][]byte  `json:"recipients"`       // token hashes, by recipient index
	Escrow     []byte    `json:"escrow,omitempty"` // the escrow PKESK, sealed under the expiry key
	Expired    bool      `json:"expired,omitempty"`
	// ExpirySecret is the message's expiry secret sealed under its expiry
	// key: what every wrapped key needs besides the token (expiry.go).
	// Absent in messages accepted before it, whose wrapped keys need the
	// expiry key itself (and whose expiry cannot change).
	ExpirySecret []byte `json:"expiry_secret,omitempty"`
	// RecipientSecrets are each recipient's own secret, sealed under the
	// expiry key like ExpirySecret, which its wrapped key needs too; nil
	// where the recipient's copy was withdrawn (revoke.go). Absent in
	// messages accepted before it.
	RecipientSecrets [][]byte `json:"recipient_secrets,omitempty"`
	// Revoked: every recipient's copy was withdrawn, and the expiry secret,
	// recipient secrets and escrow packet are gone (revoke.go).
	Revoked bool `json:"revoked,omitempty"`
	// Expires is when the content expires; ExpiryKey (its period's start,
	// Unix seconds) and ExpiryKeyID name the key store's expiry key that
	// the expiry secret and the escrow packet of the message need.
	Expires     time.Time `json:"expires"`
	ExpiryKey   int64     `json:"expiry_key"`
	ExpiryKeyID uint64    `json:"expiry_key_id"`
}

type recipientRecord struct {
	Message   string               `json:"message"`
	Index     int                  `json:"index"`
	Address   string               `json:"address"`
	Recipient addressing.Recipient `json:"recipient"`
	Wrapped   []byte               `json:"wrapped,omitempty"` // session key under the token's key; gone at expiry
	Expired   bool                 `json:"expired,omitempty"`
	Revoked   bool                 `json:"revoked,omitempty"` // set with the recipient's "revoked" event (Record)
}

// acceptance is one message made ready for the committer: everything
// expensive (encryption, tokens, wrapping, encoding) is done by the caller's
// goroutine, so the commit goroutine only does puts.
type acceptance struct {
	id       []byte
	due      []byte // expires ns ‖ id
	meta     []byte
	content  []byte
	hashes   [][]byte
	recips   [][]byte
	events   [][]byte
	accepted []Event  // events, decoded, for the hooks
	letters  []Letter // each recipient's letter, for the hooks (Expired set at apply)
	jobs     [][]byte
	onCommit func() // counts the jobs under their outbox key
	// handed are the first jobs, born leased for the notifier's handoff
	// (handoff.go); apply sets their ids, its OnCommit hands them over.
	handed  []Job
	handoff *Handoff
	// ownLifetime: the message expires sooner than Retention, perhaps
	// before RunSweeper's next wake-up.
	ownLifetime bool
	expiry      *expiryKey // counted in flight until the commit ends
}

// Accept stores the message, its recipients, an "accepted" event per
// recipient and a "notify" outbox job per recipient in one write transaction,
// and returns only after that transaction is durable (the engine's Commit:
// bbolt's fdatasync, never NoSync; PostgreSQL's WAL flush). Concurrent
// calls share commits. An error means nothing of the message was stored
// (smtpd answers 451 and the client tries again) — short of the disk
// failing the final fsync after the meta page was written, when no store
// can tell.
func (v *Vault) Accept(ctx context.Context, in Incoming) (Accepted, error) {
	if err := validateIncoming(in); err != nil {
		return Accepted{}, fmt.Errorf("vault: accept: %w", err)
	}
	now := v.now().UTC()
	id := newMessageID(now)
	sealKey := v.keys.acquire()
	defer v.keys.release(sealKey) // after the commit: the key cannot be destroyed before
	handoff, handed := v.reserveHandoff(len(in.Recipients))
	a, tokens, err := v.prepare(id, now, in, sealKey, handoff, handed)
	if err != nil {
		if handoff != nil {
			handoff.cancel(handed)
		}
		return Accepted{}, fmt.Errorf("vault: accept: %w", err)
	}
	defer v.keys.releaseExpiry(a.expiry) // after the commit: the key cannot be replaced before
	apply := func(tx kv.Tx) error {
		if err := a.apply(v, tx); err != nil || in.Within == nil {
			return err
		}
		return in.Within(v.storeTx(tx, in.WithinTables), id)
	}
	if err := v.commit.update(ctx, apply); err != nil {
		if handoff != nil { // update fails only for a write that did not commit
			handoff.cancel(handed)
		}
		return Accepted{}, fmt.Errorf("vault: accept: %w", err)
	}
	if a.ownLifetime {
		v.kickSweep()
	}
	return Accepted{ID: id, Tokens: tokens, Claimable: len(in.Recipients) - handed}, nil
}

func validateIncoming(in Incoming) error {
	if len(in.Raw) == 0 {
		return errors.New("empty message")
	}
	if len(in.Recipients) == 0 {
		return errors.New("no recipients")
	}
	for i, r := range in.Recipients {
		switch r.Channel {
		case addressing.SMS, addressing.Email:
		default:
			return fmt.Errorf("recipient %d: unknown channel %q", i, r.Channel)
		}
		if r.To == "" {
			return fmt.Errorf("recipient %d: no destination", i)
		}
	}
	return nil
}

// prepare makes the message ready for the committer. The expiry key it
// seals under is counted in flight (a.expiry) until the caller releases it.
// The first handed notify jobs are born leased for handoff.
func (v *Vault) prepare(id string, now time.Time, in Incoming, sealKey *outboxKey, handoff *Handoff, handed int) (_ *acceptance, _ []string, err error) {
	lifetime := v.lifetimeOf(in)
	expires := now.Add(lifetime)
	expiry, err := v.keys.expiryKeyFor(expires)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			v.keys.releaseExpiry(expiry)
		}
	}()
	secret := randomBytes(expirySecretSize)
	defer clear(secret)
	sessionKey := randomBytes(sessionKeySize)
	defer clear(sessionKey)
	ct, err := encryptMessage(in.Raw, sessionKey)
	if err != nil {
		return nil, nil, fmt.Errorf("encrypt: %w", err)
	}
	meta := messageRecord{
		ID:           id,
		Received:     now,
		Sender:       in.Sender,
		Account:      in.Account,
		Errand:       in.Errand,
		MessageID:    in.MessageID,
		Size:         len(in.Raw),
		Expires:      expires,
		ExpiryKey:    expiry.start.Unix(),
		ExpiryKeyID:  expiry.id,
		ExpirySecret: sealSecret(expiry, id, secret),
	}
	if v.escrow != nil {
		pkesk, err := escrowPacket(v.escrow, sessionKey)
		if err != nil {
			return nil, nil, fmt.Errorf("escrow: %w", err)
		}
		meta.Escrow = sealEscrow(expiry, id, pkesk)
	}
	a := &acceptance{
		id:          []byte(id),
		due:         dueKey(expires, id),
		content:     ct,
		ownLifetime: lifetime < v.opt.Retention,
		expiry:      expiry,
		handoff:     handoff,
	}
	n := len(in.Recipients)
	a.onCommit = func() { v.keys.added(sealKey, n) }
	vouched := VouchedSender(in.Account, in.Sender)
	tokens := make([]string, len(in.Recipients))
	for i, r := range in.Recipients {
		raw, token := newToken()
		tokens[i] = token
		own := randomBytes(expirySecretSize)
		meta.RecipientSecrets = append(meta.RecipientSecrets, sealRecipientSecret(expiry, id, i, own))
		wrapSecret := append(append(make([]byte, 0, 2*expirySecretSize), secret...), own...)
		wrapped, err := wrapSessionKey(raw, wrapSecret, id, i, sessionKey)
		clear(own)
		clear(wrapSecret)
		if err != nil {
			return nil, nil, fmt.Errorf("wrap: %w", err)
		}
		h := tokenHash(raw)
		meta.Recipients = append(meta.Recipients, h)
		a.hashes = append(a.hashes, h)
		rr := recipientRecord{Message: id, Index: i, Address: r.Address, Recipient: r.Recipient, Wrapped: wrapped}
		ev := Event{MessageID: id, Recipient: i, Kind: EventAccepted, At: now}
		a.accepted = append(a.accepted, ev)
		a.letters = append(a.letters, Letter{
			ID: id, Errand: in.Errand, Sender: in.Sender, Account: in.Account, MessageID: in.MessageID,
			Received: now, Recipient: i, Rcpt: Recipient{Address: r.Address, Recipient: r.Recipient}, Expires: expires,
		})
		job := jobRecord{
			MessageID: id, Recipient: i, Kind: JobNotify,
			Channel: r.Channel, To: r.To, Lang: r.Lang, Errand: in.Errand,
			Epoch: sealKey.id, SealedToken: sealToken(sealKey, raw, id, i),
			Due: now, Created: now, Vouched: &vouched,
		}
		clear(raw)
		if i < handed {
			handoff.leased(&job, now)
			a.handed = append(a.handed, Job{
				MessageID: id, Recipient: i, Kind: JobNotify,
				Channel: r.Channel, To: r.To, Lang: r.Lang, Errand: in.Errand, Token: token,
				Attempts: job.Attempts, Due: job.Due, Created: now, Leased: true, Lease: job.Lease, Node: job.Node,
				Vouched: vouched, HasVouched: true,
				known: &jobKnown{r: job, rcptKey: h},
			})
		}
		for _, x := range []struct {
			dst *[][]byte
			val any
		}{{&a.recips, rr}, {&a.events, ev}, {&a.jobs, job}} {
			b, err := json.Marshal(x.val)
			if err != nil {
				return nil, nil, err
			}
			*x.dst = append(*x.dst, b)
		}
	}
	if a.meta, err = json.Marshal(meta); err != nil {
		return nil, nil, err
	}
	for i := range a.handed {
		k := a.handed[i].known
		k.record, k.msg, k.rcpt, k.letter = a.jobs[i], a.meta, a.recips[i], &a.letters[i]
	}
	return a, tokens, nil
}

func (a *acceptance) apply(v *Vault, tx kv.Tx) error {
	parts := tx.Bucket(bParts)
	recips := tx.Bucket(bRecipients)
	id := string(a.id)
	// Both are random (48 and 128 bits): a clash is a fault, not a case.
	if old, err := parts.Get(metaKey(id)); err != nil || old != nil {
		return cmp.Or(err, fmt.Errorf("message id %s already in use", a.id))
	}
	for _, h := range a.hashes {
		if old, err := recips.Get(h); err != nil || old != nil {
			return cmp.Or(err, errors.New("token hash already in use"))
		}
	}
	if err := parts.Put(metaKey(id), a.meta); err != nil {
		return err
	}
	if err := parts.Put(contentKey(id), a.content); err != nil {
		return err
	}
	if err := tx.Bucket(bExpireDue).Put(a.due, nil); err != nil {
		return err
	}
	outbox := tx.Bucket(bOutbox)
	for i, h := range a.hashes {
		if err := recips.Put(h, a.recips[i]); err != nil {
			return err
		}
		l := a.letters[i]
		l.Expired = !v.now().Before(l.Expires) // as letterOf tells it
		if _, err := v.putEventKnown(tx, a.id, a.events[i], a.accepted[i], &eventLetter{letter: &l}); err != nil {
			return err
		}
		seq, err := outbox.NextSequence()
		if err != nil {
			return err
		}
		if err := outbox.Put(seqKey(seq), a.jobs[i]); err != nil {
			return err
		}
		if i < len(a.handed) {
			a.handed[i].ID = seq
		}
	}
	tx.OnCommit(a.onCommit)
	if len(a.handed) > 0 {
		tx.OnCommit(func() { a.handoff.deliver(a.handed) })
	}
	if len(a.handed) < len(a.hashes) {
		tx.Notify(ChannelOutbox) // jobs for any node's claim; born-leased ones are this node's
	}
	return nil
}

// dueKey orders messages by a time for the sweeper: expire_due by expiry,
// purge_due by acceptance.
func dueKey(t time.Time, id string) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())), id...)
}

// Decrypt returns the letter and the exact original message bytes. It fails
// with ErrNotFound for an unknown token, ErrRevoked (with the letter) once
// the sender withdrew it, and ErrExpired (with the letter) once the
// retention has passed.
func (v *Vault) Decrypt(token string) (Letter, []byte, error) {
	var (
		l   Letter
		raw []byte
	)
	err := v.view(func(tx kv.Tx) error {
		l2, m, rr, rawToken, err := v.letter(tx, token)
		if err != nil {
			return err
		}
		defer clear(rawToken)
		l = l2
		if rr.Revoked {
			return ErrRevoked
		}
		if l.Expired {
			return ErrExpired
		}
		ct, err := tx.Bucket(bParts).Get(contentKey(l.ID))
		if err != nil {
			return err
		}
		if ct == nil || rr.Wrapped == nil {
			return ErrExpired
		}
		secret, err := v.wrapSecret(m, l.Recipient)
		if err != nil {
			return err
		}
		sessionKey, err := unwrapSessionKey(rawToken, secret, l.ID, l.Recipient, rr.Wrapped)
		clear(secret)
		if err != nil {
			return fmt.Errorf("message %s: %w", l.ID, err)
		}
		defer clear(sessionKey)
		// The engine's bytes are valid only inside the transaction; decryption
		// reads them in place and writes a fresh buffer.
		raw, err = decryptMessage(ct, sessionKey)
		if err != nil {
			return fmt.Errorf("message %s: %w", l.ID, err)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrExpired) || errors.Is(err, ErrRevoked) {
			return l, nil, fmt.Errorf("vault: decrypt: %w", err)
		}
		return Letter{}, nil, fmt.Errorf("vault: decrypt: %w", err)
	}
	return l, raw, nil
}

func (v *Vault) letter(tx kv.Tx, token string) (Letter, *messageRecord, *recipientRecord, []byte, error) {
	raw, ok := parseToken(token)
	if !ok {
		// The same work as for a token of the right form: a hash and a
		// look-up that finds nothing, so that time does not tell them apart.
		_, err := tx.Bucket(bRecipients).Get(tokenHash(make([]byte, tokenSize)))
		return Letter{}, nil, nil, nil, cmp.Or(err, ErrNotFound)
	}
	b, err := tx.Bucket(bRecipients).Get(tokenHash(raw))
	if err != nil {
		return Letter{}, nil, nil, nil, err
	}
	if b == nil {
		return Letter{}, nil, nil, nil, ErrNotFound
	}
	var rr recipientRecord
	if err := json.Unmarshal(b, &rr); err != nil {
		return Letter{}, nil, nil, nil, fmt.Errorf("recipient record: %w", err)
	}
	m, err := getMessage(tx, rr.Message)
	if err != nil {
		return Letter{}, nil, nil, nil, err
	}
	return v.letterOf(m, &rr), m, &rr, raw, nil
}

// letterOf is what a message and one of its recipients tell about that
// recipient's copy.
func (v *Vault) letterOf(m *messageRecord, rr *recipientRecord) Letter {
	return Letter{
		ID:        m.ID,
		Errand:    m.Errand,
		Sender:    m.Sender,
		Account:   m.Account,
		MessageID: m.MessageID,
		Received:  m.Received,
		Recipient: rr.Index,
		Rcpt:      Recipient{Address: rr.Address, Recipient: rr.Recipient},
		Expires:   m.Expires,
		Expired:   m.Expired || rr.Expired || !v.now().Before(m.Expires),
	}
}

func getMessage(tx kv.Tx, id string) (*messageRecord, error) {
	b, err := tx.Bucket(bParts).Get(metaKey(id))
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, fmt.Errorf("message %q: %w", id, ErrNotFound)
	}
	var m messageRecord
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("message %q: %w", id, err)
	}
	return &m, nil
}
