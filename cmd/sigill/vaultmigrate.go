package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"

	"sigill/config"
	"sigill/vault"
	"sigill/vault/kv/boltkv"
	"sigill/vault/kv/pgkv"
)

// migrateVault copies the bbolt vault at vault.path (every bucket, its
// sequence, and the sealed key store beside it) into the empty PostgreSQL
// store at to, and says what it copied. The key file is not copied: the
// nodes on PostgreSQL read the same file (vault.key_file).
func migrateVault(cfg *config.Config, to string, stdout io.Writer) error {
	if cfg.Store.URL != "" {
		return fmt.Errorf("this vault's store is PostgreSQL already (%s); migrate copies a bbolt vault file", storeName(cfg.Store.URL))
	}
	target := *cfg
	target.Store.URL = to
	if err := target.Validate(); err != nil {
		return err
	}
	path := cfg.Vault.Path
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no vault at %s (%v); name the right -data or -config", path, err)
	}
	// A damaged file is not copied anywhere. Verify also fails while sigill
	// holds the file, which the copy needs stopped anyway.
	if err := vault.Verify(path); err != nil {
		return fmt.Errorf("%w (stop sigill before migrating its vault)", err)
	}
	src, err := boltkv.Open(path, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("open %s: %w (stop sigill before migrating its vault)", path, err)
	}
	defer src.Close()
	buckets, err := src.BucketNames()
	if err != nil {
		return err
	}
	keyStorePath := path + ".keys" // vault.Options.KeyStore's default; serve has no other
	keyStore, err := os.ReadFile(keyStorePath)
	if errors.Is(err, fs.ErrNotExist) {
		keyStore, err = nil, nil
	}
	if err != nil {
		return fmt.Errorf("key store: %w", err)
	}
	keyFile := cfg.Vault.KeyFile
	if keyFile == "" {
		keyFile = path + ".key"
	}

	dst, err := openPostgres(to)
	if err != nil {
		return err
	}
	defer dst.Close()
	ctx := context.Background()
	copied, err := dst.Import(ctx, src, buckets, keyStore)
	if errors.Is(err, pgkv.ErrNotEmpty) {
		return fmt.Errorf("%s is not empty: migrate copies into an empty store only (a new database, or one emptied by hand), never beside records already there", storeName(to))
	}
	if err != nil {
		return fmt.Errorf("copy into %s: %w (nothing was kept there)", storeName(to), err)
	}

	fmt.Fprintf(stdout, "copied %s into %s:\n", path, storeName(to))
	var total int
	for _, b := range copied {
		fmt.Fprintf(stdout, "  %-24s %9d records  sequence %d\n", b.Bucket, b.Keys, b.Sequence)
		total += b.Keys
	}
	fmt.Fprintf(stdout, "  %d buckets, %d records\n", len(copied), total)
	if keyStore != nil {
		fmt.Fprintf(stdout, "  key store %s: %d bytes, sealed as it was\n", keyStorePath, len(keyStore))
	} else {
		fmt.Fprintf(stdout, "  no key store at %s: nothing was sealed yet\n", keyStorePath)
	}
	if err := vault.VerifyStore(ctx, dst); err != nil {
		return fmt.Errorf("the copy in %s does not verify: %w", storeName(to), err)
	}
	fmt.Fprintf(stdout, "verified. Now set [store] url to it, and vault.key_file = %q on every node:\n"+
		"the copy opens only with that key file. The bbolt file is left as it was; keep it until the new store runs.\n", keyFile)
	return nil
}

// verifyPostgres checks a PostgreSQL store while its nodes run: the
// engine's check (schema version, orphan rows, durability settings), then
// the vault's structure.
func verifyPostgres(storeURL string) error {
	e, err := openPostgres(storeURL)
	if err != nil {
		return err
	}
	defer e.Close()
	return vault.VerifyStore(context.Background(), e)
}

// pgBackupAdvice is what `sigill vault backup` answers for a PostgreSQL
// store: PostgreSQL's own tools copy it, while sigill runs.
func pgBackupAdvice(cfg *config.Config) string {
	keyFile := cfg.Vault.KeyFile
	if keyFile == "" {
		keyFile = cfg.Vault.Path + ".key"
	}
	return fmt.Sprintf(`sigill vault backup copies a bbolt vault file; this store is PostgreSQL (%s).
Back it up with PostgreSQL's tools, while sigill runs:
  pg_dump --format=custom --file=sigill.dump 'postgres://…'
and restore it into an empty database with
  pg_restore --no-owner --dbname='postgres://…/new' sigill.dump
(or base backups with WAL archiving, to restore to a point in time). The dump
holds the key store, sealed under the key file %s: keep that file apart, and
read README's "Running more than one node" on what a copy keeps readable.
`, storeName(cfg.Store.URL), keyFile)
}
