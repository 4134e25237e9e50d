package notifier

import (
	"testing"
	"time"
)

// TestStartable: a worker starts an attempt only while the job's lease
// outlasts a send; a job that waited longer goes back unsent, due at once
// and no longer leased, for a claim with a lease of its own.
func TestStartable(t *testing.T) {
	e := newEnv(t)
	logs, err := NewLogProvider(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Options{
		Vault: e.v, LinkBase: linkBase, OrgName: orgName, SMSSender: smsSender,
		SMS: logs, Now: e.clock.Now, SendTimeout: 10 * time.Second, Lease: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	acceptOne(t, e.v, "Ärende", smsTo("+46701234567", "199001012380", "sv"))
	jobs, err := e.v.ClaimJobs(e.clock.Now(), 10, time.Minute)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claimed %d jobs, %v", len(jobs), err)
	}
	j := jobs[0]
	e.clock.Advance(50 * time.Second) // 10 s of the lease left: just a send's time
	if !n.startable(j) {
		t.Fatal("a job with a send's time of its lease left was not startable")
	}
	if p := pending(t, e.v); len(p) != 1 || !p[0].Leased || p[0].Lease != j.Lease {
		t.Fatalf("a startable job was changed: %+v", p)
	}
	e.clock.Advance(time.Second)
	if n.startable(j) {
		t.Fatal("a job with less than a send's time of its lease left was startable")
	}
	p := pending(t, e.v)
	if len(p) != 1 || p[0].Leased || !p[0].Due.Equal(e.clock.Now()) || !p[0].InDoubtSince.IsZero() {
		t.Fatalf("the job given back: %+v; want it due now, not leased, not in doubt", p)
	}
}
