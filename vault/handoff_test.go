package vault

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"sigill/vault/kv"
)

// nodes are nodes a and b on one store. On PostgreSQL each is a vault of
// its own, as two processes open the store; on bbolt, which one process
// holds, they are one vault whose node id as switches (as the lease tests
// do).
type nodes struct {
	t      *testing.T
	single *Vault
	byNode map[string]*Vault
}

func openNodes(t *testing.T, c interface{ Now() time.Time }) nodes {
	t.Helper()
	if !onPostgres() {
		return nodes{t: t, single: openShared(t, "a", c)}
	}
	a, o := openTest(t, func(o *Options) { o.NodeID, o.Now = "a", c.Now })
	ob := sameStore(t, o)
	ob.NodeID, ob.Now = "b", c.Now
	b, err := Open(ob)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return nodes{t: t, byNode: map[string]*Vault{"a": a, "b": b}}
}

func (n nodes) as(node string) *Vault {
	if n.single != nil {
		n.single.opt.NodeID = node
		return n.single
	}
	return n.byNode[node]
}

func handedJob(t *testing.T, h *Handoff) Job {
	t.Helper()
	select {
	case j := <-h.Jobs():
		return j
	default:
		t.Fatal("no job handed over once the accept had committed")
		return Job{}
	}
}

func noHandedJob(t *testing.T, h *Handoff) {
	t.Helper()
	select {
	case j := <-h.Jobs():
		t.Fatalf("a job handed over beyond the room: %+v", j)
	default:
	}
}

func pendingJob(t *testing.T, v *Vault, id uint64) Job {
	t.Helper()
	jobs, err := v.PendingJobs()
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if j.ID == id {
			return j
		}
	}
	t.Fatalf("job %d is not in the outbox", id)
	return Job{}
}

// TestBornLeasedAcrossNodes: Accept writes the jobs its node's handoff has
// room for leased by that node, as a claim would, and hands them over with
// their tokens once committed. Another node neither claims them while the
// lease holds nor releases them at its restart; the owner's outcome is
// taken; once the lease has run out another node takes the job in doubt,
// and the owner's late outcome is refused.
func TestBornLeasedAcrossNodes(t *testing.T) {
	c := newClock()
	ns := openNodes(t, c)
	a := ns.as("a")
	h, err := a.OpenHandoff(testLease, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.OpenHandoff(testLease, 1); err == nil {
		t.Fatal("a second handoff opened beside the first")
	}
	acc := accept(t, a, incoming(mime("one", nil), smsRecipient("+46701234567", pn1), smsRecipient("+46701234568", pn2)))
	handed := handedJob(t, h)
	noHandedJob(t, h)
	if handed.MessageID != acc.ID || handed.Recipient != 0 || handed.Token != acc.Tokens[0] || handed.Kind != JobNotify ||
		!handed.Leased || handed.Lease != 1 || handed.Node != "a" || handed.Attempts != 1 || !handed.Due.Equal(c.Now().Add(testLease)) ||
		!handed.HasVouched {
		t.Fatalf("handed over: %+v", handed)
	}
	stored := pendingJob(t, a, handed.ID)
	stored.InDoubtSince = handed.InDoubtSince
	stored.known = handed.known // what the vault knew when it gave the job out: not in the store
	if stored != handed {
		t.Fatalf("the outbox has\n%+v\nthe handoff gave\n%+v", stored, handed)
	}

	b := ns.as("b")
	if n, err := b.ReleaseClaims(c.Now()); err != nil || n != 0 {
		t.Fatalf("node b's restart released %d jobs (%v); node a's born-leased job is a's", n, err)
	}
	byB := mustClaim(t, b, c.Now(), 10)
	if len(byB) != 1 || byB[0].MessageID != acc.ID || byB[0].Recipient != 1 {
		t.Fatalf("node b claimed %+v; want only the job beyond the room", byB)
	}

	a = ns.as("a")
	if err := a.CompleteJob(handed.ID, handed.Lease, Outcome{Event: EventNotified, Provider: "log", ProviderID: "a1", Job: &handed}); err != nil {
		t.Fatalf("node a's outcome of its born-leased job: %v", err)
	}

	h.Free(1) // the job is done: room for the next
	acc2 := accept(t, a, incoming(mime("two", nil), smsRecipient("+46701234569", pn3)))
	handed2 := handedJob(t, h)
	c.Advance(testLease - time.Second)
	for _, j := range mustClaim(t, ns.as("b"), c.Now(), 10) {
		if j.MessageID == acc2.ID {
			t.Fatalf("node b took node a's born-leased job under its lease: %+v", j)
		}
	}
	c.Advance(2 * time.Second) // a died: its lease runs out
	var taken *Job
	for _, j := range mustClaim(t, ns.as("b"), c.Now(), 10) {
		if j.ID == handed2.ID {
			taken = &j
		}
	}
	if taken == nil || taken.Node != "b" || taken.Lease <= handed2.Lease || taken.InDoubtSince.IsZero() || taken.Attempts != 2 {
		t.Fatalf("node b after node a's lease: %+v", taken)
	}
	a = ns.as("a")
	// The job as handed over (Outcome.Job) is no lease either.
	if err := a.CompleteJob(handed2.ID, handed2.Lease, Outcome{Event: EventNotified, Provider: "log", ProviderID: "late", Job: &handed2}); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("node a's late outcome after node b's claim: %v, want ErrLeaseLost", err)
	}
}

