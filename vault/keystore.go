package vault

// The key store: the short-lived keys that make deletion final.
//
// bbolt never overwrites a freed page on purpose: a deleted outbox job, an
// expired message's ciphertext and its wrapped keys stay in the file's free
// pages (and in every Backup) until the space happens to be reused. So
// nothing the vault deletes may be readable once deleted; instead the keys
// that open such records live outside the B-tree, in a small file of their
// own that is rewritten whole (temporary file, fsync, rename, fsync of the
// folder), and a key is destroyed by writing the file without it:
//
//   - outbox keys seal the link tokens of pending notify jobs. One key takes
//     new seals for at most outboxKeyLife and is then retired; a retired key
//     is destroyed as soon as no pending job is sealed under it. A key whose
//     jobs are partly done (their tokens must become unreadable) but some of
//     which keep failing is not kept alive by them: after resealAfter its
//     remaining jobs are sealed again under the current key, and it goes.
//     A key whose jobs are all still pending (a provider's outage) is kept:
//     it protects nothing already sent, and resealing a backlog every minute
//     would cost more than it buys.
//   - expiry keys, one per expiryPeriod of expiry instants (UTC hours), are
//     mixed into the key that wraps each message key for its recipients, and
//     seal its escrow packet. Sweep destroys a period's key once the period
//     has ended, i.e. once every message expiring in it has expired.
//
// The file is sealed with AES-256-GCM under a key derived from the key file
// (Options.KeyFile, unchanged: 32 random bytes), so a copy of the vault and
// the key store without the key file opens nothing. Every key is made
// durable (the file written and synced) before anything is sealed under it,
// so an accept never gets its 250 with a token or message key that a crash
// could lose; that costs one file write per new outbox key (at most one a
// second, in the background, and only while mail flows) and per new expiry
// period, never one per message.

import (
	"bytes"
	"cmp"
	"context"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"sigill/vault/kv"
)

const (
	// outboxKeyLife is how long one outbox key takes new seals while mail
	// flows. A notified job's token stays readable (with the key file and
	// the key store) until its key is destroyed: at most this long plus the
	// time its last companion takes to be sent, or resealAfter.
	outboxKeyLife = time.Minute
	// resealAfter is how long a retired outbox key some of whose jobs are
	// done waits for the rest before they are resealed under the current key.
	resealAfter = time.Minute
	// expiryPeriod is the span of expiry instants that share one expiry key.
	// A message's content is refused from its exact expiry; its key goes at
	// the end of its period, so copies of the files made up to this long
	// after the expiry still open it (with a token).
	expiryPeriod = time.Hour
	// shredGap bounds how often the background pass rewrites the key store;
	// shredTick is how often it looks without being asked (for retirement by
	// age and for resealing).
	shredGap  = time.Second
	shredTick = 10 * time.Second

	keyStoreVersion = 1
)

var keyStoreMagic = []byte("sigill-keys\x00")

// outboxKey seals link tokens for the outbox. The counts are kept in memory
// (rebuilt from the outbox at Open) and changed only by committed
// transactions (tx.OnCommit) and by acquire/release.
type outboxKey struct {
	id       uint64
	raw      []byte
	aead     cipher.AEAD
	since    time.Time // became the key new seals go to (zero: not yet)
	retired  time.Time // stopped being it (zero: current or next)
	inflight int       // accepts and reseals sealing under it, not yet committed
	pending  int       // committed jobs sealed under it
	sealed   int       // committed seals under it since Open; -1: unknown (loaded)
	durable  bool      // in the key store file
	node     string    // the node that made it: only it seals under it
	made     time.Time
}

// expiryKey is the key of the messages whose expiry falls in [start, end).
type expiryKey struct {
	id         uint64
	start, end time.Time
	raw        []byte
	escrow     cipher.AEAD // seals escrow packets
	secret     cipher.AEAD // seals the messages' expiry secrets (expiry.go)
	durable    bool
	inflight   int  // accepts and expiry changes sealing under it, not yet committed
	keep       bool // retiring, but a message that cannot be resealed needs it until its period ends
}

