package pgkv

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"sigill/vault/kv"
)

// KeyStore is the vault's sealed key store in the keystore table: one row,
// rewritten whole with a version, so that nodes sharing the store notice
// each other's writes (the vault's KeyStoreBackend). The vault seals it
// under the key file's key before it gets here; the database never sees a
// key in the clear.
type KeyStore struct {
	e    *Engine
	none error
}

// KeyStore is the engine's key store; Load fails with none when no key
// store has been saved yet (the vault's ErrNoKeyStore: this package does
// not import the vault).
func (e *Engine) KeyStore(none error) *KeyStore { return &KeyStore{e: e, none: none} }

// Where names the key store in messages.
func (k *KeyStore) Where() string { return "PostgreSQL table keystore" }

// Load returns the stored value and its version.
func (k *KeyStore) Load() ([]byte, uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var sealed []byte
	var version int64
	err := k.e.pool.QueryRow(ctx, "SELECT sealed, version FROM keystore WHERE id = 1").Scan(&sealed, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, k.none
	}
	if err != nil {
		return nil, 0, fmt.Errorf("load the key store: %w", err)
	}
	if sealed == nil {
		sealed = []byte{}
	}
	return sealed, uint64(version), nil
}

// Save stores sealed as version prev+1 if the stored version is still prev
// (0: no row yet); otherwise it fails with kv.ErrConflict and changes
// nothing. When it returns nil the row is committed (durable as the
// server's commits are).
func (k *KeyStore) Save(sealed []byte, prev uint64) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if sealed == nil {
		sealed = []byte{}
	}
	var tag interface{ RowsAffected() int64 }
	var err error
	if prev == 0 {
		tag, err = k.e.pool.Exec(ctx, "INSERT INTO keystore (id, version, sealed) VALUES (1, 1, $1) ON CONFLICT (id) DO NOTHING", sealed)
	} else {
		tag, err = k.e.pool.Exec(ctx, "UPDATE keystore SET sealed = $1, version = version + 1 WHERE id = 1 AND version = $2", sealed, int64(prev))
	}
	if err != nil {
		return fmt.Errorf("save the key store: %w", mapError(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("save the key store over version %d: %w", prev, kv.ErrConflict)
	}
	return nil
}
