package vault

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"sigill/vault/kv"
	"sigill/vault/kv/boltkv"
	"sigill/vault/kv/walkv"
)

// Errors callers tell apart with errors.Is. Every error the vault returns is
// wrapped with the operation (and the file, where one is involved).
var (
	ErrNotFound       = errors.New("not found")
	ErrExpired        = errors.New("message expired: its content has been deleted")
	ErrRevoked        = errors.New("message withdrawn by its sender")
	ErrExists         = errors.New("already exists")
	ErrBadCredentials = errors.New("bad credentials")
	// ErrAccountDisabled: the password was right, but the account is
	// disabled.
	ErrAccountDisabled = errors.New("the account is disabled")
	// ErrAppPasswordRequired: the account password was right, but the
	// account has a second factor (or every account must), so mail
	// clients log in with an app password.
	ErrAppPasswordRequired = errors.New("the account has a second factor: log in with an app password")
	// ErrAppPasswordRevoked: the app password a session logged in with
	// has been revoked since.
	ErrAppPasswordRevoked = errors.New("the app password of this login has been revoked")
	// ErrCredentialsChanged: the account's password was set, its second
	// factor reset or the account disabled since this login.
	ErrCredentialsChanged = errors.New("the account's password or second factor has changed since this login")
	ErrClosed             = errors.New("vault closed")
	ErrLocked             = errors.New("file is locked by another process (is sigill already running?)")
	ErrFull               = errors.New("vault full: no space left on the device")
	ErrKeyMismatch        = errors.New("key file and key store do not match the vault")
)

// Defaults of Options.
const (
	DefaultRetention      = 720 * time.Hour   // 30 days
	DefaultAuditRetention = 43800 * time.Hour // 5 years: HSLF-FS 2016:40 asks at least that of access logs
)

// schemaVersion is written to the meta bucket of a new file; Open refuses a
// file with another version, but for those it moves forward (migrate.go).
// 2: tokens sealed under outbox keys and message keys wrapped with expiry
// keys, both from the key store (keystore.go). 3: each message's record,
// content and event index side by side in one table (parts.go).
const schemaVersion = "3"

const (
	defaultLockTimeout = 2 * time.Second
	keyFileSize        = 32
	// initialMmapSize keeps bbolt from remapping (which waits for every open
	// read transaction, e.g. a long Backup) until the file passes it.
	initialMmapSize = 512 << 20
)

// The core's buckets (kv.Tx.Bucket).
const (
	bRecipients = "recipients" // SHA-256(token) → recipientRecord (JSON)
	bEvents     = "events"     // big-endian seq → Event (JSON)
	bOutbox     = "outbox"     // big-endian job id → jobRecord (JSON)
	bAccounts   = "accounts"   // lowercased address → accountRecord (JSON)
	bExpireDue  = "expire_due" // big-endian received ns ‖ id → nothing: content still held
	bPurgeDue   = "purge_due"  // big-endian received ns ‖ id → nothing: content gone, audit kept
	bMeta       = "meta"       // schema version, key id
)

var (
	coreBuckets = []string{bParts, bRecipients, bEvents, bOutbox, bAccounts, bExpireDue, bPurgeDue, bMeta, bOutboxDue}

	kSchema     = []byte("schema")
	kKeyStoreID = []byte("key_store_id") // the id of the key store this file's keys are in
	kKeyCheck   = []byte("key_check")    // a value sealed under the key file's key: which key the store is used with
)

