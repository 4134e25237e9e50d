package vault

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// openShared opens a vault on an engine the vault does not know to be its
// alone (as a store shared by nodes is), as node.
func openShared(t *testing.T, node string, c interface{ Now() time.Time }) *Vault {
	t.Helper()
	dir := t.TempDir()
	e := plainEngine{openBoltEngine(t, filepath.Join(dir, "v.db"))}
	v, _ := openTest(t, func(o *Options) {
		o.Path, o.Engine, o.NodeID, o.Now = filepath.Join(dir, "v.db"), e, node, c.Now
	})
	return v
}

// TestLeaseAcrossNodes: a claim records its node; another node cannot take
// the job while the lease holds, takes it once it has passed (in doubt),
// and the first node's late outcome is refused (fencing).
func TestLeaseAcrossNodes(t *testing.T) {
	c := newClock()
	v := openShared(t, "a", c)
	accept(t, v, incoming(mime("one", nil), smsRecipient("+46701234567", pn1)))
	byA := mustClaim(t, v, c.Now(), 10)
	if len(byA) != 1 || byA[0].Node != "a" {
		t.Fatalf("node a claimed %+v", byA)
	}

	v.opt.NodeID = "b" // the same store as another node sees it
	c.Advance(testLease - time.Second)
	if jobs := mustClaim(t, v, c.Now(), 10); len(jobs) != 0 {
		t.Fatalf("node b took %d jobs under node a's lease", len(jobs))
	}
	c.Advance(2 * time.Second) // a is dead: its lease runs out
	byB := mustClaim(t, v, c.Now(), 10)
	if len(byB) != 1 || byB[0].ID != byA[0].ID || byB[0].Node != "b" || byB[0].Lease <= byA[0].Lease || byB[0].InDoubtSince.IsZero() {
		t.Fatalf("node b after the lease: %+v", byB)
	}

	v.opt.NodeID = "a" // a wakes up late
	if err := v.CompleteJob(byA[0].ID, byA[0].Lease, Outcome{Event: EventNotified, Provider: "log", ProviderID: "late"}); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("node a's outcome after node b's claim: %v, want ErrLeaseLost", err)
	}
	if err := v.CompleteJob(byB[0].ID, byB[0].Lease, Outcome{Event: EventNotified, Provider: "log", ProviderID: "b1"}); err != nil {
		t.Fatalf("node b's outcome: %v", err)
	}
}

// TestReleaseOwnClaims: at start a node releases the leases it held before
// (its node id is the same), and leaves other nodes' to them; on a bbolt
// file, which one process holds, every lease is released.
func TestReleaseOwnClaims(t *testing.T) {
	c := newClock()
	v := openShared(t, "a", c)
	accept(t, v, incoming(mime("one", nil), smsRecipient("+46701234567", pn1)))
	accept(t, v, incoming(mime("two", nil), smsRecipient("+46701234568", pn2)))
	byA := mustClaim(t, v, c.Now(), 1)
	v.opt.NodeID = "b"
	byB := mustClaim(t, v, c.Now(), 1)
	if len(byA) != 1 || len(byB) != 1 {
		t.Fatalf("claims %d and %d", len(byA), len(byB))
	}

	v.opt.NodeID = "a" // a restarts
	if n, err := v.ReleaseClaims(c.Now()); err != nil || n != 1 {
		t.Fatalf("node a released %d, %v; want its one", n, err)
	}
	jobs, err := v.PendingJobs()
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if j.ID == byB[0].ID && (!j.Leased || j.Lease != byB[0].Lease) {
			t.Errorf("node b's lease was released by node a: %+v", j)
		}
		if j.ID == byA[0].ID && j.Leased {
			t.Errorf("node a's own lease is still held: %+v", j)
		}
	}
	if err := v.CompleteJob(byB[0].ID, byB[0].Lease, Outcome{Event: EventNotified, Provider: "log", ProviderID: "b1"}); err != nil {
		t.Fatalf("node b's outcome after node a's restart: %v", err)
	}

	// One process per bbolt file: every lease in it is a dead process's.
	if onPostgres() {
		return
	}
	c2 := newClock()
	w, _ := openTest(t, func(o *Options) { o.Now, o.NodeID = c2.Now, "x" })
	accept(t, w, incoming(mime("three", nil), smsRecipient("+46701234567", pn3)))
	mustClaim(t, w, c2.Now(), 1)
	w.opt.NodeID = "y"
	if n, err := w.ReleaseClaims(c2.Now()); err != nil || n != 1 {
		t.Fatalf("released %d on a bbolt file, %v; want every lease", n, err)
	}
}

// TestOutboxWakeUps: jobs queued, or made due again, wake the store's
// outbox channel (every node's notifier listens to it); a claim does not.
func TestOutboxWakeUps(t *testing.T) {
	boltOnly(t, "checks wake-ups are there as Commit returns, which only bbolt promises (pgkv's come through the server: kvtest's NotifyListen)")
	c := newClock()
	v, _ := openTest(t, func(o *Options) { o.Now = c.Now })
	wake := v.Listen(t.Context(), ChannelOutbox)
	woken := func() bool {
		select {
		case <-wake:
			return true
		default:
			return false
		}
	}
	accept(t, v, incoming(mime("one", nil), smsRecipient("+46701234567", pn1)))
	if !woken() {
		t.Fatal("no wake-up after an accept")
	}
	jobs := mustClaim(t, v, c.Now(), 1)
	if woken() {
		t.Fatal("a wake-up after a claim")
	}
	if n, err := v.ReleaseClaims(c.Now()); err != nil || n != 1 || !woken() {
		t.Fatalf("release of %d claims (%v): no wake-up", n, err)
	}
	jobs = mustClaim(t, v, c.Now(), 1)
	if err := v.RetryJob(jobs[0].ID, jobs[0].Lease, c.Now().Add(time.Hour), "later", false); err != nil || woken() {
		t.Fatalf("a retry due later woke the notifier (%v)", err)
	}
	err := v.Update(t.Context(), nil, func(tx Tx) error {
		_, err := tx.QueueJob(Job{Kind: "receipt", To: "staff@kommun.example.se", MessageID: jobs[0].MessageID})
		return err
	})
	if err != nil || !woken() {
		t.Fatalf("no wake-up after a hook's job (%v)", err)
	}
}
