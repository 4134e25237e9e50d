package vault

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sigill/vault/kv"
)

// memKeyStore is a KeyStoreBackend shared by several nodes, versioned as
// a database row would be.
type memKeyStore struct {
	mu      sync.Mutex
	sealed  []byte
	version uint64
	saves   int
}

func (m *memKeyStore) Where() string { return "memory" }

func (m *memKeyStore) Load() ([]byte, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.version == 0 {
		return nil, 0, ErrNoKeyStore
	}
	return bytes.Clone(m.sealed), m.version, nil
}

func (m *memKeyStore) Save(sealed []byte, prev uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if prev != m.version {
		return kv.ErrConflict
	}
	m.sealed, m.version = bytes.Clone(sealed), prev+1
	m.saves++
	return nil
}

func sharedNode(t *testing.T, backend KeyStoreBackend, key []byte, node string) *keyStore {
	t.Helper()
	ks, _, err := loadKeyStore(backend, "key-file", key, node)
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.start(time.Now().UTC(), nil); err != nil {
		t.Fatal(err)
	}
	return ks
}

// TestSharedKeyStoreMerges: two nodes on one key store never overwrite each
// other's keys: each write that finds the stored version moved merges into
// it; a period gets one expiry key whichever node makes it; a node finds
// the other's outbox key when it meets a job sealed under it; a key one
// node destroyed is not brought back by the other's write.
func TestSharedKeyStoreMerges(t *testing.T) {
	backend := &memKeyStore{}
	key := bytes.Repeat([]byte{7}, keyFileSize)
	a := sharedNode(t, backend, key, "a")
	b := sharedNode(t, backend, key, "b") // its first write conflicts with a's
	if !bytes.Equal(a.id, b.id) {
		t.Fatal("the second node made a key store of its own")
	}
	aCur := a.current.id
	if b.outboxKey(aCur) == nil {
		t.Fatal("node b does not know node a's current outbox key")
	}
	bCur := b.current.id
	if a.outboxKey(bCur) == nil { // a reads the store again for a key it does not know
		t.Fatal("node a does not find node b's outbox key")
	}

	// Both make the key of one period: one key, whoever wrote first.
	at := time.Now().Add(3 * time.Hour)
	ka, err := a.expiryKeyFor(at)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := b.expiryKeyFor(at)
	if err != nil {
		t.Fatal(err)
	}
	if ka.id != kb.id || !bytes.Equal(ka.raw, kb.raw) {
		t.Fatal("two nodes made different expiry keys for one period")
	}
	a.releaseExpiry(ka)
	b.releaseExpiry(kb)

	// a destroys the period's key; b's next write keeps it destroyed.
	if _, err := a.dropExpired(at.Add(2 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.expiryKeyFor(time.Now().Add(5 * time.Hour)); err != nil { // a write of b's, on an old version
		t.Fatal(err)
	}
	fresh := sharedNode(t, backend, key, "c")
	if fresh.expiryKeyKnown(periodStart(at).Unix(), ka.id) != nil {
		t.Fatal("a destroyed expiry key is back in the store after another node's write")
	}
	if fresh.outboxKey(aCur) == nil || fresh.outboxKey(bCur) == nil {
		t.Fatal("a node's outbox key was lost in another node's write")
	}
}

// TestSharedKeyStoreForeignKeys: another node's keys are never destroyed
// while its owner may seal under them; once their owner is gone (its current
// key much older than a live node keeps one) and no job is sealed under
// them, they are.
func TestSharedKeyStoreForeignKeys(t *testing.T) {
	backend := &memKeyStore{}
	key := bytes.Repeat([]byte{9}, keyFileSize)
	a := sharedNode(t, backend, key, "a")
	b := sharedNode(t, backend, key, "b")
	aCur := a.current.id
	now := time.Now().UTC()
	b.recount(b.quietKeys(now), nil)
	if err := b.rotateAndDrop(now, time.Hour); err != nil {
		t.Fatal(err)
	}
	if b.outboxKey(aCur) == nil {
		t.Fatal("node b destroyed node a's current key")
	}
	// a is gone; minutes later b retires its keys by age and, with no job
	// sealed under them, destroys them.
	later := now.Add(outboxKeyLife + 3*foreignGrace)
	b.recount(b.quietKeys(later), map[uint64]int{})
	if err := b.rotateAndDrop(later, time.Hour); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	_, kept := b.outbox[aCur]
	b.mu.Unlock()
	if kept {
		t.Fatal("a dead node's outbox key outlived its grace with no job under it")
	}
	// A job still sealed under a dead node's key keeps it (until resealed).
	c := sharedNode(t, backend, key, "c")
	cCur := c.current.id
	later = later.Add(outboxKeyLife + 3*foreignGrace)
	if err := b.rotateAndDrop(later, time.Hour); err != nil { // b's write merges c's keys, not yet counted
		t.Fatal(err)
	}
	if b.outboxKey(cCur) == nil {
		t.Fatal("a key not yet counted was destroyed")
	}
	b.recount(b.quietKeys(later), map[uint64]int{cCur: 1})
	if err := b.rotateAndDrop(later, time.Hour); err != nil {
		t.Fatal(err)
	}
	if b.outboxKey(cCur) == nil {
		t.Fatal("a dead node's key was destroyed while a job is sealed under it")
	}
	if got := b.toReseal(later.Add(resealAfter + foreignGrace)); len(got) != 1 || got[0].id != cCur {
		t.Fatalf("keys to reseal %v, want the dead node's", got)
	}
}

// TestSharedStoreRefusesAnotherKeyFile: a node started with another key
// file than the store was made with is refused, naming the file, also when
// no key store is saved yet (two nodes starting at once); an emptied key
// store is the admin's consent to a new key.
func TestSharedStoreRefusesAnotherKeyFile(t *testing.T) {
	dir := t.TempDir()
	backend := &memKeyStore{}
	o := Options{Path: filepath.Join(dir, "v.db"), KeyStoreBackend: backend}
	v, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	other := filepath.Join(dir, "other.key")
	o2 := o
	o2.KeyFile = other
	if _, err := Open(o2); !errors.Is(err, ErrKeyMismatch) || !strings.Contains(err.Error(), other) {
		t.Fatalf("another key file: %v", err)
	}
	// No key store saved (lost, or not yet written by the node that made
	// the store): the store's key check still refuses the other key.
	*backend = memKeyStore{}
	if _, err := Open(o2); !errors.Is(err, ErrKeyMismatch) || !strings.Contains(err.Error(), other) || !strings.Contains(err.Error(), "made with another key file") {
		t.Fatalf("another key file, no key store: %v", err)
	}
	// An emptied key store: the admin lets the old keys go.
	backend.Save(nil, 0)
	v, err = Open(o2)
	if err != nil {
		t.Fatalf("another key file with the key store emptied: %v", err)
	}
	v.Close()
	if _, err := Open(o); !errors.Is(err, ErrKeyMismatch) || !strings.Contains(err.Error(), o.Path+".key") {
		t.Fatalf("the old key file after the change: %v", err)
	}
	if _, err := os.Stat(o.Path + ".keys"); err == nil {
		t.Fatal("a shared key store wrote the key store file")
	}
}
