package vault

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// KeyStoreBackend keeps the sealed key store (keystore.go): one value,
// sealed under the key file's key, rewritten whole on every change. The
// default is a file (Options.KeyStore); a store shared by several nodes
// (PostgreSQL) keeps it where every node reads it, versioned, so that two
// nodes never overwrite each other's keys.
//
// Load returns the stored value and its version; ErrNoKeyStore when there
// is none yet. An empty value (with a nil error) is the admin's consent to
// start a new key store for a vault whose old one is lost (see initFile).
//
// Save stores sealed as version prevVersion+1, only if the stored version is
// still prevVersion (0: none stored yet); else it fails with kv.ErrConflict
// and changes nothing: another node saved first, and the vault loads the
// new value, merges its own change into it, and saves again. Once Save
// returns nil the value is durable. A backend only one process uses (the
// file) may keep no versions: Load then returns 0 and Save never conflicts.
type KeyStoreBackend interface {
	// Where names the store in messages: a file's path, a table's name.
	Where() string
	Load() (sealed []byte, version uint64, err error)
	Save(sealed []byte, prevVersion uint64) error
}

// ErrNoKeyStore is what KeyStoreBackend.Load fails with when no key store
// has been saved yet.
var ErrNoKeyStore = errors.New("no key store saved yet")

// fileKeyStore is the key store in one file, replaced whole (temporary file,
// fsync, rename, fsync of the folder). The bbolt file's lock admits one
// process, so it keeps no versions.
type fileKeyStore struct{ path string }

func (f fileKeyStore) Where() string { return f.path }

func (f fileKeyStore) Load() ([]byte, uint64, error) {
	b, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, ErrNoKeyStore
	}
	if err != nil {
		return nil, 0, err
	}
	if fi, err := os.Stat(f.path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, 0, fmt.Errorf("key store %s has mode %#o: others may read it; chmod 600 it", f.path, fi.Mode().Perm())
	}
	return b, 0, nil
}

func (f fileKeyStore) Save(sealed []byte, _ uint64) error { return writeFileAtomic(f.path, sealed) }

// keyCheckPlain is what the store's key check seals (initFile).
var keyCheckPlain = []byte("sigill key check")

// sealCheck seals the key check value under the key file's key.
func (ks *keyStore) sealCheck() []byte {
	nonce := randomBytes(ks.check.NonceSize())
	return ks.check.Seal(nonce, nonce, keyCheckPlain, nil)
}

// opensCheck tells whether a stored key check value was sealed under this
// key file's key (for any key store).
func (ks *keyStore) opensCheck(sealed []byte) bool {
	n := ks.check.NonceSize()
	if len(sealed) < n {
		return false
	}
	plain, err := ks.check.Open(nil, sealed[:n], sealed[n:], nil)
	return err == nil && bytes.Equal(plain, keyCheckPlain)
}

// otherKey adds to a refusal that the key file is not the store's, when
// the key check says so.
func otherKey(ks *keyStore, check []byte, keyFile string) string {
	if check == nil || ks.opensCheck(check) {
		return ""
	}
	return fmt.Sprintf("; and the key file %s is not the one this store was made with", keyFile)
}
