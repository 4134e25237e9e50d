package vault

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"sigill/vault/kv"
)

func TestRetention(t *testing.T) {
	boltOnly(t, "reads a copy from the vault's Backup")
	c := newClock()
	v, o := openTest(t, func(o *Options) { o.Now = c.Now })
	in := incoming(mime("Retention "+randomHex(8), []byte("pdf")),
		smsRecipient("+46701234567", pn1), emailRecipient("c@example.org", pn2))
	a := accept(t, v, in)
	c.Advance(time.Hour)
	keep := accept(t, v, smallMessage()) // an hour younger: survives the first sweep
	if err := v.Record(Event{MessageID: a.ID, Recipient: 0, Kind: EventOpened, PersonalNumber: pn1, Name: "Test Testsson", IP: "192.0.2.7"}); err != nil {
		t.Fatal(err)
	}

	// Just before the retention: nothing to do.
	c.Advance(DefaultRetention - time.Hour - time.Second)
	if r, err := v.Sweep(); err != nil || r != (SweepResult{}) {
		t.Fatalf("sweep before retention: %+v, %v", r, err)
	}
	if _, _, err := v.Decrypt(a.Tokens[0]); err != nil {
		t.Fatal(err)
	}

	// At the retention the content is refused even before a sweep…
	c.Advance(time.Second)
	if l, _, err := v.Decrypt(a.Tokens[0]); !errors.Is(err, ErrExpired) || l.ID != a.ID || !l.Expired {
		t.Fatalf("decrypt at retention, unswept: %+v, %v", l, err)
	}
	// …and the sweep deletes it.
	r, err := v.Sweep()
	if err != nil {
		t.Fatal(err)
	}
	// Keys: 1, the key of the message's expiry hour, replaced at once
	// (TestExpiredBeforeItsHourEnds).
	if want := (SweepResult{Expired: 1, Jobs: 2, Keys: 1}); r != want {
		t.Fatalf("sweep: %+v, want %+v", r, want)
	}
	for i, tok := range a.Tokens {
		st, l, err := v.Lookup(tok)
		if st != LinkExpired || err != nil {
			t.Fatalf("lookup after expiry: %v, %v", st, err)
		}
		if !l.Expired || l.Errand != in.Errand || l.Recipient != i || l.Rcpt.To != in.Recipients[i].To {
			t.Fatalf("letter after expiry: %+v", l)
		}
		if _, _, err := v.Decrypt(tok); !errors.Is(err, ErrExpired) {
			t.Fatalf("decrypt after expiry: %v", err)
		}
	}
	// The content, escrow packet and wrapped keys are gone from the file.
	err = v.view(func(tx kv.Tx) error {
		if ct, err := tx.Bucket(bParts).Get(contentKey(a.ID)); err != nil || ct != nil {
			t.Errorf("ciphertext kept after expiry (%v)", err)
		}
		m, err := getMessage(tx, a.ID)
		if err != nil {
			return err
		}
		if !m.Expired || m.Escrow != nil {
			t.Errorf("message record after expiry: %+v", m)
		}
		for _, h := range m.Recipients {
			b, err := tx.Bucket(bRecipients).Get(h)
			if err != nil {
				return err
			}
			var rr recipientRecord
			if err := json.Unmarshal(b, &rr); err != nil {
				return err
			}
			if rr.Wrapped != nil || !rr.Expired {
				t.Errorf("wrapped key kept after expiry: %+v", rr)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := v.Events(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []EventKind
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
	}
	want := []EventKind{EventAccepted, EventAccepted, EventOpened, EventExpired, EventExpired}
	if len(kinds) != len(want) {
		t.Fatalf("events %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("events %v, want %v", kinds, want)
		}
	}
	if evs[3].Recipient != 0 || evs[4].Recipient != 1 || !evs[3].At.Equal(c.Now()) {
		t.Fatalf("expired events: %+v", evs[3:])
	}
	jobs, _ := v.PendingJobs()
	for _, j := range jobs {
		if j.MessageID == a.ID {
			t.Fatal("outbox job of an expired message kept")
		}
	}
	if _, _, err := v.Decrypt(keep.Tokens[0]); err != nil {
		t.Fatalf("the younger message: %v", err)
	}
	verifyLive(t, v)

	// A second sweep finds nothing new.
	if r, err := v.Sweep(); err != nil || r != (SweepResult{}) {
		t.Fatalf("second sweep: %+v, %v", r, err)
	}
	// Survives a reopen.
	v = reopen(t, v, o)
	if st, l, err := v.Lookup(a.Tokens[1]); st != LinkExpired || err != nil || !l.Expired {
		t.Fatalf("after reopen: %v %+v, %v", st, l, err)
	}

	// At the audit retention everything about it goes.
	c.Advance(DefaultAuditRetention - DefaultRetention)
	r, err = v.Sweep()
	if err != nil {
		t.Fatal(err)
	}
	// Every expiry key's period has ended by now (how many there are depends
	// on when the background pass made the coming periods' keys).
	if r.Keys == 0 {
		t.Errorf("audit sweep destroyed no expiry key: %+v", r)
	}
	r.Keys = 0
	if want := (SweepResult{Purged: 1, Events: 5, Expired: 1, Jobs: 1}); r != want {
		t.Fatalf("audit sweep: %+v, want %+v", r, want)
	}
	for _, tok := range a.Tokens {
		if st, _, err := v.Lookup(tok); st != LinkUnknown || err != nil {
			t.Fatalf("lookup after audit retention: %v, %v", st, err)
		}
	}
	if _, err := v.Events(a.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("events after audit retention: %v", err)
	}
	// The younger one is expired (it passed its retention too) but not purged.
	if st, l, err := v.Lookup(keep.Tokens[0]); st != LinkExpired || err != nil || !l.Expired {
		t.Fatalf("younger message: %v %+v, %v", st, l, err)
	}
	if s := mustStats(t, v); s != (Stats{Messages: 1, Recipients: 1, Events: 2}) {
		t.Fatalf("stats %s", fmtStats(s))
	}
	c.Advance(time.Hour)
	if r, err := v.Sweep(); err != nil || r.Purged != 1 {
		t.Fatalf("last sweep: %+v, %v", r, err)
	}
	if s := mustStats(t, v); s != (Stats{}) {
		t.Fatalf("stats after everything expired: %s", fmtStats(s))
	}
	verifyLive(t, v)
}

// TestSweepChunks: more due messages than one sweep transaction takes.
func TestSweepChunks(t *testing.T) {
	c := newClock()
	v, _ := openTest(t, func(o *Options) { o.Now = c.Now; o.Retention = time.Hour; o.AuditRetention = 2 * time.Hour })
	n := sweepChunk*2 + 3
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				if _, err := v.Accept(context.Background(), incoming([]byte("Subject: x\r\n\r\nx"))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	c.Advance(time.Hour)
	r, err := v.Sweep()
	if err != nil || r.Expired != n || r.Jobs != n {
		t.Fatalf("sweep: %+v, %v", r, err)
	}
	c.Advance(time.Hour)
	r, err = v.Sweep()
	if err != nil || r.Purged != n || r.Events != 2*n {
		t.Fatalf("audit sweep: %+v, %v", r, err)
	}
	if s := mustStats(t, v); s != (Stats{}) {
		t.Fatalf("stats %s", fmtStats(s))
	}
}

func TestRunSweeper(t *testing.T) {
	c := newClock()
	v, _ := openTest(t, func(o *Options) { o.Now = c.Now })
	a := accept(t, v, smallMessage())
	c.Advance(DefaultRetention)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { v.RunSweeper(ctx, time.Millisecond); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if st, _, err := v.Lookup(a.Tokens[0]); err == nil && st == LinkExpired && mustStats(t, v).Outbox == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sweeper did not expire the message")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	// It also stops when the vault closes.
	go func() { v.RunSweeper(context.Background(), time.Millisecond) }()
	v.Close()
}

func TestRetentionOptions(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(Options{Path: dir + "/a.db", Retention: 48 * time.Hour, AuditRetention: time.Hour}); err == nil {
		t.Error("audit retention shorter than retention accepted")
	}
	if _, err := Open(Options{Path: dir + "/b.db", Retention: -time.Hour}); err == nil {
		t.Error("negative retention accepted")
	}
}

// verifyLive runs Verify on a backup of the open vault.
func verifyLive(t *testing.T, v *Vault) {
	t.Helper()
	p := t.TempDir() + "/backup.db"
	writeBackup(t, v, p)
	if err := Verify(p); err != nil {
		t.Fatal(err)
	}
}