// keyStore is the vault's key store: its file and the keys in memory.
//
// Shared by several nodes (a backend other than the file), each node makes
// and seals under outbox keys of its own (outboxKey.node); a write that
// finds the stored version moved (another node wrote) loads the stored keys,
// merges what this node changed since its last write into them, and writes
// again (persistLocked). Outbox keys of other nodes are retired by age
// (retiredAt) and destroyed, once no pending job is sealed under them, by
// whichever node sees that first.
type keyStore struct {
	backend KeyStoreBackend
	store   cipher.AEAD // seals the file; from the key file's key
	check   cipher.AEAD // seals the store's key check value (initFile)
	id      []byte      // random; the vault's meta bucket names the store it belongs to
	node    string      // this node's id (Options.NodeID)
	shared  bool        // other nodes use the same key store
	version uint64      // the stored version this node last read or wrote
	// gone are the keys (outbox and expiry ids) destroyed here since the
	// last write: a merge must not bring them back.
	gone        map[uint64]bool
	lastRefresh time.Time
	startedAt   time.Time // start has made this node's current and next keys

	writeMu sync.Mutex // one write of the file at a time; taken before mu
	// openMu is held (read) by readers that decode jobs outside the
	// committer, so that no outbox key is destroyed between their read of a
	// job and their unsealing of its token.
	openMu sync.RWMutex

	mu      sync.Mutex
	outbox  map[uint64]*outboxKey
	current *outboxKey
	next    *outboxKey // durable before it becomes current
	expiry  map[int64]*expiryKey
	// retiring are expiry keys replaced in their period (by id): kept until
	// every message sealed under one is sealed again under its successor
	// (expiry.go), then destroyed.
	retiring map[uint64]*expiryKey
	dirty    bool // the file holds keys that are destroyed in memory
	lastErr  error

	replacing bool // made from an empty file: the admin lets the old store's keys go
}

// keyStoreFile is the sealed file's content.
type keyStoreFile struct {
	ID      []byte           `json:"id"`
	Current uint64           `json:"current"`
	Next    uint64           `json:"next"`
	Outbox  []keyStoreOutbox `json:"outbox"`
	Expiry  []keyStoreExpiry `json:"expiry"`
	// Retiring expiry keys: replaced in their period, still needed by
	// messages not yet sealed again (expiry.go).
	Retiring []keyStoreExpiry `json:"retiring,omitempty"`
}

type keyStoreOutbox struct {
	ID  uint64 `json:"id"`
	Key []byte `json:"key"`
	// Node made the key; Since is when it became the node's current key,
	// Retired when it stopped being it; Made when it was made. Absent in
	// stores written before keys had owners: such keys are retired at Open.
	Node    string    `json:"node,omitempty"`
	Since   time.Time `json:"since,omitzero"`
	Retired time.Time `json:"retired,omitzero"`
	Made    time.Time `json:"made,omitzero"`
}

type keyStoreExpiry struct {
	ID    uint64 `json:"id"`    // random: a message names its key by period and id
	Start int64  `json:"start"` // Unix seconds
	End   int64  `json:"end"`
	Key   []byte `json:"key"`
}

// derivedAEAD is AES-256-GCM under HKDF-SHA256(secret, info): one key per
// purpose from each secret.
func derivedAEAD(secret []byte, info string) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, secret, nil, info, 32)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	return newGCM(k)
}

// loadKeyStore reads the key store from backend, sealed under fileKey; none
// stored gives an empty store with a new id (created reports it; nothing
// is written until persist).
func loadKeyStore(backend KeyStoreBackend, keyFile string, fileKey []byte, node string) (ks *keyStore, created bool, err error) {
	aead, err := derivedAEAD(fileKey, infoStore)
	if err != nil {
		return nil, false, err
	}
	check, err := derivedAEAD(fileKey, infoCheck)
	if err != nil {
		return nil, false, err
	}
	_, isFile := backend.(fileKeyStore)
	ks = &keyStore{
		backend: backend, store: aead, check: check, node: node, shared: !isFile, gone: map[uint64]bool{},
		outbox: map[uint64]*outboxKey{}, expiry: map[int64]*expiryKey{}, retiring: map[uint64]*expiryKey{},
	}
	b, version, err := backend.Load()
	if errors.Is(err, ErrNoKeyStore) {
		ks.id = randomBytes(16)
		return ks, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("key store %s: %w", backend.Where(), err)
	}
	ks.version = version
	if len(b) == 0 {
		// An empty file is the admin's consent to start a new key store
		// for a vault that needed the lost one (see initFile).
		ks.id, ks.replacing = randomBytes(16), true
		return ks, false, nil
	}
	f, err := ks.decode(b, keyFile)
	if err != nil {
		return nil, false, err
	}
	defer f.clear()
	ks.id = f.ID
	if err := ks.mergeLocked(f); err != nil {
		return nil, false, err
	}
	return ks, false, nil
}

// decode opens a stored key store.
func (ks *keyStore) decode(b []byte, keyFile string) (*keyStoreFile, error) {
	where := ks.backend.Where()
	head := len(keyStoreMagic) + 1
	n := ks.store.NonceSize()
	if len(b) < head+n+ks.store.Overhead() || !bytes.Equal(b[:len(keyStoreMagic)], keyStoreMagic) {
		return nil, fmt.Errorf("key store %s: not a sigill key store", where)
	}
	if b[len(keyStoreMagic)] != keyStoreVersion {
		return nil, fmt.Errorf("key store %s: version %d, this sigill reads %d", where, b[len(keyStoreMagic)], keyStoreVersion)
	}
	plain, err := ks.store.Open(nil, b[head:head+n], b[head+n:], b[:head])
	if err != nil {
		return nil, fmt.Errorf("key store %s does not open with key file %s: %w; restore the key file it was made with", where, keyFile, ErrKeyMismatch)
	}
	defer clear(plain)
	var f keyStoreFile
	if err := json.Unmarshal(plain, &f); err != nil {
		return nil, fmt.Errorf("key store %s: %w", where, err)
	}
	return &f, nil
}

