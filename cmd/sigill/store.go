package main

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"sigill/config"
	"sigill/vault"
	"sigill/vault/kv"
	"sigill/vault/kv/pgkv"
)

// openStore opens the engine [store] url names, with the key store kept
// in it; nil, nil for the default, the bbolt file at vault.path.
func openStore(cfg *config.Config) (kv.Engine, vault.KeyStoreBackend, error) {
	if cfg.Store.URL == "" {
		return nil, nil, nil
	}
	e, err := openPostgres(cfg.Store.URL)
	if err != nil {
		return nil, nil, err
	}
	return e, e.KeyStore(vault.ErrNoKeyStore), nil
}

func openPostgres(storeURL string) (*pgkv.Engine, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := pgkv.Open(ctx, storeURL)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", storeName(storeURL), err)
	}
	return e, nil
}

// storeName is a store URL without its password, for messages.
func storeName(storeURL string) string {
	u, err := url.Parse(storeURL)
	if err != nil {
		return "(a store URL that does not parse)"
	}
	u.RawQuery = ""
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	return u.String()
}

// storeWhere names the vault's store in messages: its PostgreSQL database,
// or its file.
func storeWhere(cfg *config.Config) string {
	if cfg.Store.URL != "" {
		return storeName(cfg.Store.URL)
	}
	return cfg.Vault.Path
}
