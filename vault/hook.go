package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"sigill/vault/kv"
)

// Hooks: how another package acts inside the transaction that appends an
// event, so that what it keeps about events (the receipts mailbox) is
// committed with the event, in the same fsync, or not at all.
//
// A hook sees the store only through Tx and the Tables it declared: it
// never sees the engine. A table is a kv bucket of the same name (package
// kv: a bucket in bbolt, rows under the table's name on PostgreSQL), so a
// hook written once runs on either engine.

// Hook is what a package registers in Options.Hooks.
type Hook struct {
	// Name names the hook in errors.
	Name string
	// Tables are the hook's own tables, created at Open when missing. Only
	// these are open to it through Tx.Table; a name the core uses is
	// refused at Open.
	Tables []string
	// Appended runs inside the transaction that appends ev (with its Seq),
	// after the event is written, for every event whatever appends it
	// (Accept, Record, Sweep, the notifier's job outcomes). An error fails
	// that transaction's request: the event is not recorded. It may run
	// more than once for the same event (the committer re-runs a group
	// after another request failed), so it must compute everything from tx.
	Appended func(tx Tx, ev Event) error
	// Purging runs inside the transaction that deletes ev at audit
	// retention, before the event goes.
	Purging func(tx Tx, ev Event) error
	// Erasing runs inside ErasePersonalNumber's transaction: the hook
	// takes that number out of its own tables (deletes, or writes
	// pseudonym in its place), so that no live record keeps it.
	Erasing func(tx Tx, personalNumber, pseudonym string) error
}

// Tx is one transaction of the store, as a hook or a View/Update function
// sees it. It is valid only while the function it was given to runs.
type Tx interface {
	// Table is one of the caller's own tables (Hook.Tables). Every method
	// of a table that was not declared fails.
	Table(name string) Table
	// Event reads one event by its Seq: ErrNotFound once purged.
	Event(seq uint64) (Event, error)
	// Events reads a message's events in the order they were appended.
	Events(messageID string) ([]Event, error)
	// Letter tells what one recipient's copy of a message is, decrypting
	// nothing. ErrNotFound for an unknown message or recipient.
	Letter(messageID string, recipient int) (Letter, error)
	// QueueJob adds a job without a token to the outbox (the notifier's
	// queue), due at once; only Kind, To, Channel, Lang, MessageID,
	// Recipient, Errand and Event are taken from j. It returns the job's id.
	QueueJob(j Job) (uint64, error)
	// Account reads a staff account (Account.Disabled: it may not log in
	// anywhere). ErrNotFound for an unknown one.
	Account(address string) (Account, error)
	// SetPasskey records whether the account holds a passkey (package
	// passkey keeps the passkeys; the vault only needs to know that one
	// is there, see Account.Passkey). ErrNotFound for an unknown account.
	SetPasskey(address string, has bool) error
	// Now is the vault's clock.
	Now() time.Time
	// OnCommit runs fn once the transaction has committed (never when it
	// is rolled back), outside of it, on this node.
	OnCommit(fn func())
	// Notify wakes Vault.Listen(channel) once the transaction has
	// committed, on every node that shares the store (an IMAP IDLE on
	// another node hears of a receipt filed here). Wake-ups carry nothing
	// and several may merge into one: a listener reads the store again.
	// A channel's name is 1 to 63 of a-z, 0-9 and _ (a PostgreSQL
	// identifier), starting with a letter.
	Notify(channel string)
}

// Table is a hook's own ordered key-value table.
type Table interface {
	// Get returns the value, or nil when the key is missing. The bytes are
	// valid only until the transaction ends and must not be changed. (Every
	// method returns an error: on a database server any call may fail.)
	Get(key []byte) ([]byte, error)
	Put(key, value []byte) error
	Delete(key []byte) error
	// NextSequence returns the next number of a counter kept per table,
	// starting at 1; it is rolled back with the transaction.
	NextSequence() (uint64, error)
	// Scan calls fn with every key that starts with prefix, in ascending
	// byte order, until fn returns an error (Scan returns it). fn must not
	// use the transaction (a server engine streams the rows over the
	// transaction's one connection); the bytes are valid only during the
	// call.
	Scan(prefix []byte, fn func(key, value []byte) error) error
}

// errNoTable is what the methods of an undeclared table fail with.
var errNoTable = errors.New("table not declared in the hook's Tables")

// checkHooks refuses hooks whose tables are the core's or another hook's.
func checkHooks(hooks []Hook) error {
	seen := make(map[string]string)
	for _, b := range slices.Concat(coreBuckets, oldBuckets) {
		seen[b] = "the vault"
	}
	for _, h := range hooks {
		for _, t := range h.Tables {
			if t == "" {
				return fmt.Errorf("hook %s: empty table name", h.Name)
			}
			if owner, ok := seen[t]; ok {
				return fmt.Errorf("hook %s: table %q is already %s's", h.Name, t, owner)
			}
			seen[t] = "hook " + h.Name
		}
	}
	return nil
}

func hookTables(hooks []Hook) []string {
	var out []string
	for _, h := range hooks {
		out = append(out, h.Tables...)
	}
	return out
}

// storeTx is Tx on a kv transaction: a table is the bucket of its name.
type storeTx struct {
	tx     kv.Tx
	v      *Vault
	tables []string     // the names open to the caller
	event  *eventLetter // the letter of the event hooks run for (hookletter.go)
}

func (v *Vault) storeTx(tx kv.Tx, tables []string) *storeTx {
	return &storeTx{tx: tx, v: v, tables: tables}
}

func (t *storeTx) Table(name string) Table {
	if !slices.Contains(t.tables, name) {
		return noTable(name)
	}
	return table{t.tx.Bucket(name)}
}