// clear wipes the keys of a decoded store that were not taken over.
func (f *keyStoreFile) clear() {
	for _, o := range f.Outbox {
		clear(o.Key)
	}
	for _, e := range slices.Concat(f.Expiry, f.Retiring) {
		clear(e.Key)
	}
}

// mergeLocked takes the stored keys f into memory, keeping what this node
// changed since it last read or wrote the store: keys made here and not
// yet written stay, keys destroyed here (ks.gone) stay destroyed, and keys
// written before that f no longer holds were destroyed by another node and
// go. Where f holds another key for a period than one made here and not
// yet written, f's is taken (nothing is sealed under a key before it is
// written). ks.mu held, or ks not yet shared.
func (ks *keyStore) mergeLocked(f *keyStoreFile) error {
	where := ks.backend.Where()
	stored := map[uint64]bool{}
	for _, o := range f.Outbox {
		stored[o.ID] = true
		if ks.gone[o.ID] {
			continue
		}
		k := ks.outbox[o.ID]
		if k == nil {
			var err error
			if k, err = newOutboxKey(o.ID, bytes.Clone(o.Key)); err != nil {
				return fmt.Errorf("key store %s: %w", where, err)
			}
			k.sealed, k.node, k.since, k.made = -1, o.Node, o.Since, o.Made
			if ks.startedAt.IsZero() {
				k.retired = o.Retired
			} else {
				k.pending = -1 // not counted yet (recount)
			}
			ks.outbox[o.ID] = k
		}
		k.durable = true
		if k.node != ks.node {
			k.since, k.retired = o.Since, o.Retired // the owner's word
		}
	}
	for id, k := range ks.outbox {
		if k.durable && !stored[id] {
			delete(ks.outbox, id)
			clear(k.raw)
		}
	}
	if !ks.startedAt.IsZero() {
		// This node's own keys are destroyed by no other node, short of
		// one that took them for a dead node's (this one stood still for
		// minutes): new seals go to a fresh key, written before persist
		// returns.
		if ks.current != nil && ks.outbox[ks.current.id] != ks.current {
			ks.current = nil
		}
		if ks.next != nil && ks.outbox[ks.next.id] != ks.next {
			ks.next = nil
		}
		if ks.current == nil {
			ks.current, ks.next = cmp.Or(ks.next, ks.freshOutboxKey()), nil
			ks.current.since = time.Now().UTC()
		}
		if ks.next == nil {
			ks.next = ks.freshOutboxKey()
		}
	}
	storedExp := map[uint64]bool{}
	take := func(e keyStoreExpiry) (*expiryKey, error) {
		k, err := newExpiryKey(e.ID, time.Unix(e.Start, 0).UTC(), time.Unix(e.End, 0).UTC(), bytes.Clone(e.Key))
		if err != nil {
			return nil, fmt.Errorf("key store %s: %w", where, err)
		}
		k.durable = true
		return k, nil
	}
	// Retiring first: a key another node replaced leaves the period free
	// for that node's successor.
	for _, e := range f.Retiring {
		storedExp[e.ID] = true
		if ks.gone[e.ID] || ks.retiring[e.ID] != nil {
			continue
		}
		if k := ks.expiry[e.Start]; k != nil && k.id == e.ID {
			delete(ks.expiry, e.Start) // replaced by another node
			ks.retiring[e.ID] = k
			continue
		}
		k, err := take(e)
		if err != nil {
			return err
		}
		ks.retiring[e.ID] = k
	}
	for _, e := range f.Expiry {
		storedExp[e.ID] = true
		if ks.gone[e.ID] || ks.retiring[e.ID] != nil {
			continue // destroyed or replaced here, not yet written
		}
		if k := ks.expiry[e.Start]; k != nil && k.id == e.ID {
			k.durable = true
			continue
		}
		// None here, or one made here and not yet written, which nothing
		// is sealed under: the stored one is the period's.
		k, err := take(e)
		if err != nil {
			return err
		}
		ks.expiry[e.Start] = k
	}
	for start, k := range ks.expiry {
		if k.durable && !storedExp[k.id] {
			delete(ks.expiry, start)
		}
	}
	for id, k := range ks.retiring {
		if k.durable && !storedExp[id] {
			delete(ks.retiring, id)
		}
	}
	return nil
}

func newOutboxKey(id uint64, raw []byte) (*outboxKey, error) {
	if len(raw) != 32 {
		return nil, fmt.Errorf("outbox key %d: %d bytes", id, len(raw))
	}
	aead, err := derivedAEAD(raw, infoSeal)
	if err != nil {
		return nil, err
	}
	return &outboxKey{id: id, raw: raw, aead: aead}, nil
}