// TestBornLeasedNotEntered: a job born leased and done before any claim
// is never entered in outbox_due (nothing put there and deleted, no mark
// written for it); one whose notifier never finishes it is due to any
// node's JobsDue once its lease has run out, and claimed then, in doubt,
// though no claim had entered it before; the outcome of the job as it was
// handed over is then refused.
func TestBornLeasedNotEntered(t *testing.T) {
	c := newClock()
	ns := openNodes(t, c)
	a := ns.as("a")
	h, err := a.OpenHandoff(testLease, 4)
	if err != nil {
		t.Fatal(err)
	}
	untouched := func(when string) {
		t.Helper()
		err := a.view(func(tx kv.Tx) error {
			k, _, err := kv.First(tx.Bucket(bOutboxDue), kv.Range{})
			if err != nil || k != nil {
				return cmp.Or(err, fmt.Errorf("outbox_due has %x", k))
			}
			mark, err := tx.Bucket(bMeta).Get(kOutboxIndexed)
			if err != nil || mark != nil {
				return cmp.Or(err, fmt.Errorf("the mark is %x", mark))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
	}
	accept(t, a, incoming(mime("one", nil), smsRecipient("+46701234567", pn1)))
	done := handedJob(t, h)
	if due, err := a.JobsDue(c.Now()); err != nil || due {
		t.Fatalf("due with the one job born leased: %t, %v", due, err)
	}
	if err := a.CompleteJob(done.ID, done.Lease, Outcome{Event: EventNotified, Provider: "log", ProviderID: "a1", Job: &done}); err != nil {
		t.Fatal(err)
	}
	untouched("a born-leased job done")

	acc := accept(t, a, incoming(mime("two", nil), smsRecipient("+46701234568", pn2)))
	lost := handedJob(t, h) // a dies with it
	b := ns.as("b")
	for _, at := range []time.Time{c.Now(), c.Now().Add(testLease - time.Second)} {
		if due, err := b.JobsDue(at); err != nil || due {
			t.Fatalf("node b: due at %v, under node a's lease: %t, %v", at, due, err)
		}
	}
	untouched("asked under the lease")
	c.Advance(testLease)
	if due, err := b.JobsDue(c.Now()); err != nil || !due {
		t.Fatalf("node b: due once node a's lease has run out: %t, %v; want true", due, err)
	}
	jobs := mustClaim(t, b, c.Now(), 10)
	if len(jobs) != 1 || jobs[0].ID != lost.ID || jobs[0].MessageID != acc.ID || jobs[0].InDoubtSince.IsZero() || jobs[0].Node != "b" {
		t.Fatalf("node b claimed %+v; want node a's lost job, in doubt", jobs)
	}
	a = ns.as("a")
	if err := a.CompleteJob(lost.ID, lost.Lease, Outcome{Event: EventNotified, Provider: "log", ProviderID: "late", Job: &lost}); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("node a's outcome after node b's claim: %v, want ErrLeaseLost", err)
	}
	b = ns.as("b")
	if err := b.CompleteJob(jobs[0].ID, jobs[0].Lease, Outcome{Event: EventNotified, Provider: "log", ProviderID: "b1", Job: &jobs[0]}); err != nil {
		t.Fatalf("node b's outcome: %v", err)
	}
	evs, err := b.Events(acc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(evs); n != 2 || evs[1].Kind != EventNotified || evs[1].ProviderID != "b1" {
		t.Fatalf("events %+v; want accepted, then node b's notified", evs)
	}
}

// TestHandoffRoom: jobs beyond the room, and all of them without a
// handoff, are written due at once for any claim, and JobsDue tells them
// from the born-leased ones (due only once their lease has run out); an
// accept that fails
// gives its room back; Close returns the jobs handed over and not taken.
func TestHandoffRoom(t *testing.T) {
	c := newClock()
	v, _ := openTest(t, func(o *Options) { o.Now = c.Now })
	h, err := v.OpenHandoff(testLease, 2)
	if err != nil {
		t.Fatal(err)
	}
	acc := accept(t, v, incoming(mime("one", nil), smsRecipient("+46701234567", pn1), smsRecipient("+46701234568", pn2)))
	if acc.Claimable != 0 {
		t.Errorf("Claimable %d with both jobs handed over, want 0", acc.Claimable)
	}
	handedJob(t, h)
	handedJob(t, h)
	if due, err := v.JobsDue(c.Now()); err != nil || due {
		t.Fatalf("jobs due with all born leased: %t, %v", due, err)
	}
	if due, err := v.JobsDue(c.Now().Add(testLease)); err != nil || !due {
		t.Fatalf("jobs due once their lease has run out: %t, %v; want true", due, err)
	}
	acc = accept(t, v, incoming(mime("one", nil), smsRecipient("+46701234567", pn1)))
	noHandedJob(t, h)
	if acc.Claimable != 1 {
		t.Errorf("Claimable %d with the job beyond the room, want 1", acc.Claimable)
	}
	if due, err := v.JobsDue(c.Now()); err != nil || !due {
		t.Fatalf("jobs due with one beyond the room: %t, %v; want true", due, err)
	}
	if jobs := mustClaim(t, v, c.Now(), 10); len(jobs) != 1 || jobs[0].MessageID != acc.ID || jobs[0].Recipient != 0 {
		t.Fatalf("claimed %+v; want the job beyond the room", jobs)
	}
	accept(t, v, incoming(mime("two", nil), smsRecipient("+46701234567", pn1)))
	noHandedJob(t, h)
	if jobs := mustClaim(t, v, c.Now(), 10); len(jobs) != 1 {
		t.Fatalf("with no room: claimed %d jobs, want the accept's one", len(jobs))
	}

	h.Free(2)
	in := incoming(mime("three", nil), smsRecipient("+46701234567", pn1))
	in.Within = func(Tx, string) error { return errors.New("refused") }
	if _, err := v.Accept(context.Background(), in); err == nil {
		t.Fatal("an accept whose Within fails went through")
	}
	noHandedJob(t, h)
	if k := h.Take(2); k != 2 {
		t.Fatalf("room after a failed accept: %d, want 2", k)
	}
	h.Free(2)

	left := accept(t, v, incoming(mime("four", nil), smsRecipient("+46701234567", pn1)))
	if jobs := h.Close(); len(jobs) != 1 || jobs[0].MessageID != left.ID {
		t.Fatalf("Close returned %+v; want the job handed over and not taken", jobs)
	}
	after := accept(t, v, incoming(mime("five", nil), smsRecipient("+46701234567", pn1), smsRecipient("+46701234568", pn2)))
	if after.Claimable != 2 {
		t.Errorf("Claimable %d without a handoff, want 2", after.Claimable)
	}
	if jobs := mustClaim(t, v, c.Now(), 10); len(jobs) != 2 || jobs[0].MessageID != after.ID {
		t.Fatalf("after Close: claimed %+v; want the accept's jobs, due at once", jobs)
	}
	if _, err := v.OpenHandoff(testLease, 1); err != nil {
		t.Fatalf("a handoff after Close: %v", err)
	}
}

// TestWithdrawn: Withdrawn tells what Lookup tells as LinkRevoked, for a
// job as handed over (which knows its recipient's record as accepted) and
// for the same job read back from the outbox (which does not): not
// withdrawn at first, withdrawn once its recipient is, and the other
// recipient's not.
func TestWithdrawn(t *testing.T) {
	v, _ := openTest(t, nil)
	h, err := v.OpenHandoff(testLease, 2)
	if err != nil {
		t.Fatal(err)
	}
	acc := accept(t, v, incoming(mime("one", nil), smsRecipient("+46701234567", pn1), smsRecipient("+46701234568", pn2)))
	handed := []Job{handedJob(t, h), handedJob(t, h)}
	check := func(when string, want ...bool) {
		t.Helper()
		for i, j := range handed {
			for _, j := range []Job{j, pendingJob(t, v, j.ID)} {
				got, err := v.Withdrawn(j)
				if err != nil {
					t.Fatal(err)
				}
				st, _, err := v.Lookup(j.Token)
				if err != nil {
					t.Fatal(err)
				}
				if got != want[i] || (st == LinkRevoked) != got {
					t.Errorf("%s: recipient %d (known %t): withdrawn %t, link %v; want %t", when, i, j.known != nil, got, st, want[i])
				}
			}
		}
	}
	check("as accepted", false, false)
	if _, err := v.Revoke(context.Background(), acc.ID, 0, "sent to the wrong person", "admin"); err != nil {
		t.Fatal(err)
	}
	check("the first withdrawn", true, false)
	if w, err := v.Withdrawn(Job{Kind: JobNotify, Token: "not a token"}); err != nil || w {
		t.Errorf("a malformed token: withdrawn %t, %v", w, err)
	}
}
