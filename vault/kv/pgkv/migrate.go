package pgkv

import (
	"context"
	"embed"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one file of migrations/, NNNN_name.sql: version NNNN.
type migration struct {
	version int
	name    string
	sql     string
}

var migrations = loadMigrations()

// SchemaVersion is the newest schema this binary knows: a store at a
// higher version was written by a newer sigill and is refused.
var SchemaVersion = migrations[len(migrations)-1].version

func loadMigrations() []migration {
	entries, err := migrationFiles.ReadDir("migrations")
	if err != nil {
		panic(err)
	}
	var out []migration
	for _, e := range entries {
		number, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(number)
		if !ok || err != nil || v <= 0 {
			panic("pgkv: migration file not named NNNN_name.sql: " + e.Name())
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			panic(err)
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			panic(fmt.Sprintf("pgkv: migrations must be numbered 1, 2, … without gaps: %s", m.name))
		}
	}
	return out
}

// migrationLock is the advisory lock key under which a node brings the
// schema up to date: "sigill" in ASCII, so as not to meet another
// application's key in a shared database by chance.
const migrationLock = 0x736967696c6c

// migrate brings the schema to SchemaVersion in one transaction, under a
// transaction-level advisory lock so that two nodes starting at once apply
// each migration once (the second waits, then finds nothing to do). A
// store written by a newer binary is refused.
func migrate(ctx context.Context, conn *pgx.Conn) (err error) {
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLock)); err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version int PRIMARY KEY,
		applied timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("create schema_version: %w", err)
	}
	var current int
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&current); err != nil {
		return fmt.Errorf("read schema_version: %w", err)
	}
	if current > SchemaVersion {
		return fmt.Errorf("the store's schema is at version %d, newer than this sigill knows (%d): run a sigill at least as new as the one that wrote it", current, SchemaVersion)
	}
	for _, m := range migrations[current:] {
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("schema migration %s: %w", m.name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO schema_version (version) VALUES ($1)", m.version); err != nil {
			return fmt.Errorf("record schema migration %s: %w", m.name, err)
		}
	}
	return tx.Commit(ctx)
}