func newExpiryKey(id uint64, start, end time.Time, raw []byte) (*expiryKey, error) {
	if len(raw) != 32 {
		return nil, fmt.Errorf("expiry key %v: %d bytes", start, len(raw))
	}
	aead, err := derivedAEAD(raw, infoEscrow)
	if err != nil {
		return nil, err
	}
	secret, err := derivedAEAD(raw, infoSecret)
	if err != nil {
		return nil, err
	}
	return &expiryKey{id: id, start: start, end: end, raw: raw, escrow: aead, secret: secret}, nil
}

// freshOutboxKey makes a key with a random id not in use; ks.mu held.
func (ks *keyStore) freshOutboxKey() *outboxKey {
	for {
		id := binary.BigEndian.Uint64(randomBytes(8))
		if id == 0 || ks.outbox[id] != nil {
			continue
		}
		k, err := newOutboxKey(id, randomBytes(32))
		if err != nil {
			panic("vault: " + err.Error()) // AES-256 with a 32-byte key does not fail
		}
		k.node, k.made = ks.node, time.Now().UTC()
		ks.outbox[id] = k
		return k
	}
}

// start readies the store of a vault being opened, as of now: pending
// counts the committed jobs per outbox key (from the outbox); every key
// loaded is retired (its jobs are resealed or it is destroyed by the next
// passes) — on a shared store only this node's own and those without an
// owner, since other nodes' are theirs (retiredAt) — and a fresh current
// and next key are made and written with the file.
func (ks *keyStore) start(now time.Time, pending map[uint64]int) error {
	ks.mu.Lock()
	ks.startedAt = now
	for id, k := range ks.outbox {
		k.pending = pending[id]
		if !ks.shared || k.node == ks.node || k.node == "" {
			k.retired = now
		} else {
			k.pending = -1 // its owner may commit more: counted once quiet (recount)
		}
	}
	ks.current = ks.freshOutboxKey()
	ks.current.since = now
	ks.next = ks.freshOutboxKey()
	ks.mu.Unlock()
	ks.writeMu.Lock()
	defer ks.writeMu.Unlock()
	return ks.persistLocked()
}

// persistLocked writes every key in memory to the store; ks.writeMu held.
// When another node wrote first (kv.ErrConflict), it loads what that node
// wrote, merges this node's changes into it and writes again.
func (ks *keyStore) persistLocked() error {
	var err error
	for range keyStoreAttempts {
		if err = ks.writeLocked(); !errors.Is(err, kv.ErrConflict) {
			break
		}
		b, version, lerr := ks.backend.Load()
		if lerr == nil && len(b) == 0 {
			lerr = errors.New("emptied by another node")
		}
		var f *keyStoreFile
		if lerr == nil {
			f, lerr = ks.decode(b, "")
		}
		if lerr != nil {
			err = fmt.Errorf("key store %s: reload after another node's write: %w", ks.backend.Where(), lerr)
			break
		}
		ks.mu.Lock()
		lerr = ks.mergeLocked(f)
		ks.version = version
		ks.mu.Unlock()
		f.clear()
		if lerr != nil {
			err = lerr
			break
		}
	}
	if err != nil {
		ks.mu.Lock()
		ks.lastErr = err
		ks.mu.Unlock()
		keyStoreWriteErrors.Inc()
		return fmt.Errorf("key store: %w", err)
	}
	return nil
}

// keyStoreAttempts bounds how often a write of the key store runs again
// after another node's.
const keyStoreAttempts = 20

// writeLocked seals every key in memory and saves it; ks.writeMu held.
func (ks *keyStore) writeLocked() error {
	ks.mu.Lock()
	f := keyStoreFile{ID: ks.id}
	if ks.current != nil {
		f.Current = ks.current.id
	}
	if ks.next != nil {
		f.Next = ks.next.id
	}
	var wrote []*outboxKey
	for _, k := range ks.outbox {
		f.Outbox = append(f.Outbox, keyStoreOutbox{ID: k.id, Key: k.raw, Node: k.node, Since: k.since, Retired: k.retired, Made: k.made})
		wrote = append(wrote, k)
	}
	var wroteExp []*expiryKey
	for _, k := range ks.expiry {
		f.Expiry = append(f.Expiry, keyStoreExpiry{ID: k.id, Start: k.start.Unix(), End: k.end.Unix(), Key: k.raw})
		wroteExp = append(wroteExp, k)
	}
	for _, k := range ks.retiring {
		f.Retiring = append(f.Retiring, keyStoreExpiry{ID: k.id, Start: k.start.Unix(), End: k.end.Unix(), Key: k.raw})
	}
	version := ks.version
	ks.mu.Unlock()
	plain, err := json.Marshal(f)
	if err != nil {
		return err
	}
	head := append(bytes.Clone(keyStoreMagic), keyStoreVersion)
	nonce := randomBytes(ks.store.NonceSize())
	out := ks.store.Seal(append(head, nonce...), nonce, plain, head)
	clear(plain)
	if err := ks.backend.Save(out, version); err != nil {
		return err
	}
	ks.mu.Lock()
	for _, k := range wrote {
		k.durable = true
	}
	for _, k := range wroteExp {
		k.durable = true
	}
	if ks.shared {
		ks.version = version + 1
	}
	clear(ks.gone)
	ks.dirty, ks.lastErr = false, nil
	outboxKeys.Set(float64(len(ks.outbox)))
	expiryKeys.Set(float64(len(ks.expiry)))
	ks.mu.Unlock()
	return nil
}