// Options configure Open. Only Path is required.
type Options struct {
	Path string // bbolt file; with Engine, names the store in errors and places the key files beside it
	// Engine is the store the vault's records are kept in (package kv).
	// Nil: the bbolt file at Path, opened (or created) by Open and closed
	// by Close. An Engine given is closed by Close too.
	Engine   kv.Engine
	KeyFile  string // seals the key store; default Path + ".key"; created 0600 with 32 random bytes when missing
	KeyStore string // outbox and expiry keys (keystore.go); default Path + ".keys"; created 0600 when missing
	// KeyStoreBackend keeps the sealed key store where every node sharing
	// Engine reads it (keystore_backend.go); nil: the file KeyStore.
	KeyStoreBackend KeyStoreBackend
	// NodeID names this process among the nodes sharing Engine: its
	// outbox keys (keystore.go) and its leases on outbox jobs (notify.go)
	// are its own. Empty: random at every Open.
	NodeID         string
	Retention      time.Duration    // content + wrapped keys deleted after (default 720h), unless the message asks otherwise (expiry.go)
	MaxRetention   time.Duration    // the longest lifetime a message may ask for (default 2160h, within AuditRetention); not less than Retention
	AuditRetention time.Duration    // events and metadata deleted after (default 43800h); not less than Retention
	EscrowKey      []byte           // optional armored OpenPGP public key; also wraps every session key
	Now            func() time.Time // injectable clock; time.Now when nil
	// FailCommit injects faults, for tests: it is called before each
	// commit of a group of that many write requests, and an error it
	// returns fails that commit as the disk would (wrap syscall.ENOSPC for
	// a full disk: callers then get ErrFull). Nil in production.
	FailCommit func(requests int) error
	// Hooks act inside the transaction that appends (or purges) an event,
	// on tables of their own (hook.go).
	Hooks []Hook
	// RequireSecondFactor makes every account log in to SMTP and IMAP
	// with an app password, as one with a second factor does
	// (config staff.require_2fa).
	RequireSecondFactor bool

	// Unexported knobs for the package's own tests and benchmarks.
	lockTimeout   time.Duration // 0: defaultLockTimeout
	onBatch       func(n int)   // called with the size of every committed group
	rideAlongWait time.Duration // how long notifier bookkeeping waits to join another commit; 0: defaultRideAlongWait
}

// Vault is an open vault file. All its methods are safe for concurrent use.
type Vault struct {
	eng kv.Engine
	// exclusive: no other process uses the store (a bbolt file: its lock
	// admits one), so every lease found in it is a dead process's.
	exclusive bool
	path      string
	opt       Options
	now       func() time.Time
	keys      *keyStore
	secrets   *accountSecrets // seals TOTP secrets, keys the hashes of app passwords and recovery codes
	escrow    *packet.PublicKey
	commit    *committer
	closing   chan struct{}
	once      sync.Once

	shredKick chan struct{} // a job is done: run the key store's pass soon
	sweepKick chan struct{} // an expiry may come before RunSweeper's next wake-up (expiry.go)
	shred     shredDebt     // expiry keys owed a replacement since their messages expired (retention.go)
	shredDone chan struct{} // the background pass has stopped

	handoff atomic.Pointer[Handoff] // the notifier's, when open: Accept's jobs born leased (handoff.go)
}

