package vault

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"sigill/vault/kv"
	"sigill/vault/kv/boltkv"
)

// plainEngine is an engine with none of the optional abilities (no stats,
// no check, no backup of its own), as a server engine may be.
type plainEngine struct{ kv.Engine }

// conflictingEngine fails the Commit of the first conflicts write
// transactions with kv.ErrConflict, as a server engine does when another
// node's transaction changed what this one read.
type conflictingEngine struct {
	kv.Engine
	conflicts atomic.Int32
	commits   atomic.Int32
}

func (e *conflictingEngine) Begin(ctx context.Context, writable bool) (kv.Tx, error) {
	tx, err := e.Engine.Begin(ctx, writable)
	if err != nil || !writable {
		return tx, err
	}
	return &conflictingTx{Tx: tx, e: e}, nil
}

type conflictingTx struct {
	kv.Tx
	e *conflictingEngine
}

func (t *conflictingTx) Commit() error {
	if t.e.conflicts.Add(-1) >= 0 {
		_ = t.Tx.Rollback()
		return kv.ErrConflict
	}
	t.e.commits.Add(1)
	return t.Tx.Commit()
}

func openBoltEngine(t *testing.T, path string) *boltkv.Engine {
	t.Helper()
	e, err := openBolt(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestEngineConflictRerunsGroup: a commit that conflicts is run again, whole,
// and the caller sees one success and one message, never the conflict.
func TestEngineConflictRerunsGroup(t *testing.T) {
	dir := t.TempDir()
	e := &conflictingEngine{Engine: openBoltEngine(t, filepath.Join(dir, "v.db"))}
	v, _ := openTest(t, func(o *Options) { o.Path, o.Engine = filepath.Join(dir, "v.db"), e })
	e.conflicts.Store(3)
	e.commits.Store(0)
	a := accept(t, v, smallMessage())
	if n := e.commits.Load(); n != 1 {
		t.Fatalf("%d commits after 3 conflicts, want 1", n)
	}
	if s := mustStats(t, v); s.Messages != 1 || s.Events != 1 || s.Outbox != 1 {
		t.Fatalf("stats after the conflicts: %s", fmtStats(s))
	}
	if _, _, err := v.Decrypt(a.Tokens[0]); err != nil {
		t.Fatal(err)
	}
	// A group that never gets through fails with the conflict, named.
	e.conflicts.Store(conflictAttempts)
	if _, err := v.Accept(t.Context(), smallMessage()); !errors.Is(err, kv.ErrConflict) {
		t.Fatalf("accept after %d conflicts: %v, want kv.ErrConflict", conflictAttempts, err)
	}
	if s := mustStats(t, v); s.Messages != 1 {
		t.Fatalf("a message stored by a failed accept: %s", fmtStats(s))
	}
}

// TestEngineWithoutAbilities: an engine without stats, check or backup of
// its own still counts records and checks the vault's structure, and backup
// and verify say which engine lacks what.
func TestEngineWithoutAbilities(t *testing.T) {
	dir := t.TempDir()
	e := plainEngine{openBoltEngine(t, filepath.Join(dir, "v.db"))}
	v, _ := openTest(t, func(o *Options) { o.Path, o.Engine = filepath.Join(dir, "v.db"), e })
	accept(t, v, smallMessage())
	s, err := v.Stats()
	if err != nil || s != (Stats{Messages: 1, Recipients: 1, Outbox: 1, Events: 1}) {
		t.Fatalf("stats %s, %v", fmtStats(s), err)
	}
	var buf bytes.Buffer
	if _, err := v.Backup(&buf); !errors.Is(err, ErrNoBackup) || !strings.Contains(err.Error(), "bbolt") || buf.Len() > 0 {
		t.Fatalf("backup on an engine without one: %v (%d bytes)", err, buf.Len())
	}
	if err := VerifyStore(t.Context(), e); !errors.Is(err, ErrNoCheck) || !strings.Contains(err.Error(), "bbolt") {
		t.Fatalf("verify on an engine without a check: %v", err)
	}
	// The structure is still checked: a recipient removed behind the
	// vault's back is a fault, not ErrNoCheck.
	err = kv.Update(t.Context(), e, 1, func(tx kv.Tx) error {
		k, _, err := kv.First(tx.Bucket(bRecipients), kv.Range{})
		if err != nil {
			return err
		}
		return tx.Bucket(bRecipients).Delete(bytes.Clone(k))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyStore(t.Context(), e); err == nil || errors.Is(err, ErrNoCheck) || !strings.Contains(err.Error(), "recipient 0 missing") {
		t.Fatalf("verify of a damaged store: %v", err)
	}
}