// refresh loads the key store when another node may have written keys this
// node does not know (a job or message sealed under one of them): at most
// once a second, never while this node writes (that write merges anyway),
// and only for a shared store.
func (ks *keyStore) refresh() {
	if !ks.shared || !ks.writeMu.TryLock() {
		return
	}
	defer ks.writeMu.Unlock()
	ks.mu.Lock()
	recent := time.Since(ks.lastRefresh) < time.Second
	if !recent {
		ks.lastRefresh = time.Now()
	}
	ks.mu.Unlock()
	if recent {
		return
	}
	b, version, err := ks.backend.Load()
	if err != nil || len(b) == 0 {
		return
	}
	ks.mu.Lock()
	moved := version != ks.version
	ks.mu.Unlock()
	if !moved {
		return
	}
	f, err := ks.decode(b, "")
	if err != nil {
		return
	}
	defer f.clear()
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.mergeLocked(f) == nil && len(ks.gone) == 0 && !ks.dirty {
		// Nothing of this node's is unwritten: it is at the stored version.
		ks.version = version
	}
}

// writeFileAtomic replaces path with data: a temporary file beside it,
// written and synced, renamed over it, and the folder synced, so that the
// file is either the old or the new one after a crash, and the new one is
// on disk when this returns.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// acquire returns the outbox key new seals go to, counted in flight until
// release.
func (ks *keyStore) acquire() *outboxKey {
	ks.mu.Lock()
	k := ks.current
	k.inflight++
	ks.mu.Unlock()
	return k
}

func (ks *keyStore) release(k *outboxKey) {
	ks.mu.Lock()
	k.inflight--
	ks.mu.Unlock()
}

// added counts n jobs committed under k (tx.OnCommit).
func (ks *keyStore) added(k *outboxKey, n int) {
	ks.mu.Lock()
	k.pending += n
	if k.sealed >= 0 {
		k.sealed += n
	}
	ks.mu.Unlock()
}

// removed counts one committed job under key id gone (done, failed,
// dropped or resealed) (tx.OnCommit).
func (ks *keyStore) removed(id uint64) {
	ks.mu.Lock()
	if k := ks.outbox[id]; k != nil && k.pending > 0 {
		k.pending--
	}
	ks.mu.Unlock()
}

// outboxKey returns key id for unsealing, or nil when it is destroyed. A
// key this node does not know may be another node's, written since this
// one last read the store: it reads it again first.
func (ks *keyStore) outboxKey(id uint64) *outboxKey {
	ks.mu.Lock()
	k := ks.outbox[id]
	ks.mu.Unlock()
	if k == nil && ks.shared {
		ks.refresh()
		ks.mu.Lock()
		k = ks.outbox[id]
		ks.mu.Unlock()
	}
	return k
}

func periodStart(expires time.Time) time.Time {
	return expires.UTC().Truncate(expiryPeriod)
}

// expiryKeyFor returns the durable key of expires' period, making and
// writing it first when there is none. The background pass makes the keys
// of the coming periods ahead of need, so an accept rarely waits. The key
// is counted in flight until releaseExpiry: a key being replaced in its
// period waits for it (expiry.go).
func (ks *keyStore) expiryKeyFor(expires time.Time) (*expiryKey, error) {
	start := periodStart(expires)
	ks.mu.Lock()
	k := ks.expiry[start.Unix()]
	durable := k != nil && k.durable
	if durable {
		k.inflight++
	}
	ks.mu.Unlock()
	if durable {
		return k, nil
	}
	ks.writeMu.Lock()
	defer ks.writeMu.Unlock()
	ks.mu.Lock()
	k = ks.addExpiryLocked(start)
	durable = k.durable
	ks.mu.Unlock()
	if !durable {
		if err := ks.persistLocked(); err != nil {
			return nil, err
		}
	}
	// Another node may have written its key for the period first: the
	// merge took that one.
	ks.mu.Lock()
	defer ks.mu.Unlock()
	k = ks.expiry[start.Unix()]
	if k == nil || !k.durable {
		return nil, fmt.Errorf("key store %s: no durable expiry key for %s", ks.backend.Where(), start.Format(time.RFC3339))
	}
	k.inflight++
	return k, nil
}

