package pgkv

import (
	"context"
	"errors"
	"fmt"
)

// Stats reports the store's size on disk (tables with their indexes and
// TOAST), its rows (live, and dead ones VACUUM has not yet removed: a
// deleted record's bytes stay in the table file until then), the schema
// version, and connections: this engine's pool and the server's, for this
// database.
func (e *Engine) Stats(ctx context.Context) (map[string]int64, error) {
	names := []string{"database_bytes", "kv_bytes", "buckets_bytes", "kv_live_rows",
		"kv_dead_rows", "buckets", "schema_version", "server_connections"}
	values := make([]int64, len(names))
	dest := make([]any, len(names))
	for i := range values {
		dest[i] = &values[i]
	}
	err := e.pool.QueryRow(ctx, `SELECT
		pg_database_size(current_database()),
		pg_total_relation_size('kv'), pg_total_relation_size('buckets'),
		coalesce((SELECT n_live_tup FROM pg_stat_user_tables WHERE relid = 'kv'::regclass), 0),
		coalesce((SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = 'kv'::regclass), 0),
		(SELECT count(*) FROM buckets),
		(SELECT coalesce(max(version), 0) FROM schema_version),
		(SELECT count(*) FROM pg_stat_activity WHERE datname = current_database())`).Scan(dest...)
	if err != nil {
		return nil, fmt.Errorf("store stats: %w", err)
	}
	out := make(map[string]int64, len(names)+3)
	for i, n := range names {
		out[n] = values[i]
	}
	out["file_bytes"] = out["database_bytes"] // what the vault's stats show as the store's size
	s := e.pool.Stat()
	out["pool_connections"] = int64(s.TotalConns())
	out["pool_connections_in_use"] = int64(s.AcquiredConns())
	out["pool_connections_max"] = int64(s.MaxConns())
	out["round_trips"] = e.roundTrips.Load() // this process's, since Open
	return out, nil
}

// Check reports what would make the store other than this engine expects:
// a schema version other than this binary's (a newer binary migrated it
// since this one started), rows of buckets that do not exist, and server
// settings under which a commit the vault reports (a 250) could be lost in
// a crash.
func (e *Engine) Check(ctx context.Context) []error {
	var errs []error
	var version int
	if err := e.pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&version); err != nil {
		return []error{fmt.Errorf("read schema_version: %w", err)}
	}
	if version != SchemaVersion {
		errs = append(errs, fmt.Errorf("the store's schema is at version %d, this sigill's at %d", version, SchemaVersion))
	}

	rows, err := e.pool.Query(ctx, `SELECT kv.bucket, count(*) FROM kv
		LEFT JOIN buckets b ON b.name = kv.bucket WHERE b.name IS NULL GROUP BY kv.bucket ORDER BY kv.bucket`)
	if err != nil {
		return append(errs, fmt.Errorf("look for orphan rows: %w", err))
	}
	for rows.Next() {
		var bucket string
		var n int64
		if err := rows.Scan(&bucket, &n); err != nil {
			errs = append(errs, err)
			break
		}
		errs = append(errs, fmt.Errorf("%d rows in bucket %q, which does not exist", n, bucket))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		errs = append(errs, err)
	}

	for _, s := range []struct{ name, bad, why string }{
		{"fsync", "off", "the server does not flush its writes to disk"},
		{"synchronous_commit", "off", "a commit returns before its WAL is on disk"},
		{"full_page_writes", "off", "a crash mid-write can leave torn pages"},
	} {
		var v string
		if err := e.pool.QueryRow(ctx, "SELECT current_setting($1)", s.name).Scan(&v); err != nil {
			errs = append(errs, fmt.Errorf("read setting %s: %w", s.name, err))
			continue
		}
		if v == s.bad {
			errs = append(errs, errors.New(s.name+" is "+v+": "+s.why+", and a message accepted with 250 can be lost in a crash"))
		}
	}
	return errs
}
