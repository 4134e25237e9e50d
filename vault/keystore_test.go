package vault

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"sigill/vault/kv"
	"sigill/vault/vaulttest"
)

// jobEpochs returns the outbox key of every job, by job id.
func jobEpochs(t *testing.T, v *Vault) map[uint64]uint64 {
	t.Helper()
	out := map[uint64]uint64{}
	jobs, err := v.PendingJobs()
	if err != nil {
		t.Fatal(err)
	}
	err = v.view(func(tx kv.Tx) error {
		for _, j := range jobs {
			var r jobRecord
			b, err := tx.Bucket(bOutbox).Get(seqKey(j.ID))
			if err != nil {
				return err
			}
			if err := json.Unmarshal(b, &r); err != nil {
				return err
			}
			out[j.ID] = r.Epoch
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func liveOutboxKeys(v *Vault) map[uint64]bool {
	v.keys.mu.Lock()
	defer v.keys.mu.Unlock()
	out := map[uint64]bool{}
	for id := range v.keys.outbox {
		out[id] = true
	}
	return out
}

// TestFailingJobKeepsNoKeyAlive: a job that keeps failing does not keep the
// outbox key of the jobs sent beside it alive: once that key is retired and
// has waited resealAfter, the failing job is sealed under the current key
// and the old key goes. A key whose jobs are all still pending (an outage)
// is left alone: there is nothing sent to protect.
func TestFailingJobKeepsNoKeyAlive(t *testing.T) {
	c := newClock()
	v, o := openTest(t, func(o *Options) { o.Now = c.Now })
	sent := accept(t, v, incoming(mime("sent", nil), smsRecipient("+46701234567", pn1), emailRecipient("anna@example.org", pn2)))
	failing := accept(t, v, incoming(mime("failing", nil), smsRecipient("+46701234568", pn3)))
	for _, j := range mustClaim(t, v, c.Now(), 10) {
		var err error
		if j.MessageID == sent.ID {
			err = v.CompleteJob(j.ID, j.Lease, notifiedBy("46elks", "id"))
		} else {
			err = v.RetryJob(j.ID, j.Lease, c.Now().Add(time.Hour), "503", false)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	old := jobEpochs(t, v)
	var first uint64
	for _, e := range old {
		first = e
	}
	// A minute later the first key is retired by age; its failing job keeps
	// it for now.
	c.Advance(outboxKeyLife)
	if err := v.shredPass(true); err != nil {
		t.Fatal(err)
	}
	if !liveOutboxKeys(v)[first] {
		t.Fatal("the first key went before its failing job was resealed")
	}
	// Then, under the next key, an outage: the job is retried, none is sent.
	accept(t, v, incoming(mime("outage", nil), smsRecipient("+46701234569", pn1)))
	for _, j := range mustClaim(t, v, c.Now(), 10) {
		if err := v.RetryJob(j.ID, j.Lease, c.Now().Add(time.Hour), "503", false); err != nil {
			t.Fatal(err)
		}
	}
	var downJob, downKey uint64
	for id, e := range jobEpochs(t, v) {
		if old[id] == 0 {
			downJob, downKey = id, e
		}
	}
	for range 2 {
		c.Advance(resealAfter)
		if err := v.shredPass(true); err != nil {
			t.Fatal(err)
		}
	}
	live := liveOutboxKeys(v)
	if live[first] {
		t.Error("the key of a sent job is kept alive by a failing job beside it")
	}
	epochs := jobEpochs(t, v)
	for id, e := range epochs {
		if !live[e] {
			t.Errorf("job %d is sealed under a destroyed key", id)
		}
		if e == first {
			t.Errorf("job %d still under the first key", id)
		}
	}
	if epochs[downJob] != downKey {
		t.Errorf("the outage's job was resealed; its key had nothing sent to protect")
	}
	// Every pending job still unseals, and the sent one's token is gone.
	jobs, err := v.PendingJobs()
	if err != nil || len(jobs) != 2 {
		t.Fatalf("pending jobs %+v, %v", jobs, err)
	}
	if onPostgres() {
		return // what follows reads a stolen copy of the bbolt file and its key files
	}
	v.Close()
	r := vaulttest.Scan(stolen(t, o, nil, nil, nil))
	if f := r.Of(sent.ID); len(f) > 0 {
		t.Errorf("the sent message opens: %v", f)
	}
	if !r.Has(failing.ID, "content") {
		t.Errorf("control: the failing (pending) job's message does not open: %v", r.Of(failing.ID))
	}
}

// TestKeysDurableBeforeUse: every Accept returns only when the outbox key
// and the expiry key it used are in the key store on disk: a copy of the
// three files taken right after it (as a crash would leave them) sends its
// notification and opens its message, across outbox key rotations.
func TestKeysDurableBeforeUse(t *testing.T) {
	boltOnly(t, "the key store file")
	c := newClock()
	v, o := openTest(t, func(o *Options) { o.Now = c.Now })
	seen := map[uint64]bool{}
	for i := range 4 {
		a := accept(t, v, incoming(mime("durable", nil), smsRecipient("+46701234567", pn1)))
		dir := t.TempDir()
		for _, f := range []string{o.Path, o.Path + LogSuffix, o.KeyFile, o.KeyStore} {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o600)
		}
		cp, err := Open(Options{Path: filepath.Join(dir, filepath.Base(o.Path)), Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		jobs, err := cp.PendingJobs()
		if err != nil || len(jobs) != 1 || jobs[0].Token != a.Tokens[0] {
			t.Fatalf("round %d: the copy's pending jobs %+v, %v", i, jobs, err)
		}
		if _, _, err := cp.Decrypt(a.Tokens[0]); err != nil {
			t.Fatalf("round %d: the copy does not open the message: %v", i, err)
		}
		cp.Close()
		for _, e := range jobEpochs(t, v) {
			seen[e] = true
		}
		// Sent: the key goes idle, and the next pass rotates it.
		for _, j := range mustClaim(t, v, c.Now(), 1) {
			if err := v.CompleteJob(j.ID, j.Lease, notifiedBy("46elks", "id")); err != nil {
				t.Fatal(err)
			}
		}
		if err := v.shredPass(true); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 4 {
		t.Errorf("4 accepts between rotations used %d outbox keys, want 4", len(seen))
	}
}

// TestOldSchemaRefused: a vault file of schema 1 (before the key store) is
// refused with a message that says what to do.
func TestOldSchemaRefused(t *testing.T) {
	v, o := openTest(t, nil)
	boltDB(t, v).Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte(bMeta)).Put(kSchema, []byte("1")) })
	v.Close()
	_, err := Open(o)
	if err == nil || !strings.Contains(err.Error(), `schema version "1"`) || !strings.Contains(err.Error(), "aside") {
		t.Fatalf("open of a schema 1 file: %v", err)
	}
}

// TestKeyStoreRefusals: a key store others may read, or one that is not a
// key store, is refused, naming it.
func TestKeyStoreRefusals(t *testing.T) {
	boltOnly(t, "the key store file")
	v, o := openTest(t, nil)
	v.Close()
	os.Chmod(o.KeyStore, 0o644)
	if _, err := Open(o); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a key store others may read: %v", err)
	}
	os.Chmod(o.KeyStore, 0o600)
	keys, _ := os.ReadFile(o.KeyStore)
	keys[len(keys)-1] ^= 1
	os.WriteFile(o.KeyStore, keys, 0o600)
	if _, err := Open(o); !errors.Is(err, ErrKeyMismatch) || !strings.Contains(err.Error(), o.KeyStore) {
		t.Errorf("a damaged key store: %v", err)
	}
}

// TestOutboxKeyLife: while jobs are pending under it, the current outbox
// key takes new seals for outboxKeyLife, not longer, and not shorter: a
// key store write per pass would cost intake, a longer life keeps sent
// tokens readable longer.
func TestOutboxKeyLife(t *testing.T) {
	c := newClock()
	v, _ := openTest(t, func(o *Options) { o.Now = c.Now })
	keyOf := func(a Accepted) uint64 {
		t.Helper()
		for _, j := range mustClaimAll(t, v) {
			if j.MessageID == a.ID {
				return jobEpochs(t, v)[j.ID]
			}
		}
		t.Fatalf("no job for %s", a.ID)
		return 0
	}
	// Once rotated (the key made at Open is not the one under test): a job
	// sent, its key idle, and the next pass retires it.
	accept(t, v, smallMessage())
	for _, j := range mustClaim(t, v, c.Now(), 1) {
		if err := v.CompleteJob(j.ID, j.Lease, notifiedBy("46elks", "id")); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.shredPass(true); err != nil {
		t.Fatal(err)
	}
	first := keyOf(accept(t, v, smallMessage()))
	for _, step := range []time.Duration{0, outboxKeyLife / 2, outboxKeyLife/2 - time.Second} {
		c.Advance(step)
		if err := v.shredPass(true); err != nil {
			t.Fatal(err)
		}
		if k := keyOf(accept(t, v, smallMessage())); k != first {
			t.Fatalf("%v into the key's life, a new accept went under another key", c.Now().Sub(newClock().Now()))
		}
	}
	c.Advance(time.Second)
	if err := v.shredPass(true); err != nil {
		t.Fatal(err)
	}
	if k := keyOf(accept(t, v, smallMessage())); k == first {
		t.Fatal("after outboxKeyLife new accepts still go under the same key")
	}
}

// mustClaimAll returns every pending job (claiming none).
func mustClaimAll(t *testing.T, v *Vault) []Job {
	t.Helper()
	jobs, err := v.PendingJobs()
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}