// releaseExpiry ends what expiryKeyFor counted.
func (ks *keyStore) releaseExpiry(k *expiryKey) {
	ks.mu.Lock()
	k.inflight--
	ks.mu.Unlock()
}

// addExpiryLocked returns the key of the period starting at start, adding a
// new (not yet durable) one when missing; ks.mu held.
func (ks *keyStore) addExpiryLocked(start time.Time) *expiryKey {
	if k := ks.expiry[start.Unix()]; k != nil {
		return k
	}
	k, err := newExpiryKey(binary.BigEndian.Uint64(randomBytes(8)), start, start.Add(expiryPeriod), randomBytes(32))
	if err != nil {
		panic("vault: " + err.Error())
	}
	ks.expiry[start.Unix()] = k
	return k
}

// expiryKeyAt returns key id of the period starting at start (Unix
// seconds), or nil once it is destroyed (or lost with a replaced key store,
// whose key of the same period is another).
func (ks *keyStore) expiryKeyAt(start int64, id uint64) *expiryKey {
	if k := ks.expiryKeyKnown(start, id); k != nil || !ks.shared {
		return k
	}
	ks.refresh() // perhaps another node's, written since this one read the store
	return ks.expiryKeyKnown(start, id)
}

func (ks *keyStore) expiryKeyKnown(start int64, id uint64) *expiryKey {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if k := ks.expiry[start]; k != nil && k.id == id {
		return k
	}
	if k := ks.retiring[id]; k != nil && k.start.Unix() == start {
		return k
	}
	return nil
}

// currentExpiry returns the key that now seals the period starting at
// start (Unix seconds), or nil.
func (ks *keyStore) currentExpiry(start int64) *expiryKey {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.expiry[start]
}

// dropExpired destroys the keys of every period that has ended by now, and
// returns how many went.
func (ks *keyStore) dropExpired(now time.Time) (int, error) {
	ks.writeMu.Lock()
	defer ks.writeMu.Unlock()
	ks.mu.Lock()
	n := 0
	for start, k := range ks.expiry {
		if !now.Before(k.end) {
			// Not cleared in memory: a Decrypt that looked it up may still
			// use it (and refuses the expired message anyway).
			delete(ks.expiry, start)
			ks.gone[k.id] = true
			n++
		}
	}
	for id, k := range ks.retiring {
		if !now.Before(k.end) {
			delete(ks.retiring, id)
			ks.gone[id] = true
			n++
		}
	}
	write := n > 0 || ks.dirty
	if n > 0 {
		ks.dirty = true
	}
	ks.mu.Unlock()
	if !write {
		return 0, nil
	}
	return n, ks.persistLocked()
}

// toReseal returns the retired outbox keys whose pending jobs are to be
// sealed again: some of their jobs are done (or, for a key loaded at Open,
// may be), and they retired resealAfter ago.
func (ks *keyStore) toReseal(now time.Time) []*outboxKey {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	var out []*outboxKey
	for _, k := range ks.outbox {
		retired := ks.retiredAt(k)
		if k == ks.current || k == ks.next || retired.IsZero() || k.pending <= 0 || k.inflight > 0 {
			continue
		}
		if (k.sealed < 0 || k.pending < k.sealed) && now.Sub(retired) >= resealAfter+ks.graceFor(k) {
			out = append(out, k)
		}
	}
	return out
}

// foreignGrace is how long after another node's key is retired (by that
// node, or by age: retiredAt) this node waits before it reseals the jobs
// under it or destroys it, so that the owner's seals in flight under it
// have committed. A dead node's keys go within outboxKeyLife+3*foreignGrace
// (resealAfter later when jobs are still sealed under them).
const foreignGrace = time.Minute

// retiredAt is when k stopped taking new seals, zero while it may take
// them. Another node's key is retired by age as well: its owner replaces
// its current key every outboxKeyLife on a shared store, so a key current
// (or next) for much longer belongs to a node that is gone.
func (ks *keyStore) retiredAt(k *outboxKey) time.Time {
	switch {
	case !k.retired.IsZero() || !ks.foreign(k):
		return k.retired
	case !k.since.IsZero():
		return k.since.Add(outboxKeyLife + foreignGrace)
	case !k.made.IsZero():
		return k.made.Add(2*outboxKeyLife + foreignGrace)
	}
	return time.Time{}
}

// foreign tells whether k is another node's key in a shared store.
func (ks *keyStore) foreign(k *outboxKey) bool { return ks.shared && k.node != ks.node }

func (ks *keyStore) graceFor(k *outboxKey) time.Duration {
	if ks.foreign(k) {
		return foreignGrace
	}
	return 0
}

// destroyable tells whether no job is, or will be, sealed under k: none
// pending (counted), none in flight here, and for another node's key its
// grace over; ks.mu held.
func (ks *keyStore) destroyable(k *outboxKey, now time.Time) bool {
	if k.pending != 0 || k.inflight != 0 {
		return false
	}
	if !ks.foreign(k) {
		return true
	}
	r := ks.retiredAt(k)
	return !r.IsZero() && now.Sub(r) >= foreignGrace
}

