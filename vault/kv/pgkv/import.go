package pgkv

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"sigill/vault/kv"
)

// ErrNotEmpty is what Import fails with when the store already holds
// something: a copy never mixes with records already there.
var ErrNotEmpty = errors.New("the PostgreSQL store is not empty")

// Imported is what Import copied of one bucket.
type Imported struct {
	Bucket   string
	Keys     int
	Sequence uint64
}

// importChunk is how many records are read from the source and sent with
// one COPY at a time.
const importChunk = 1000

// Import copies the named buckets of src (every key and value, and each
// bucket's sequence) and the sealed key store (nil: none) into this store,
// which must be empty: no bucket, no record, no key store. It is one
// transaction: a copy that fails leaves the store empty, to be tried
// again. src is read in one read transaction, so the copy is of one
// moment.
func (e *Engine) Import(ctx context.Context, src kv.Engine, buckets []string, keyStore []byte) ([]Imported, error) {
	tx, err := e.Begin(ctx, true)
	if err != nil {
		return nil, err
	}
	t := tx.(*Tx)
	defer t.Rollback()
	var present bool
	if err := t.queryRow(`SELECT EXISTS (SELECT 1 FROM buckets) OR EXISTS (SELECT 1 FROM kv)
		OR EXISTS (SELECT 1 FROM keystore)`, nil, &present); err != nil {
		return nil, err
	}
	if present {
		return nil, ErrNotEmpty
	}

	from, err := src.Begin(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("read the source: %w", err)
	}
	defer from.Rollback()
	var out []Imported
	for _, name := range buckets {
		b := from.Bucket(name)
		seq, err := b.Sequence()
		if err != nil {
			return nil, fmt.Errorf("source bucket %q: %w", name, err)
		}
		if _, err := t.exec("INSERT INTO buckets (name, seq) VALUES ($1, $2)", name, int64(seq)); err != nil {
			return nil, fmt.Errorf("bucket %q: %w", name, err)
		}
		n, err := t.copyBucket(b, name)
		if err != nil {
			return nil, fmt.Errorf("bucket %q: %w", name, err)
		}
		out = append(out, Imported{Bucket: name, Keys: n, Sequence: seq})
	}
	if keyStore != nil {
		if _, err := t.exec("INSERT INTO keystore (id, version, sealed) VALUES (1, 1, $1)", keyStore); err != nil {
			return nil, fmt.Errorf("key store: %w", err)
		}
	}
	if err := t.Commit(); err != nil {
		return nil, err
	}
	return out, nil
}

// copyBucket sends every record of src to the kv table, importChunk at a
// time with COPY.
func (t *Tx) copyBucket(src kv.Bucket, name string) (int, error) {
	var total int
	var start []byte
	for {
		var rows [][]any
		err := src.Range(kv.Range{Start: start, Limit: importChunk}, func(k, v []byte) error {
			if v == nil {
				v = []byte{}
			}
			rows = append(rows, []any{name, append([]byte(nil), k...), append([]byte{}, v...)})
			return nil
		})
		if err != nil {
			return total, err
		}
		if len(rows) == 0 {
			return total, nil
		}
		if _, err := t.tx.CopyFrom(t.ctx, pgx.Identifier{"kv"}, []string{"bucket", "key", "value"}, pgx.CopyFromRows(rows)); err != nil {
			return total, t.fail(err)
		}
		total += len(rows)
		last := rows[len(rows)-1][1].([]byte)
		start = append(last, 0) // the first key after last
	}
}