// Open opens (or creates) the vault file and its key file. It waits a short
// while for bbolt's file lock and then fails with ErrLocked, naming the file.
func Open(o Options) (*Vault, error) {
	if o.Path == "" {
		return nil, errors.New("vault: open: Options.Path is empty")
	}
	if o.KeyFile == "" {
		o.KeyFile = o.Path + ".key"
	}
	if o.KeyStore == "" {
		o.KeyStore = o.Path + ".keys"
	}
	if o.Retention == 0 {
		o.Retention = DefaultRetention
	}
	if o.AuditRetention == 0 {
		o.AuditRetention = DefaultAuditRetention
	}
	if o.Retention < 0 || o.AuditRetention < 0 {
		return nil, fmt.Errorf("vault: open %s: negative retention", o.Path)
	}
	if o.AuditRetention < o.Retention {
		return nil, fmt.Errorf("vault: open %s: audit retention %v is shorter than retention %v", o.Path, o.AuditRetention, o.Retention)
	}
	if o.MaxRetention == 0 {
		o.MaxRetention = min(max(o.Retention, DefaultMaxRetention), o.AuditRetention)
	}
	if o.MaxRetention < o.Retention || o.MaxRetention > o.AuditRetention {
		return nil, fmt.Errorf("vault: open %s: max retention %v is not between retention %v and audit retention %v", o.Path, o.MaxRetention, o.Retention, o.AuditRetention)
	}
	if err := checkHooks(o.Hooks); err != nil {
		return nil, fmt.Errorf("vault: open %s: %w", o.Path, err)
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	var escrow *packet.PublicKey
	if len(o.EscrowKey) > 0 {
		var err error
		if escrow, err = parseEscrowKey(o.EscrowKey, now()); err != nil {
			return nil, fmt.Errorf("vault: open %s: escrow key: %w", o.Path, err)
		}
	}
	eng := o.Engine
	if eng == nil {
		var err error
		if eng, err = openFile(o.Path, o.lockTimeout); err != nil {
			return nil, fmt.Errorf("vault: open %s: %w", o.Path, err)
		}
	}
	// The key file is read only once the lock is held, so two processes
	// never race to create it.
	key, created, err := loadOrCreateKey(o.KeyFile)
	if err != nil {
		eng.Close()
		return nil, fmt.Errorf("vault: open %s: %w", o.Path, err)
	}
	if o.NodeID == "" {
		o.NodeID = hex.EncodeToString(randomBytes(6))
	}
	backend := o.KeyStoreBackend
	if backend == nil {
		backend = fileKeyStore{o.KeyStore}
	}
	ks, storeCreated, err := loadKeyStore(backend, o.KeyFile, key, o.NodeID)
	var secrets *accountSecrets
	if err == nil {
		secrets, err = deriveAccountSecrets(key)
	}
	clear(key)
	if err == nil {
		err = migrate(context.Background(), eng)
	}
	var pending map[uint64]int
	if err == nil {
		err = kv.Update(context.Background(), eng, conflictAttempts, func(tx kv.Tx) error {
			if err := initFile(tx, hookTables(o.Hooks), ks, o.KeyFile, now()); err != nil {
				return err
			}
			pending, err = pendingByKey(tx)
			return err
		})
	}
	if err == nil {
		err = ks.start(now().UTC(), pending)
	}
	if err != nil {
		eng.Close()
		if created {
			os.Remove(o.KeyFile) // a key made for a vault that refused it would only mislead
		}
		if _, isFile := backend.(fileKeyStore); storeCreated && isFile {
			os.Remove(o.KeyStore)
		}
		return nil, fmt.Errorf("vault: open %s: %w", o.Path, err)
	}
	var exclusive bool
	switch eng.(type) {
	case *walkv.Engine, *boltkv.Engine: // one file under its lock: no other process
		exclusive = true
	}
	v := &Vault{
		eng:       eng,
		exclusive: exclusive,
		path:      o.Path,
		opt:       o,
		now:       now,
		keys:      ks,
		secrets:   secrets,
		escrow:    escrow,
		closing:   make(chan struct{}),
		shredKick: make(chan struct{}, 1),
		sweepKick: make(chan struct{}, 1),
		shredDone: make(chan struct{}),
	}
	v.commit = newCommitter(eng, o)
	go v.runShredder()
	if err := v.shredPass(false); err != nil { // the expiry keys of the coming periods
		v.Close()
		return nil, fmt.Errorf("vault: open %s: %w", o.Path, err)
	}
	return v, nil
}

// initFile creates the buckets of a new file, checks the schema version of an
// old one, and checks that the key store is the one its keys are in: another
// one (or a new one, when the file is missing) is taken only while no
// pending notification and no unexpired message needs the old one, or when
// replacing (the admin put an empty file there). The store's key check
// (a value sealed under the key file's key) refuses a key file other than
// the one the store's key store is sealed under; it is written anew with a
// new key store.
func initFile(tx kv.Tx, hookTables []string, ks *keyStore, keyFile string, now time.Time) error {
	storeID, keyStore, replacing := ks.id, ks.backend.Where(), ks.replacing
	for _, name := range slices.Concat(coreBuckets, hookTables) {
		if err := tx.CreateBucket(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	meta := tx.Bucket(bMeta)
	s, err := meta.Get(kSchema)
	switch {
	case err != nil:
		return err
	case s == nil:
		if err := meta.Put(kSchema, []byte(schemaVersion)); err != nil {
			return err
		}
	case string(s) != schemaVersion:
		return fmt.Errorf("schema version %q, this sigill reads %q: the file was written by another version of sigill; "+
			"start this one with a new vault (move the data folder, or vault.path with its .key and .keys files, aside)", s, schemaVersion)
	}
	old, err := meta.Get(kKeyStoreID)
	if err != nil {
		return err
	}
	check, err := meta.Get(kKeyCheck)
	if err != nil {
		return err
	}
	sameStore := old == nil || bytes.Equal(old, storeID)
	// Another key file is refused for the store's own key store, and on a
	// store shared by nodes for any but an emptied one (the admin's
	// consent): a node started with the wrong key file must not take the
	// store over from the others.
	if check != nil && !ks.opensCheck(check) && ((sameStore && old != nil) || (ks.shared && !replacing)) {
		return fmt.Errorf("key file %s: %w: the store was made with another key file; start with the key file the store was made with (vault.key_file, the same on every node)", keyFile, ErrKeyMismatch)
	}
	if !sameStore {
		jobs := 0
		err := tx.Bucket(bOutbox).Range(kv.Range{}, func(_, b []byte) error {
			if bytes.Contains(b, []byte(`"kind":"`+JobNotify+`"`)) { // only notify jobs carry a sealed token
				jobs++
			}
			return nil
		})
		if err != nil {
			return err
		}
		// expire_due is ordered by expiry: its last entry tells whether any
		// message has not expired yet.
		k, _, err := kv.First(tx.Bucket(bExpireDue), kv.Range{Reverse: true})
		if err != nil {
			return err
		}
		live := len(k) > 8 && int64(binary.BigEndian.Uint64(k[:8])) > now.UnixNano()
		if (jobs > 0 || live) && !replacing {
			return fmt.Errorf("%s: %w: it is not the key store of this vault (missing, or another one), and %d pending notifications "+
				"(unexpired messages: %v) need the keys in that one; restore it, with its key file, or, to start without the content "+
				"of those messages and notifications, put an empty file there (install -m 600 /dev/null %s)%s", keyStore, ErrKeyMismatch, jobs, live, keyStore, otherKey(ks, check, keyFile))
		}
	}
	if check == nil || !sameStore {
		if err := meta.Put(kKeyCheck, ks.sealCheck()); err != nil {
			return err
		}
	}
	return meta.Put(kKeyStoreID, storeID)
}

// openFile opens the embedded store: the bbolt file at path behind its
// write-ahead log, path+LogSuffix (see package walkv for why). The log is
// opened once bbolt's file lock is held, so the lock guards both.
func openFile(path string, lockTimeout time.Duration) (*walkv.Engine, error) {
	b, err := openBolt(path, lockTimeout)
	if err != nil {
		return nil, err
	}
	e, err := walkv.Open(b, path+LogSuffix)
	if err != nil {
		b.Close()
		return nil, err
	}
	return e, nil
}

// LogSuffix names the embedded store's write-ahead log: the vault file's
// path and this. The log holds the same sealed records as the file.
const LogSuffix = walkv.LogSuffix

// openBolt opens (or creates) the bbolt file at path as the vault always
// has: bbolt's file lock waited for lockTimeout (0: defaultLockTimeout),
// then ErrLocked; the map freelist; a large first mapping.
func openBolt(path string, lockTimeout time.Duration) (*boltkv.Engine, error) {
	bo := &bolt.Options{
		Timeout:      cmp.Or(lockTimeout, defaultLockTimeout),
		FreelistType: bolt.FreelistMapType,
	}
	if strconv.IntSize == 64 {
		bo.InitialMmapSize = initialMmapSize
	}
	e, err := boltkv.Open(path, bo)
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, ErrLocked
	}
	return e, err
}

// loadOrCreateKey reads the 32-byte outbox key, creating it (0600, fsynced)
// when the file does not exist; created reports that it did. A key file
// others may read is refused.
func loadOrCreateKey(path string) (key []byte, created bool, err error) {
	key, err = readKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	err = createKey(path)
	if errors.Is(err, fs.ErrExist) {
		key, err = readKey(path) // created by someone else meanwhile
		return key, false, err
	}
	if err != nil {
		return nil, false, err
	}
	key, err = readKey(path)
	return key, err == nil, err
}

func readKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("key file %s has mode %#o: others may read it; chmod 600 it", path, perm)
	}
	if fi.Size() != keyFileSize {
		return nil, fmt.Errorf("key file %s: want exactly %d bytes, have %d", path, keyFileSize, fi.Size())
	}
	key := make([]byte, keyFileSize)
	if _, err := io.ReadFull(f, key); err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return key, nil
}

func createKey(path string) error {
	key := make([]byte, keyFileSize)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("key file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("key file: %w", err)
	}
	_, err = f.Write(key)
	clear(key)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("key file: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Close waits for queued writes to commit, then closes the file. Calls after
// Close fail with ErrClosed.
func (v *Vault) Close() error {
	var err error
	v.once.Do(func() {
		close(v.closing)
		<-v.shredDone
		v.commit.close()
		// Every commit is in: destroy what no job needs any more.
		_ = v.shredPass(false)
		if e := v.eng.Close(); e != nil {
			err = fmt.Errorf("vault: close %s: %w", v.path, e)
		}
	})
	return err
}

// view runs fn in a read transaction, reporting a closed store as ErrClosed.
func (v *Vault) view(fn func(kv.Tx) error) error {
	err := kv.View(context.Background(), v.eng, fn)
	if errors.Is(err, kv.ErrClosed) {
		return ErrClosed
	}
	return err
}