// quietKeys are the retired keys no seal can be added under any more (none
// in flight here; another node's past its grace), whose pending jobs a
// count of the committed outbox taken after this call gives exactly.
func (ks *keyStore) quietKeys(now time.Time) []*outboxKey {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	var out []*outboxKey
	for _, k := range ks.outbox {
		r := ks.retiredAt(k)
		if k != ks.current && k != ks.next && !r.IsZero() && k.inflight == 0 && now.Sub(r) >= ks.graceFor(k) {
			out = append(out, k)
		}
	}
	return out
}

// recount sets the pending jobs of quiet keys from a count of the committed
// outbox: on a shared store other nodes finish (and reseal) jobs sealed
// under this node's keys, and this node counts only its own.
func (ks *keyStore) recount(quiet []*outboxKey, pending map[uint64]int) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	for _, k := range quiet {
		k.pending = pending[k.id]
	}
}

// rotateAndDrop retires the current outbox key when it is due (idle with
// its jobs done, or older than outboxKeyLife), destroys every retired key no
// job needs, makes the expiry keys of the coming periods (expiryHorizon
// ahead) and writes the file when anything changed.
func (ks *keyStore) rotateAndDrop(now time.Time, expiryHorizon time.Duration) error {
	ks.writeMu.Lock()
	defer ks.writeMu.Unlock()
	ks.openMu.Lock() // no reader is between reading a job and unsealing its token
	ks.mu.Lock()
	changed := ks.dirty
	cur := ks.current
	used := cur.sealed > 0 || cur.inflight > 0 || cur.pending > 0
	idleDone := cur.pending == 0 && cur.inflight == 0 && cur.sealed > 0
	// On a shared store an unused key is replaced too, so that other nodes
	// tell a live node's key from a dead one's by its age (retiredAt).
	if (idleDone || ((used || ks.shared) && now.Sub(cur.since) >= outboxKeyLife)) && ks.next != nil && ks.next.durable {
		cur.retired = now
		ks.current = ks.next
		ks.current.since = now
		ks.next = ks.freshOutboxKey()
		changed = true
	}
	if ks.next == nil {
		ks.next = ks.freshOutboxKey()
		changed = true
	}
	for id, k := range ks.outbox {
		if k != ks.current && k != ks.next && ks.destroyable(k, now) {
			delete(ks.outbox, id)
			ks.gone[id] = true
			clear(k.raw)
			changed = true
		}
	}
	for _, at := range []time.Time{now.Add(expiryHorizon), now.Add(expiryHorizon + expiryPeriod)} {
		if _, ok := ks.expiry[periodStart(at).Unix()]; !ok {
			ks.addExpiryLocked(periodStart(at))
			changed = true
		}
	}
	for _, k := range ks.expiry {
		changed = changed || !k.durable
	}
	if ks.next != nil && !ks.next.durable {
		changed = true
	}
	ks.mu.Unlock()
	ks.openMu.Unlock()
	if !changed {
		return nil
	}
	return ks.persistLocked()
}

