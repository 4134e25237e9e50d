package vault

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"sigill/vault/kv"
)

// The tables of schema 2 that schema 3 keeps in bParts.
const (
	bOldMessages   = "messages"          // id → messageRecord
	bOldContent    = "content"           // id → SEIPDv2 packet
	bOldEventIndex = "events_by_message" // id ‖ big-endian seq → nothing
)

// oldBuckets are schema 2's tables, left empty in a store moved forward:
// no hook may take their names.
var oldBuckets = []string{bOldMessages, bOldContent, bOldEventIndex}

// migrateBatch is how many messages one migration transaction moves: a
// vault of a million messages moves in two thousand commits, none of them
// holding the writer for long, each a step a crash does not undo.
var migrateBatch = 500

// migrate moves a file of schema 2 to schema 3 before Open goes on: each
// message's record, content and event index entries into bParts (parts.go),
// migrateBatch messages a transaction, then the schema's mark. It is safe
// to stop at any point and run again (the next Open goes on where it
// stopped), and safe to run on two nodes at once (a batch another node
// moved first is a conflict, then nothing left to move). Every node of a
// shared store must be stopped before one starts with this version: a node
// of the last version would look in the old tables. The old tables stay,
// empty (the engines cannot drop a table in a transaction).
func migrate(ctx context.Context, eng kv.Engine) error {
	var schema []byte
	if err := kv.View(ctx, eng, func(tx kv.Tx) error {
		var err error
		schema, err = tx.Bucket(bMeta).Get(kSchema)
		return err
	}); err != nil && !errors.Is(err, kv.ErrNoBucket) { // no meta: a new file
		return err
	}
	if string(schema) != "2" {
		return nil // new, current, or refused by initFile
	}
	for moved := migrateBatch; moved == migrateBatch; {
		err := kv.Update(ctx, eng, conflictAttempts, func(tx kv.Tx) error {
			if err := tx.CreateBucket(bParts); err != nil {
				return err
			}
			var err error
			moved, err = moveParts(tx, migrateBatch)
			return err
		})
		if err != nil {
			return fmt.Errorf("move schema 2's messages into %s: %w", bParts, err)
		}
	}
	return kv.Update(ctx, eng, conflictAttempts, func(tx kv.Tx) error {
		return tx.Bucket(bMeta).Put(kSchema, []byte("3"))
	})
}

// moveParts moves up to n messages, with their content and event index
// entries, from schema 2's tables into bParts, and tells how many it moved.
func moveParts(tx kv.Tx, n int) (int, error) {
	msgs, content, index := tx.Bucket(bOldMessages), tx.Bucket(bOldContent), tx.Bucket(bOldEventIndex)
	parts := tx.Bucket(bParts)
	var ids []string
	if err := walk(msgs, kv.Range{}, func(k, v []byte) error {
		if err := parts.Put(metaKey(string(k)), v); err != nil {
			return err
		}
		ids = append(ids, string(k))
		if len(ids) == n {
			return kv.Stop
		}
		return nil
	}); err != nil {
		return 0, err
	}
	for _, id := range ids {
		ct, err := content.Get([]byte(id))
		if err != nil {
			return 0, err
		}
		if ct != nil {
			if err := parts.Put(contentKey(id), ct); err != nil {
				return 0, err
			}
		}
		var entries [][]byte
		if err := walk(index, kv.Prefix([]byte(id)), func(k, _ []byte) error {
			if len(k) == len(id)+8 {
				entries = append(entries, k)
			}
			return nil
		}); err != nil {
			return 0, err
		}
		for _, k := range entries {
			if err := parts.Put(eventKey(id, binary.BigEndian.Uint64(k[len(id):])), nil); err != nil {
				return 0, err
			}
			if err := index.Delete(k); err != nil {
				return 0, err
			}
		}
		for _, del := range []struct {
			b kv.Bucket
			k []byte
		}{{content, []byte(id)}, {msgs, []byte(id)}} {
			if err := del.b.Delete(del.k); err != nil {
				return 0, err
			}
		}
	}
	return len(ids), nil
}