func (t *storeTx) Event(seq uint64) (Event, error) { return eventBySeq(t.tx, seq) }

func (t *storeTx) Events(messageID string) ([]Event, error) { return eventsOf(t.tx, messageID) }

func (t *storeTx) Letter(messageID string, recipient int) (Letter, error) {
	if e := t.event; e != nil && e.id == messageID && e.recipient == recipient {
		return e.get(t.v, t.tx)
	}
	return t.v.letterByID(t.tx, messageID, recipient)
}

func (t *storeTx) QueueJob(j Job) (uint64, error) {
	now := t.v.now().UTC()
	t.tx.Notify(ChannelOutbox)
	return putJob(t.tx, jobRecord{
		MessageID: j.MessageID, Recipient: j.Recipient, Kind: j.Kind,
		Channel: j.Channel, To: j.To, Lang: j.Lang, Errand: j.Errand, Event: j.Event,
		Due: now, Created: now,
	})
}

func (t *storeTx) Account(address string) (Account, error) {
	r, err := getAccount(t.tx, strings.ToLower(address))
	if err != nil {
		return Account{}, err
	}
	return r.account(), nil
}

func (t *storeTx) SetPasskey(address string, has bool) error {
	a := strings.ToLower(address)
	r, err := getAccount(t.tx, a)
	if err != nil || r.Passkey == has {
		return err
	}
	r.Passkey = has
	return putAccount(t.tx, r)
}

func (t *storeTx) Now() time.Time { return t.v.now() }

func (t *storeTx) OnCommit(fn func()) { t.tx.OnCommit(fn) }

func (t *storeTx) Notify(channel string) { t.tx.Notify(channel) }

// Listen returns a channel that receives after a transaction that called
// Tx.Notify(channel) has committed, on this node or another sharing the
// store (several wake-ups may merge into one), until ctx ends. The vault's
// own channel is ChannelOutbox.
func (v *Vault) Listen(ctx context.Context, channel string) <-chan struct{} {
	return v.eng.Listen(ctx, channel)
}

// ChannelOutbox is woken when jobs are added to the outbox or made due at
// once (Accept, Tx.QueueJob, ReleaseClaims), on whichever node: the
// notifier listens to it.
const ChannelOutbox = "sigill_outbox"

// table is Table on a kv bucket.
type table struct{ kv.Bucket }

func (t table) Scan(prefix []byte, fn func(key, value []byte) error) error {
	err := t.Range(kv.Prefix(prefix), func(k, v []byte) error {
		if err := fn(k, v); err != nil {
			return scanError{err}
		}
		return nil
	})
	var se scanError
	if errors.As(err, &se) {
		return se.err // fn's own, kv.Stop included
	}
	return err
}

// scanError carries fn's error through Range unchanged: Range would take
// a kv.Stop of fn's for its own and end quietly.
type scanError struct{ err error }

func (e scanError) Error() string { return e.err.Error() }

type noTable string

func (t noTable) err() error                    { return fmt.Errorf("table %q: %w", string(t), errNoTable) }
func (t noTable) Get([]byte) ([]byte, error)    { return nil, t.err() }
func (t noTable) Put(_, _ []byte) error         { return t.err() }
func (t noTable) Delete([]byte) error           { return t.err() }
func (t noTable) NextSequence() (uint64, error) { return 0, t.err() }
func (t noTable) Scan([]byte, func(_, _ []byte) error) error {
	return t.err()
}

// runAppended runs every hook's Appended for ev, just appended in tx;
// known, when not nil, is what the appender knows of ev's letter.
func (v *Vault) runAppended(tx kv.Tx, ev Event, known *eventLetter) error {
	if known == nil {
		known = &eventLetter{}
	}
	known.id, known.recipient = ev.MessageID, ev.Recipient
	for _, h := range v.opt.Hooks {
		if h.Appended == nil {
			continue
		}
		st := v.storeTx(tx, h.Tables)
		st.event = known
		if err := h.Appended(st, ev); err != nil {
			return fmt.Errorf("hook %s: event %d: %w", h.Name, ev.Seq, err)
		}
	}
	return nil
}

// runPurging runs every hook's Purging for ev, about to be deleted in tx.
func (v *Vault) runPurging(tx kv.Tx, ev Event) error {
	for _, h := range v.opt.Hooks {
		if h.Purging == nil {
			continue
		}
		if err := h.Purging(v.storeTx(tx, h.Tables), ev); err != nil {
			return fmt.Errorf("hook %s: purge event %d: %w", h.Name, ev.Seq, err)
		}
	}
	return nil
}

// View runs fn in a read transaction with access to tables (the caller's
// own, declared in a Hook): a Put there fails.
func (v *Vault) View(tables []string, fn func(Tx) error) error {
	return v.view(func(tx kv.Tx) error { return fn(v.storeTx(tx, tables)) })
}

// Update runs fn in a durable write transaction with access to tables,
// through the committer like every other write, and returns once it is on
// disk. fn may run more than once (see Hook.Appended).
func (v *Vault) Update(ctx context.Context, tables []string, fn func(Tx) error) error {
	return v.commit.update(ctx, func(tx kv.Tx) error {
		return fn(v.storeTx(tx, tables))
	})
}

// putJob adds a job record to the outbox under the next job id.
func putJob(tx kv.Tx, r jobRecord) (uint64, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return 0, err
	}
	outbox := tx.Bucket(bOutbox)
	id, err := outbox.NextSequence()
	if err != nil {
		return 0, err
	}
	return id, outbox.Put(seqKey(id), b)
}

// HasHook reports whether the vault was opened with a hook of that name,
// so that a room that relies on its hook can refuse a vault without it.
func (v *Vault) HasHook(name string) bool {
	return slices.ContainsFunc(v.opt.Hooks, func(h Hook) bool { return h.Name == name })
}