// shredPass is one round of the background work: reseal what keeps a
// retired outbox key alive, then rotate, destroy and write. resealing is
// skipped when the committer is closing.
func (v *Vault) shredPass(reseal bool) error {
	now := v.now().UTC()
	var errs []error
	if v.keys.shared {
		// Count what is sealed under the keys that take no seals any more,
		// after finding them: other nodes finish this node's jobs, and
		// another node's keys are counted by nobody else.
		quiet := v.keys.quietKeys(now)
		var pending map[uint64]int
		err := v.view(func(tx kv.Tx) (err error) { pending, err = pendingByKey(tx); return err })
		if err != nil {
			errs = append(errs, fmt.Errorf("vault: count pending jobs: %w", err))
		} else {
			v.keys.recount(quiet, pending)
		}
	}
	if reseal {
		for _, k := range v.keys.toReseal(now) {
			if err := v.reseal(k); err != nil {
				errs = append(errs, err)
			}
		}
		for _, k := range v.keys.toFinish() {
			if err := v.finishRetiring(k); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := v.keys.rotateAndDrop(now, v.opt.Retention); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// reseal seals every pending job under old again under the current outbox
// key, in chunks, so that old can be destroyed.
func (v *Vault) reseal(old *outboxKey) error {
	var ids [][]byte
	err := v.view(func(tx kv.Tx) error {
		return tx.Bucket(bOutbox).Range(kv.Range{}, func(k, b []byte) error {
			var r struct {
				Epoch uint64 `json:"epoch"`
			}
			if json.Unmarshal(b, &r) == nil && r.Epoch == old.id {
				ids = append(ids, bytes.Clone(k))
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("vault: reseal: %w", err)
	}
	to := v.keys.acquire()
	defer v.keys.release(to)
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), sweepChunk)]
		ids = ids[len(chunk):]
		err := v.commit.update(context.Background(), func(tx kv.Tx) error {
			outbox := tx.Bucket(bOutbox)
			n := 0
			for _, k := range chunk {
				b, err := outbox.Get(k)
				if err != nil {
					return err
				}
				if b == nil {
					continue
				}
				var r jobRecord
				if err := json.Unmarshal(b, &r); err != nil {
					return fmt.Errorf("job %x: %w", k, err)
				}
				if r.Epoch != old.id {
					continue
				}
				raw, err := openToken(old, r.SealedToken, r.MessageID, r.Recipient)
				if err != nil {
					continue // a damaged record: ClaimJobs fails it
				}
				r.Epoch, r.SealedToken = to.id, sealToken(to, raw, r.MessageID, r.Recipient)
				clear(raw)
				out, err := json.Marshal(r)
				if err != nil {
					return err
				}
				if err := outbox.Put(k, out); err != nil {
					return err
				}
				n++
			}
			tx.OnCommit(func() {
				for range n {
					v.keys.removed(old.id)
				}
				v.keys.added(to, n)
			})
			return nil
		})
		if err != nil {
			return fmt.Errorf("vault: reseal: %w", err)
		}
	}
	return nil
}

// kickShred asks the background pass to run soon (a job is done, so a key
// may have become destroyable).
func (v *Vault) kickShred() {
	select {
	case v.shredKick <- struct{}{}:
	default:
	}
}

// runShredder runs shredPass when kicked (at most every shredGap) and every
// shredTick, until the vault closes.
func (v *Vault) runShredder() {
	defer close(v.shredDone)
	tick := time.NewTicker(shredTick)
	defer tick.Stop()
	var last time.Time
	for {
		select {
		case <-v.closing:
			return
		case <-v.shredKick:
		case <-tick.C:
		}
		if wait := shredGap - time.Since(last); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-v.closing:
				t.Stop()
				return
			case <-t.C:
			}
		}
		last = time.Now()
		_ = v.shredPass(true) // a failure is counted (metrics) and retried next time
	}
}

// pendingByKey counts the outbox's notify jobs per outbox key.
func pendingByKey(tx kv.Tx) (map[uint64]int, error) {
	n := map[uint64]int{}
	err := tx.Bucket(bOutbox).Range(kv.Range{}, func(k, b []byte) error {
		var r struct {
			Epoch uint64 `json:"epoch"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("job %x: %w", k, err)
		}
		if r.Epoch != 0 {
			n[r.Epoch]++
		}
		return nil
	})
	return n, err
}

// replaceExpiry puts a fresh key in old's period in old's place and keeps
// old as retiring, both written to the file before it returns; nothing is
// done when old is no longer its period's key (replaced already, or
// destroyed). New seals for the period go to the fresh key from then on.
func (ks *keyStore) replaceExpiry(old *expiryKey) error {
	ks.writeMu.Lock()
	defer ks.writeMu.Unlock()
	start := old.start.Unix()
	ks.mu.Lock()
	if ks.expiry[start] != old {
		ks.mu.Unlock()
		return nil
	}
	delete(ks.expiry, start)
	ks.retiring[old.id] = old
	fresh := ks.addExpiryLocked(old.start)
	ks.mu.Unlock()
	if err := ks.persistLocked(); err != nil {
		ks.mu.Lock()
		if ks.expiry[start] == fresh && fresh.inflight == 0 {
			ks.expiry[start] = old
			delete(ks.retiring, old.id)
		}
		ks.mu.Unlock()
		return err
	}
	return nil
}

// successor returns the key that replaced a retiring key in its period, or
// nil when the key is no longer retiring (destroyed, or its period over).
func (ks *keyStore) successor(old *expiryKey) *expiryKey {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.retiring[old.id] != old {
		return nil
	}
	return ks.expiry[old.start.Unix()]
}

// expiryInflight tells how many seals under k are not yet committed.
func (ks *keyStore) expiryInflight(k *expiryKey) int {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return k.inflight
}

// toFinish returns the retiring keys the background pass may finish.
func (ks *keyStore) toFinish() []*expiryKey {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	var out []*expiryKey
	for _, k := range ks.retiring {
		if !k.keep && k.inflight == 0 {
			out = append(out, k)
		}
	}
	return out
}

// destroyRetiring destroys a retiring key no message is sealed under any
// more, or, with keep, leaves it to its period's end (dropExpired).
func (ks *keyStore) destroyRetiring(k *expiryKey, keep bool) error {
	ks.writeMu.Lock()
	defer ks.writeMu.Unlock()
	ks.mu.Lock()
	if keep || ks.retiring[k.id] != k {
		k.keep = keep
		ks.mu.Unlock()
		return nil
	}
	delete(ks.retiring, k.id)
	ks.gone[k.id] = true
	ks.dirty = true
	ks.mu.Unlock()
	return ks.persistLocked()
}
