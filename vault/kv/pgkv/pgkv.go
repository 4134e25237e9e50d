// Package pgkv is the kv engine on PostgreSQL: the store several sigill
// nodes share. It owns the schema (versioned migrations, applied at start),
// the mapping of kv's transactions, buckets and wake-ups onto SQL, and the
// one connection that listens for wake-ups.
//
// # Schema
//
// Two tables hold every bucket (migrations/0001_kv.sql):
//
//   - buckets(name, seq): one row per bucket, its sequence in the row;
//   - kv(bucket, key, value), primary key (bucket, key): every bucket's
//     records in one table, bytea keys, which PostgreSQL orders like
//     bytes.Compare (memcmp, then length), so a range of a bucket is a
//     range of the primary key's b-tree.
//
// One table for all buckets, not one table per bucket, because buckets are
// made at run time by whoever needs one (hooks name their tables): a table
// per bucket would need DDL inside transactions, names quoted into SQL and
// a migration story for tables the schema does not know. The price is the
// bucket name repeated in every row and index entry; names are short.
// There is no foreign key from kv to buckets: it would lock the bucket's row
// on every write and buckets are never dropped; the engine checks that a
// bucket exists before it writes (once per bucket and process), and Check
// reports rows whose bucket is missing.
//
// schema_version lists the migrations applied. Open applies the missing
// ones in one transaction under an advisory lock (two nodes starting at
// once apply each once), and refuses a store whose version is newer than
// SchemaVersion, naming both.
//
// # Transactions
//
// A write transaction is SERIALIZABLE: PostgreSQL aborts one of two
// transactions whose reads and writes cannot be put in a serial order
// (SQLSTATE 40001), or that deadlock (40P01); both come back as
// kv.ErrConflict, at the call that met it or at Commit, and the transaction
// must be run again from the start (kv.Update does). A read transaction is
// REPEATABLE READ, READ ONLY: one snapshot, never a conflict.
//
// Puts and Deletes wait in the transaction and go to the server together,
// one round trip (a pgx batch), before the next Range or Count of a bucket
// they write to, or with COMMIT: a group commit of many accepts is a few
// round trips, not one per record. A Get does not send them: the
// transaction remembers its own last write of each key and answers a Get
// of such a key itself, and a Get of any other key, or a Range of another
// bucket, cannot be changed by the pending writes. A write that
// fails (a conflict, most likely) fails the next call that sends them, or
// Commit.
//
// A bucket's sequence is its buckets row. The transaction's first
// NextSequence of a bucket increments it by UPDATE … RETURNING: the row
// stays locked until commit, so a second transaction taking the same
// bucket's next number waits and then conflicts, and runs again after the
// first committed. Its later numbers are counted in the transaction, and
// the last one is written to the row with the pending writes before
// COMMIT. Numbers are therefore handed out in commit order across every
// node, and rolled back with their transaction (no gaps from aborted
// ones): what IMAP UIDs need.
//
// Range streams its rows (ORDER BY key, LIMIT) over the transaction's
// connection; with SkipLocked it adds FOR UPDATE SKIP LOCKED, so two nodes
// looking for work take different rows without waiting on each other. Under
// SERIALIZABLE two such transactions may still conflict at commit (their
// reads of the same index page), and one runs again; what SkipLocked saves
// is the wait, and two nodes working on the same row.
//
// Notify is pg_notify, sent with the last writes just before COMMIT, so PostgreSQL delivers it
// at commit and never for a transaction that rolled back. Wake-ups come
// back through the server on this node too, so they arrive in commit
// order, shortly after Commit returns. Listen is served
// from one connection per engine, outside the pool, that LISTENs to every
// channel someone waits on; when it breaks it is made again, and everyone
// listening gets a wake-up then, since notifications sent meanwhile were
// lost. A wake-up is a hint to look, never the only way work is found.
//
// The pool's size is pgxpool's, set in the URL (pool_max_conns=N).
package pgkv

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"sigill/vault/kv"
)

// Engine is kv.Engine on a PostgreSQL database.
type Engine struct {
	pool   *pgxpool.Pool
	listen *listener
	closed atomic.Bool
	// channelPrefix keeps the wake-ups of stores in different schemas of
	// one database (and of other applications) apart.
	channelPrefix string

	// buckets that exist in the committed store: buckets are never
	// dropped, so once seen a bucket need not be looked up again.
	buckets sync.Map // string → struct{}

	// roundTrips counts the statements and batches sent (Stats:
	// round_trips): what a transaction costs on this engine.
	roundTrips atomic.Int64
}

var (
	_ kv.Engine  = (*Engine)(nil)
	_ kv.Stater  = (*Engine)(nil)
	_ kv.Checker = (*Engine)(nil)
)

// Open connects to the database at url (postgres://…), brings its schema
// up to date and starts the connection that listens for wake-ups.
func Open(ctx context.Context, url string) (*Engine, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store url: %w", err)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "sigill"
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return nil, fmt.Errorf("connect to the store: %w", err)
	}
	err = migrate(ctx, conn)
	var schema string
	if err == nil {
		err = conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema)
	}
	conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to the store: %w", err)
	}
	listenCfg := cfg.ConnConfig.Copy()
	listenCfg.RuntimeParams["application_name"] += " listen"
	return &Engine{pool: pool, listen: newListener(listenCfg), channelPrefix: schema + "."}, nil
}

func (e *Engine) Name() string { return "postgres" }

// Close stops the listening connection and closes the pool (waiting for
// connections in use to come back).
func (e *Engine) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	e.listen.close()
	e.pool.Close()
	return nil
}

func (e *Engine) Begin(ctx context.Context, writable bool) (kv.Tx, error) {
	if e.closed.Load() {
		return nil, kv.ErrClosed
	}
	opts := pgx.TxOptions{IsoLevel: pgx.Serializable}
	if !writable {
		opts = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	}
	e.roundTrips.Add(1)
	tx, err := e.pool.BeginTx(ctx, opts)
	if err != nil {
		if e.closed.Load() {
			return nil, kv.ErrClosed
		}
		return nil, fmt.Errorf("begin: %w", mapError(err))
	}
	return &Tx{e: e, tx: tx, ctx: ctx, writable: writable}, nil
}

// Listen: see kv.Engine. It returns once the channel is being listened to
// (or the connection is down: then a wake-up follows when it is back).
func (e *Engine) Listen(ctx context.Context, channel string) <-chan struct{} {
	return e.listen.subscribe(ctx, e.pgChannel(channel))
}

// pgChannel is the PostgreSQL channel for a kv channel: prefixed with the
// schema, so that the wake-ups of two stores in one database do not meet,
// and cut to PostgreSQL's 63 bytes of an identifier (two long names that
// meet there share wake-ups, which is harmless).
func (e *Engine) pgChannel(channel string) string {
	c := e.channelPrefix + channel
	if len(c) > 63 {
		c = c[:63]
	}
	return c
}

// mapError turns PostgreSQL's serialization failure and deadlock into
// kv.ErrConflict, keeping PostgreSQL's words.
func mapError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01") {
		return fmt.Errorf("%w (%s)", kv.ErrConflict, pgErr.Message)
	}
	return err
}
