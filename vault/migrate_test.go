package vault

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"sigill/vault/kv"
)

// TestMigrateFromSchema2: a store written in schema 2's tables (messages,
// content, events_by_message) opens as schema 3 with every message
// readable by its link, its events in order, its counts and its structure
// sound, and nothing left in the old tables; a crash between batches
// (a second Open while half is moved) loses nothing either.
func TestMigrateFromSchema2(t *testing.T) {
	v, o := openTest(t, nil)
	type sent struct {
		a      Accepted
		raw    []byte
		events []Event
	}
	var all []sent
	for i := range 5 {
		raw := smallRaw()
		a := accept(t, v, incoming(raw, smsRecipient("0701234567", pn1), emailRecipient("a@example.se", pn2)))
		if i%2 == 0 {
			if _, _, err := v.Decrypt(a.Tokens[0]); err != nil {
				t.Fatal(err)
			}
		}
		all = append(all, sent{a: a, raw: raw})
	}
	for i := range all {
		evs, err := v.Events(all[i].a.ID)
		if err != nil {
			t.Fatal(err)
		}
		all[i].events = evs
	}
	before := mustStats(t, v)
	downgrade(t, v)

	defer func(n int) { migrateBatch = n }(migrateBatch)
	migrateBatch = 2
	// A first Open that stops after one batch: what a crash leaves.
	err := kv.Update(context.Background(), v.eng, conflictAttempts, func(tx kv.Tx) error {
		_, err := moveParts(tx, migrateBatch)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	v = reopen(t, v, o)

	if err := VerifyStore(context.Background(), v.eng); err != nil && !errors.Is(err, ErrNoCheck) {
		t.Errorf("structure after the migration: %v", err)
	}
	if after := mustStats(t, v); after != before {
		t.Errorf("stats %s after the migration, %s before", fmtStats(after), fmtStats(before))
	}
	for _, s := range all {
		for _, token := range s.a.Tokens {
			_, body, err := v.Decrypt(token)
			if err != nil || !bytes.Equal(body, s.raw) {
				t.Errorf("message %s after the migration: %v (body equal %v)", s.a.ID, err, bytes.Equal(body, s.raw))
			}
		}
		evs, err := v.Events(s.a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(evs[:len(s.events)], s.events, func(a, b Event) bool { return a.Seq == b.Seq && a.Kind == b.Kind }) {
			t.Errorf("message %s: events %v after the migration, %v before", s.a.ID, evs, s.events)
		}
	}
	err = kv.View(context.Background(), v.eng, func(tx kv.Tx) error {
		for _, name := range oldBuckets {
			if n, err := tx.Bucket(name).Count(); err != nil || n != 0 {
				t.Errorf("%s holds %d records after the migration (%v)", name, n, err)
			}
		}
		s, err := tx.Bucket(bMeta).Get(kSchema)
		if string(s) != schemaVersion {
			t.Errorf("schema %q after the migration (%v)", s, err)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// downgrade moves every message part back into schema 2's tables and marks
// the store schema 2, as sigill before schema 3 left it.
func downgrade(t *testing.T, v *Vault) {
	t.Helper()
	err := kv.Update(context.Background(), v.eng, conflictAttempts, func(tx kv.Tx) error {
		for _, name := range oldBuckets {
			if err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		parts := tx.Bucket(bParts)
		var keys [][]byte
		err := walk(parts, kv.Range{}, func(k, val []byte) error {
			id, part, seq, ok := splitPart(k)
			if !ok {
				t.Fatalf("key %q in %s", k, bParts)
			}
			keys = append(keys, k)
			switch part {
			case partMeta:
				return tx.Bucket(bOldMessages).Put([]byte(id), val)
			case partContent:
				return tx.Bucket(bOldContent).Put([]byte(id), val)
			default:
				return tx.Bucket(bOldEventIndex).Put(append([]byte(id), seqKey(seq)...), nil)
			}
		})
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := parts.Delete(k); err != nil {
				return err
			}
		}
		return tx.Bucket(bMeta).Put(kSchema, []byte("2"))
	})
	if err != nil {
		t.Fatal(err)
	}
}
