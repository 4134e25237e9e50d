package vault

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sigill/vault/kv"
)

const testLease = 2 * time.Minute

func mustClaim(t *testing.T, v *Vault, now time.Time, n int) []Job {
	t.Helper()
	jobs, err := v.ClaimJobs(now, n, testLease)
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

func kinds(t *testing.T, v *Vault, id string) []EventKind {
	t.Helper()
	evs, err := v.Events(id)
	if err != nil {
		t.Fatal(err)
	}
	var out []EventKind
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return out
}

// TestClaimJobs: jobs come oldest first with their tokens, a leased job is
// not claimed again until its lease has passed, and then with Attempts
// counted up.
func TestClaimJobs(t *testing.T) {
	c := newClock()
	v, _ := openTest(t, func(o *Options) { o.Now = c.Now })
	a1 := accept(t, v, incoming(mime("one", nil), smsRecipient("+46701234567", pn1), emailRecipient("anna@example.org", pn2)))
	c.Advance(time.Second)
	a2 := accept(t, v, incoming(mime("two", nil), smsRecipient("+46701234568", pn3)))

	if jobs := mustClaim(t, v, c.Now().Add(-2*time.Second), 10); len(jobs) != 0 {
		t.Fatalf("claimed %d jobs before they were due", len(jobs))
	}
	jobs := mustClaim(t, v, c.Now(), 2)
	if len(jobs) != 2 {
		t.Fatalf("claimed %d jobs, want 2", len(jobs))
	}
	for i, j := range jobs {
		if j.MessageID != a1.ID || j.Recipient != i || j.Token != a1.Tokens[i] || j.Attempts != 1 || j.Kind != JobNotify {
			t.Errorf("job %d: %+v", i, j)
		}
		if !j.Due.Equal(c.Now().Add(testLease)) {
			t.Errorf("job %d due %v, want the end of the lease", i, j.Due)
		}
	}
	if jobs[0].Channel != "sms" || jobs[0].To != "+46701234567" || jobs[1].Channel != "email" || jobs[1].Lang != "en" {
		t.Errorf("jobs lost their addressing: %+v", jobs)
	}
	rest := mustClaim(t, v, c.Now(), 10)
	if len(rest) != 1 || rest[0].MessageID != a2.ID || rest[0].Token != a2.Tokens[0] {
		t.Fatalf("second claim: %+v", rest)
	}
	if again := mustClaim(t, v, c.Now().Add(testLease-time.Nanosecond), 10); len(again) != 0 {
		t.Fatalf("claimed %d leased jobs before the lease passed", len(again))
	}
	back := mustClaim(t, v, c.Now().Add(testLease), 10)
	if len(back) != 3 {
		t.Fatalf("after the lease: %d jobs, want 3", len(back))
	}
	for _, j := range back {
		if j.Attempts != 2 {
			t.Errorf("job %d: attempts %d after two claims", j.ID, j.Attempts)
		}
	}
}

// TestClaimConcurrent: claimers racing for the same jobs never share one.
func TestClaimConcurrent(t *testing.T) {
	c := newClock()
	v, _ := openTest(t, func(o *Options) { o.Now = c.Now })
	const n = 60
	for i := range n {
		accept(t, v, incoming(mime("m", nil), smsRecipient(fmt.Sprintf("+467012345%02d", i), pn1)))
	}
	var (
		mu   sync.Mutex
		seen = map[uint64]int{}
		wg   sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for {
				jobs, err := v.ClaimJobs(c.Now(), 3, testLease)
				if err != nil {
					t.Error(err)
					return
				}
				if len(jobs) == 0 {
					return
				}
				mu.Lock()
				for _, j := range jobs {
					seen[j.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("%d jobs claimed, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("job %d claimed %d times", id, k)
		}
	}
}

// TestCompleteJob: one transaction records "notified", with the provider's
// id, and deletes the job with its sealed token.
func TestCompleteJob(t *testing.T) {
	c := newClock()
	v, _ := openTest(t, func(o *Options) { o.Now = c.Now })
	a := accept(t, v, incoming(mime("x", nil)))
	j := mustClaim(t, v, c.Now(), 1)[0]
	if err := v.CompleteJob(j.ID, j.Lease, notifiedBy("46elks", "s0123abc")); err != nil {
		t.Fatal(err)
	}
	evs, err := v.Events(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[1].Kind != EventNotified || evs[1].ProviderID != "s0123abc" || evs[1].Detail != "46elks" || evs[1].Recipient != 0 {
		t.Fatalf("events %+v", evs)
	}
	if jobs, _ := v.PendingJobs(); len(jobs) != 0 {
		t.Fatalf("job still pending: %+v", jobs)
	}
	if n, _ := v.OutboxLen(); n != 0 {
		t.Fatalf("outbox length %d", n)
	}
	if err := v.CompleteJob(j.ID, j.Lease, notifiedBy("46elks", "s0123abc")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second completion: %v, want ErrNotFound", err)
	}
	if jobs := mustClaim(t, v, c.Now().Add(24*time.Hour), 10); len(jobs) != 0 {
		t.Fatalf("a completed job was claimed again: %+v", jobs)
	}
}

// TestRetryAndFail: a retried job waits for its due time and keeps its
// reason; a failed one records "failed" and is gone.
func TestRetryAndFail(t *testing.T) {
	c := newClock()
	v, _ := openTest(t, func(o *Options) { o.Now = c.Now })
	a := accept(t, v, incoming(mime("x", nil)))
	j := mustClaim(t, v, c.Now(), 1)[0]
	due := c.Now().Add(30 * time.Second)
	if err := v.RetryJob(j.ID, j.Lease, due, "46elks: HTTP 500", false); err != nil {
		t.Fatal(err)
	}
	if jobs := mustClaim(t, v, due.Add(-time.Millisecond), 1); len(jobs) != 0 {
		t.Fatal("claimed before its retry time")
	}
	j2 := mustClaim(t, v, due, 1)
	if len(j2) != 1 || j2[0].ID != j.ID || j2[0].Attempts != 2 || j2[0].LastError != "46elks: HTTP 500" {
		t.Fatalf("retried job: %+v", j2)
	}
	// Fencing: the first claim's lease is gone; only the second's records.
	if err := v.CompleteJob(j.ID, j.Lease, notifiedBy("46elks", "late")); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("an outcome of the first claim after the second: %v, want ErrLeaseLost", err)
	}
	if err := v.RetryJob(j.ID, j.Lease, due, "late", false); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("a retry of the first claim after the second: %v, want ErrLeaseLost", err)
	}
	if err := v.CompleteJob(j.ID, j2[0].Lease, Outcome{Event: EventFailed, Reason: "gave up"}); err != nil {
		t.Fatal(err)
	}
	evs, _ := v.Events(a.ID)
	if len(evs) != 2 || evs[1].Kind != EventFailed || evs[1].Detail != "gave up" {
		t.Fatalf("events %+v", evs)
	}
	if n, _ := v.OutboxLen(); n != 0 {
		t.Fatalf("outbox length %d after FailJob", n)
	}
	if err := v.RetryJob(j.ID, j.Lease, due, "x", false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("retry of a failed job: %v", err)
	}
	if err := v.CompleteJob(j.ID, j.Lease, Outcome{Event: EventFailed, Reason: "x"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second FailJob: %v", err)
	}
}

// TestReleaseClaims: a restarted process takes the jobs a dead one had
// leased at once, with their attempts kept, and fences the dead one's
// claims out.
func TestReleaseClaims(t *testing.T) {
	c := newClock()
	v, o := openTest(t, func(o *Options) { o.Now = c.Now })
	accept(t, v, incoming(mime("x", nil), smsRecipient("+46701234567", pn1), smsRecipient("+46701234568", pn2)))
	jobs := mustClaim(t, v, c.Now(), 1)
	if len(jobs) != 1 {
		t.Fatal("no job claimed")
	}
	v = reopen(t, v, o)
	n, err := v.ReleaseClaims(c.Now())
	if err != nil || n != 1 {
		t.Fatalf("released %d, %v; want 1", n, err)
	}
	// The dead process's claim ended with the release: an outcome of it is
	// refused, even before anyone claims the job again.
	if err := v.CompleteJob(jobs[0].ID, jobs[0].Lease, notifiedBy("46elks", "late")); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("an outcome of a released claim: %v, want ErrLeaseLost", err)
	}
	again := mustClaim(t, v, c.Now(), 10)
	if len(again) != 2 {
		t.Fatalf("after release: %d jobs, want 2", len(again))
	}
	for _, j := range again {
		if j.ID == jobs[0].ID && j.Attempts != 2 || j.ID != jobs[0].ID && j.Attempts != 1 {
			t.Errorf("job %d attempts %d", j.ID, j.Attempts)
		}
	}
}

// TestInDoubt: a job whose claim ended without an outcome — released after a
// restart, or claimed again when its lease ran out — is in doubt from the
// start of that claim on, also after a retry; a job given back unsent or
// only retried is not.
func TestInDoubt(t *testing.T) {
	c := newClock()
	v, o := openTest(t, func(o *Options) { o.Now = c.Now })
	accept(t, v, incoming(mime("x", nil), smsRecipient("+46701234567", pn1), smsRecipient("+46701234568", pn2), smsRecipient("+46701234569", pn3)))
	claimedAt := c.Now()
	jobs := mustClaim(t, v, claimedAt, 3)
	if len(jobs) != 3 {
		t.Fatalf("claimed %d jobs, want 3", len(jobs))
	}
	for _, j := range jobs {
		if !j.InDoubtSince.IsZero() {
			t.Fatalf("job %d in doubt at its first claim", j.ID)
		}
	}
	// Job 0 is retried (an outcome), job 1 keeps its lease, job 2 is killed.
	if err := v.RetryJob(jobs[0].ID, jobs[0].Lease, claimedAt, "46elks: HTTP 503", false); err != nil {
		t.Fatal(err)
	}
	c.Advance(testLease + time.Second)
	expired := mustClaim(t, v, c.Now(), 3)
	doubt := map[uint64]time.Time{}
	for _, j := range expired {
		doubt[j.ID] = j.InDoubtSince
	}
	if len(expired) != 3 || !doubt[jobs[0].ID].IsZero() || !doubt[jobs[1].ID].Equal(claimedAt) || !doubt[jobs[2].ID].Equal(claimedAt) {
		t.Fatalf("after the lease ran out: %v; want jobs %d and %d in doubt since %v", doubt, jobs[1].ID, jobs[2].ID, claimedAt)
	}
	// A restart releases all three; only job 0 was never in doubt, and
	// now is: its second claim ended without an outcome.
	secondClaim := c.Now()
	c.Advance(time.Second)
	v = reopen(t, v, o)
	if n, err := v.ReleaseClaims(c.Now()); err != nil || n != 3 {
		t.Fatalf("released %d, %v; want 3", n, err)
	}
	pending, err := v.PendingJobs()
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range pending {
		want := claimedAt
		if j.ID == jobs[0].ID {
			want = secondClaim
		}
		if !j.InDoubtSince.Equal(want) || j.Leased {
			t.Errorf("job %d after the restart: in doubt since %v, leased %v; want since %v", j.ID, j.InDoubtSince, j.Leased, want)
		}
	}
	// A retry in doubt (a lost answer) marks it from its claim on.
	fresh := accept(t, v, incoming(mime("y", nil), smsRecipient("+46701234570", pn1)))
	var lost Job
	for _, j := range mustClaim(t, v, c.Now(), 10) {
		if j.MessageID == fresh.ID {
			lost = j
		}
	}
	lostClaim := c.Now()
	c.Advance(time.Second)
	if err := v.RetryJob(lost.ID, lost.Lease, c.Now(), "46elks: context deadline exceeded", true); err != nil {
		t.Fatal(err)
	}
	for _, j := range mustClaim(t, v, c.Now(), 10) {
		if j.ID == lost.ID && !j.InDoubtSince.Equal(lostClaim) {
			t.Errorf("after a retry in doubt: in doubt since %v, want %v", j.InDoubtSince, lostClaim)
		}
	}
	c.Advance(testLease + time.Second)
	// A retry keeps the doubt.
	again := mustClaim(t, v, c.Now(), 1)
	if err := v.RetryJob(again[0].ID, again[0].Lease, c.Now(), "46elks: HTTP 503", false); err != nil {
		t.Fatal(err)
	}
	for _, j := range mustClaim(t, v, c.Now(), 3) {
		if j.ID == again[0].ID && j.InDoubtSince.IsZero() {
			t.Errorf("job %d was no longer in doubt after a retry", j.ID)
		}
	}
}

// TestClaimWritesNothingIdle: polling an outbox with nothing due costs no
// commit (no fsync); jobs added after a claim are still found.
func TestClaimWritesNothingIdle(t *testing.T) {
	c := newClock()
	var commits atomic.Int64
	v, o := openTest(t, func(o *Options) { o.Now = c.Now; o.onBatch = func(int) { commits.Add(1) } })
	for range 5 {
		if jobs := mustClaim(t, v, c.Now(), 10); len(jobs) != 0 {
			t.Fatal("claimed from an empty outbox")
		}
	}
	if n := commits.Load(); n != 0 {
		t.Fatalf("%d commits while idle", n)
	}
	accept(t, v, incoming(mime("x", nil)))
	j := mustClaim(t, v, c.Now(), 10)
	if len(j) != 1 {
		t.Fatal("new job not claimed")
	}
	if err := v.RetryJob(j[0].ID, j[0].Lease, c.Now().Add(time.Hour), "later", false); err != nil {
		t.Fatal(err)
	}
	before := commits.Load()
	for range 5 {
		if jobs := mustClaim(t, v, c.Now(), 10); len(jobs) != 0 {
			t.Fatal("claimed a job not yet due")
		}
	}
	if n := commits.Load() - before; n != 0 {
		t.Fatalf("%d commits with nothing due", n)
	}
	// Jobs accepted after a reopen are indexed too.
	v = reopen(t, v, o)
	a := accept(t, v, incoming(mime("y", nil)))
	j = mustClaim(t, v, c.Now(), 10)
	if len(j) != 1 || j[0].MessageID != a.ID {
		t.Fatalf("after reopen: %+v", j)
	}
	// Both are due in an hour: the retried one and the leased one.
	if j = mustClaim(t, v, c.Now().Add(time.Hour), 10); len(j) != 2 || j[0].Attempts != 2 || j[1].Attempts != 2 {
		t.Fatalf("jobs after reopen: %+v", j)
	}
}

// TestClaimAfterSweep: jobs Sweep drops leave stale entries that a claim
// clears without error.
func TestClaimAfterSweep(t *testing.T) {
	c := newClock()
	v, o := openTest(t, func(o *Options) { o.Now = c.Now })
	a := accept(t, v, incoming(mime("x", nil)))
	j := mustClaim(t, v, c.Now(), 1)
	if err := v.RetryJob(j[0].ID, j[0].Lease, c.Now().Add(time.Minute), "later", false); err != nil {
		t.Fatal(err)
	}
	c.Advance(o.Retention + time.Hour)
	if res, err := v.Sweep(); err != nil || res.Jobs != 1 {
		t.Fatalf("sweep: %+v, %v", res, err)
	}
	if jobs := mustClaim(t, v, c.Now(), 10); len(jobs) != 0 {
		t.Fatalf("claimed a swept job: %+v", jobs)
	}
	if err := v.CompleteJob(j[0].ID, j[0].Lease, notifiedBy("log", "x")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("complete after sweep: %v", err)
	}
	if k := kinds(t, v, a.ID); !slices.Equal(k, []EventKind{EventAccepted, EventExpired}) {
		t.Fatalf("events %v", k)
	}
	var left int
	v.view(func(tx kv.Tx) (err error) { left, err = tx.Bucket(bOutboxDue).Count(); return err })
	if left != 0 {
		t.Fatalf("%d stale entries left in outbox_due", left)
	}
	if onPostgres() {
		if err := VerifyStore(t.Context(), v.eng); err != nil {
			t.Fatal(err)
		}
		return
	}
	v.Close()
	if err := Verify(o.Path); err != nil {
		t.Fatal(err)
	}
}

// TestOtherJobKinds: jobs of another kind (a receipt to mail) are claimed
// like notify jobs, and completing one records no event (an event for one is
// refused).
func TestOtherJobKinds(t *testing.T) {
	c := newClock()
	v, _ := openTest(t, func(o *Options) { o.Now = c.Now })
	a := accept(t, v, incoming(mime("x", nil)))
	j := mustClaim(t, v, c.Now(), 1)[0]
	if err := v.CompleteJob(j.ID, j.Lease, notifiedBy("46elks", "id-1")); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		err := v.commit.update(t.Context(), func(tx kv.Tx) error {
			b, _ := json.Marshal(jobRecord{
				MessageID: a.ID, Kind: "receipt", Channel: "email", To: "staff@kommun.example.se",
				Due: c.Now(), Created: c.Now(), Event: 7,
			})
			seq, _ := tx.Bucket(bOutbox).NextSequence()
			return tx.Bucket(bOutbox).Put(seqKey(seq), b)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	jobs := mustClaim(t, v, c.Now(), 10)
	if len(jobs) != 2 || jobs[0].Kind != "receipt" || jobs[0].Event != 7 || jobs[0].Token != "" {
		t.Fatalf("claimed %+v", jobs)
	}
	// A receipt has no receipt: its outcome, in the notifier's words, is no
	// event, and an event for it is refused rather than appended.
	if err := v.CompleteJob(jobs[0].ID, jobs[0].Lease, notifiedBy("smtp", "")); err == nil {
		t.Fatal("a notified event for a receipt job was taken")
	}
	if err := v.CompleteJob(jobs[1].ID, jobs[1].Lease, Outcome{Event: EventFailed, Reason: "smarthost refused"}); err == nil {
		t.Fatal("a failed event for a receipt job was taken")
	}
	for _, j := range jobs {
		if err := v.CompleteJob(j.ID, j.Lease, Outcome{}); err != nil {
			t.Fatal(err)
		}
	}
	if k := kinds(t, v, a.ID); !slices.Equal(k, []EventKind{EventAccepted, EventNotified}) {
		t.Fatalf("events %v", k)
	}
	if n, _ := v.OutboxLen(); n != 0 {
		t.Fatalf("outbox length %d", n)
	}
}
