package vault

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"sigill/vault/kv"
)

// gate holds the first commit until released, so that the test can queue
// requests that then form one group.
type gate struct {
	first   chan struct{}
	release chan struct{}
	once    sync.Once
	fail    atomic.Value // func(n int) error
	mu      sync.Mutex
	groups  []int // sizes of attempted commits
}

func newGate() *gate {
	return &gate{first: make(chan struct{}), release: make(chan struct{})}
}

func (g *gate) hook(n int) error {
	g.once.Do(func() { close(g.first); <-g.release })
	g.mu.Lock()
	g.groups = append(g.groups, n)
	g.mu.Unlock()
	if f, ok := g.fail.Load().(func(int) error); ok && f != nil {
		return f(n)
	}
	return nil
}

// holdFirst starts a commit (an account) and waits until it is held.
func (g *gate) holdFirst(t *testing.T, v *Vault) chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- v.AddAccount("first@kommun.example.se", "pw") }()
	<-g.first
	return done
}

type outcome struct {
	in  Incoming
	a   Accepted
	err error
}

func acceptAsync(v *Vault, in Incoming) chan outcome {
	c := make(chan outcome, 1)
	go func() {
		a, err := v.Accept(context.Background(), in)
		c <- outcome{in, a, err}
	}()
	return c
}

func smallMessage() Incoming {
	return incoming(mime("liten "+randomHex(8), []byte("a")))
}

// TestDiskFull: while the disk has no room (a commit fails with ENOSPC,
// injected through Options.FailCommit) every write fails with ErrFull and
// stores nothing, also after each request is retried alone; reads work, and
// once there is room again so do writes.
func TestDiskFull(t *testing.T) {
	var full atomic.Bool
	v, o := openTest(t, func(o *Options) {
		o.FailCommit = func(int) error {
			if full.Load() {
				return fmt.Errorf("write sigill.db: %w", syscall.ENOSPC)
			}
			return nil
		}
	})
	stored := accept(t, v, smallMessage())
	full.Store(true)
	before := mustStats(t, v)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := v.Accept(context.Background(), smallMessage()); !errors.Is(err, ErrFull) || !errors.Is(err, syscall.ENOSPC) {
				t.Errorf("accept onto a full disk: %v, want ErrFull", err)
			} else {
				t.Logf("the error smtpd sees: %v", err)
			}
		})
	}
	wg.Wait()
	if err := v.Record(Event{MessageID: stored.ID, Kind: EventOpened, PersonalNumber: pn1}); !errors.Is(err, ErrFull) {
		t.Errorf("record onto a full disk: %v", err)
	}
	if s := mustStats(t, v); s != before {
		t.Fatalf("stats changed by refused writes: %s -> %s", fmtStats(before), fmtStats(s))
	}
	if _, _, err := v.Decrypt(stored.Tokens[0]); err != nil {
		t.Fatalf("read while full: %v", err)
	}

	full.Store(false)
	in := smallMessage()
	a := accept(t, v, in)
	v = reopen(t, v, o)
	checkStored(t, v, in, a)
	want := before
	want.Messages, want.Recipients, want.Outbox, want.Events = 2, 2, 2, 2
	if s := mustStats(t, v); s != want {
		t.Fatalf("stats %s, want %s", fmtStats(s), fmtStats(want))
	}
}

// TestCommitFailure: when Commit fails for a group, each request is retried
// alone; when it fails for every request, every caller gets the error and
// nothing is stored; afterwards the vault works again.
func TestCommitFailure(t *testing.T) {
	g := newGate()
	v, o := openTest(t, func(o *Options) { o.FailCommit = g.hook })
	g.fail.Store(func(n int) error {
		if n > 1 {
			return errors.New("injected: group commit failed")
		}
		return nil
	})
	held := g.holdFirst(t, v)
	var cs []chan outcome
	for range 4 {
		cs = append(cs, acceptAsync(v, smallMessage()))
	}
	waitQueued(t, v, 4)
	close(g.release)
	<-held
	var ok []outcome
	for _, c := range cs {
		o := <-c
		if o.err != nil {
			t.Fatalf("retried alone, still failed: %v", o.err)
		}
		ok = append(ok, o)
	}
	g.mu.Lock()
	if want := []int{1, 4, 1, 1, 1, 1}; !equalInts(g.groups, want) {
		t.Errorf("commits %v, want %v", g.groups, want)
	}
	g.mu.Unlock()

	// Every commit fails: a full disk.
	g.fail.Store(func(int) error { return errors.New("injected: no space left on device") })
	before := mustStats(t, v)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := v.Accept(context.Background(), smallMessage()); err == nil {
				t.Error("accept succeeded while every commit fails")
			}
		})
	}
	wg.Wait()
	if err := v.AddAccount("x@kommun.example.se", "pw"); err == nil {
		t.Error("add account succeeded while every commit fails")
	}
	if s := mustStats(t, v); s != before {
		t.Fatalf("stats changed by failed commits: %s -> %s", fmtStats(before), fmtStats(s))
	}
	for _, o := range ok {
		if _, _, err := v.Decrypt(o.a.Tokens[0]); err != nil {
			t.Fatalf("read while commits fail: %v", err)
		}
	}

	g.fail.Store(func(int) error { return nil })
	a := accept(t, v, smallMessage())
	v = reopen(t, v, o)
	if st, _, err := v.Lookup(a.Tokens[0]); st != LinkFine || err != nil {
		t.Fatal(st, err)
	}
	want := before
	want.Messages, want.Recipients, want.Outbox, want.Events = 5, 5, 5, 5
	if s := mustStats(t, v); s != want {
		t.Fatalf("stats %s, want %s", fmtStats(s), fmtStats(want))
	}
}

