package vault

import (
	"bytes"
	"errors"

	"sigill/vault/kv"
)

// walkChunk is how many records walk copies out of the engine at a time.
const walkChunk = 512

// walk calls fn with every key and value of r in ascending order, as Range
// does, but copies them out of the engine a chunk at a time, so that fn may
// use the transaction (Range's fn may not: a server engine streams the rows
// over the transaction's one connection). fn's kv.Stop ends the walk
// quietly. r.Limit and r.Reverse are not taken.
func walk(b kv.Bucket, r kv.Range, fn func(k, v []byte) error) error {
	start := r.Start
	for {
		var keys, vals [][]byte
		err := b.Range(kv.Range{Start: start, End: r.End, Limit: walkChunk}, func(k, v []byte) error {
			keys, vals = append(keys, bytes.Clone(k)), append(vals, bytes.Clone(v))
			return nil
		})
		if err != nil {
			return err
		}
		for i, k := range keys {
			if err := fn(k, vals[i]); err != nil {
				if errors.Is(err, kv.Stop) {
					return nil
				}
				return err
			}
		}
		if len(keys) < walkChunk {
			return nil
		}
		start = append(keys[len(keys)-1], 0) // the first key after the last one
	}
}