// TestGroupRequestError: a request that fails on its own (a duplicate
// account) fails alone; the rest of its group is stored.
func TestGroupRequestError(t *testing.T) {
	g := newGate()
	v, _ := openTest(t, func(o *Options) { o.FailCommit = g.hook })
	held := g.holdFirst(t, v)
	a1 := acceptAsync(v, smallMessage())
	waitQueued(t, v, 1)
	dup := make(chan error, 1)
	go func() { dup <- v.AddAccount("FIRST@kommun.example.se", "pw2") }()
	waitQueued(t, v, 2)
	a2 := acceptAsync(v, smallMessage())
	waitQueued(t, v, 3)
	close(g.release)
	<-held
	if err := <-dup; !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate account: %v", err)
	}
	for _, c := range []chan outcome{a1, a2} {
		o := <-c
		if o.err != nil {
			t.Fatal(o.err)
		}
		checkStored(t, v, o.in, o.a)
	}
	g.mu.Lock()
	if want := []int{1, 2}; !equalInts(g.groups, want) {
		t.Errorf("commits %v, want %v (the group re-run without the failed request)", g.groups, want)
	}
	g.mu.Unlock()
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCommitMetrics: the committer's figures on /metrics follow its commits:
// one group of three accepts is one commit shared by three requests. The
// metrics are process-wide, so this test compares before and after and must
// not run in parallel with other tests of the package that commit.
func TestCommitMetrics(t *testing.T) {
	g := newGate()
	v, _ := openTest(t, func(o *Options) { o.FailCommit = g.hook })
	held := g.holdFirst(t, v)
	before := histogramOf(t, commitRequests)
	commitsBefore := histogramOf(t, commitSeconds).GetSampleCount()
	busyBefore := counterOf(t, committerBusy)
	var outs []chan outcome
	for i := range 3 {
		outs = append(outs, acceptAsync(v, smallMessage()))
		waitQueued(t, v, i+1)
	}
	close(g.release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	for _, c := range outs {
		if o := <-c; o.err != nil {
			t.Fatal(o.err)
		}
	}
	after := histogramOf(t, commitRequests)
	if n, sum := after.GetSampleCount()-before.GetSampleCount(), after.GetSampleSum()-before.GetSampleSum(); n != 2 || sum != 4 {
		t.Errorf("requests_per_commit moved by %d commits of %v requests, want 2 commits (the held one, the group of 3) of 4", n, sum)
	}
	if n := histogramOf(t, commitSeconds).GetSampleCount() - commitsBefore; n != 2 {
		t.Errorf("commit_seconds counted %d commits, want 2", n)
	}
	if busy := counterOf(t, committerBusy) - busyBefore; busy <= 0 {
		t.Errorf("committer_busy_seconds_total did not grow: %v", busy)
	}
}

func histogramOf(t *testing.T, h prometheus.Histogram) *dto.Histogram {
	t.Helper()
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram()
}

func counterOf(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// rideAlongAt queues a ride-along write of key k (in the meta bucket) and
// returns its outcome.
func rideAlongAt(v *Vault, k string) chan error {
	done := make(chan error, 1)
	go func() {
		done <- v.commit.rideAlong(func(tx kv.Tx) error { return tx.Bucket(bMeta).Put([]byte(k), []byte("x")) })
	}()
	return done
}

// TestRideAlong: while other writers are active the notifier's bookkeeping
// starts no commit of its own: the ride-along write and the next accept
// share one commit (here the wait is long enough that only the accept can
// end it).
func TestRideAlong(t *testing.T) {
	var mu sync.Mutex
	var groups []int
	v, _ := openTest(t, func(o *Options) {
		o.rideAlongWait = time.Hour
		o.onBatch = func(n int) { mu.Lock(); groups = append(groups, n); mu.Unlock() }
	})
	if _, err := v.Accept(context.Background(), smallMessage()); err != nil { // an active writer
		t.Fatal(err)
	}
	mu.Lock()
	groups = nil
	mu.Unlock()
	ride := rideAlongAt(v, "ride-1")
	waitQueued(t, v, 1)
	in := smallMessage()
	a, err := v.Accept(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-ride; err != nil {
		t.Fatal(err)
	}
	checkStored(t, v, in, a)
	mu.Lock()
	defer mu.Unlock()
	if !equalInts(groups, []int{2}) {
		t.Errorf("commits %v, want one of 2 (the ride-along write joined the accept's)", groups)
	}
}

// With no other writer active a ride-along write commits at once (here it
// would otherwise wait an hour): a notifier draining a backlog while no mail
// comes in does not wait for every claim and outcome. And Close commits one
// that is still waiting rather than dropping it or waiting it out.
func TestRideAlongAlone(t *testing.T) {
	v, _ := openTest(t, func(o *Options) { o.rideAlongWait = time.Hour })
	for i := range 3 {
		if err := <-rideAlongAt(v, fmt.Sprint("alone-", i)); err != nil {
			t.Fatal(err)
		}
	}
	long, o := openTest(t, func(o *Options) { o.rideAlongWait = time.Hour })
	if _, err := long.Accept(context.Background(), smallMessage()); err != nil { // an active writer: ride-along writes wait
		t.Fatal(err)
	}
	ride := rideAlongAt(long, "at-close")
	waitQueued(t, long, 1)
	if err := long.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-ride; err != nil {
		t.Fatalf("the waiting ride-along write at Close: %v", err)
	}
	reopened, err := Open(sameStore(t, o))
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	reopened.view(func(tx kv.Tx) error {
		if b, _ := tx.Bucket(bMeta).Get([]byte("at-close")); b == nil {
			t.Error("the ride-along write queued before Close is not on disk")
		}
		return nil
	})
}
