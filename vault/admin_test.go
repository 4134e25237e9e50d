package vault

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"sigill/vault/kv"
	"sigill/vault/kv/boltkv"
)

func writeBackup(t *testing.T, v *Vault, path string) int64 {
	t.Helper()
	boltOnly(t, "reads a copy from the vault's Backup, which PostgreSQL leaves to pg_dump")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := v.Backup(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestBackupVerifyStats(t *testing.T) {
	boltOnly(t, "the vault's own backup of its file; on PostgreSQL pg_dump (pgkv's TestPgDumpRestore)")
	v, o := openTest(t, nil)
	in := incoming(mime("Backup "+randomHex(8), []byte("x")), smsRecipient("+46701234567", pn1), smsRecipient("+46709876543", pn3))
	a := accept(t, v, in)
	accept(t, v, smallMessage())
	if err := v.Record(Event{MessageID: a.ID, Recipient: 1, Kind: EventDelivered, ProviderID: "s1"}); err != nil {
		t.Fatal(err)
	}
	if err := v.AddAccount("staff@kommun.example.se", "hemligt"); err != nil {
		t.Fatal(err)
	}
	s, err := v.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.Messages != 2 || s.Recipients != 3 || s.Outbox != 3 || s.Events != 4 || s.FileBytes <= 0 {
		t.Fatalf("stats %+v", s)
	}

	dir := t.TempDir()
	bp := filepath.Join(dir, "backup.db")
	n := writeBackup(t, v, bp)
	if fi, _ := os.Stat(bp); fi.Size() != n {
		t.Fatalf("backup wrote %d bytes, file has %d", n, fi.Size())
	}
	if err := Verify(bp); err != nil {
		t.Fatal(err)
	}
	// The backup opens with the key file and the key store (copied apart)
	// and reads.
	kf, _ := os.ReadFile(o.KeyFile)
	os.WriteFile(filepath.Join(dir, "backup.key"), kf, 0o600)
	ks, _ := os.ReadFile(o.KeyStore)
	os.WriteFile(filepath.Join(dir, "backup.keys"), ks, 0o600)
	b, err := Open(Options{Path: bp, KeyFile: filepath.Join(dir, "backup.key"), KeyStore: filepath.Join(dir, "backup.keys")})
	if err != nil {
		t.Fatal(err)
	}
	checkStored(t, b, in, a)
	if _, err := b.Authenticate("staff@kommun.example.se", "hemligt"); err != nil {
		t.Fatal(err)
	}
	if s2 := mustStats(t, b); s2 != (Stats{Messages: 2, Recipients: 3, Outbox: 3, Events: 4}) {
		t.Fatalf("backup stats %s", fmtStats(s2))
	}
	b.Close()

	// Verify finds damage: a recipient record removed behind the vault's back.
	e, err := boltkv.Open(bp, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = kv.Update(t.Context(), e, 1, func(tx kv.Tx) error {
		m, err := getMessage(tx, a.ID)
		if err != nil {
			return err
		}
		return tx.Bucket(bRecipients).Delete(m.Recipients[1])
	})
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	if err := Verify(bp); err == nil || !strings.Contains(err.Error(), "recipient 1 missing") {
		t.Fatalf("verify of a damaged vault: %v", err)
	}
	// …and a file that is no vault.
	junk := filepath.Join(dir, "junk.db")
	os.WriteFile(junk, bytes.Repeat([]byte("sigill"), 2000), 0o600)
	if err := Verify(junk); err == nil {
		t.Fatal("verify of junk passed")
	}
	if err := Verify(filepath.Join(dir, "missing.db")); err == nil {
		t.Fatal("verify of a missing file passed")
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); err == nil {
		t.Fatal("verify created the file")
	}
}

func TestEvents(t *testing.T) {
	c := newClock()
	v, _ := openTest(t, func(o *Options) { o.Now = c.Now })
	a := accept(t, v, incoming([]byte("Subject: e\r\n\r\ne"), smsRecipient("+46701234567", pn1), smsRecipient("+46701234568", pn2)))
	other := accept(t, v, smallMessage())
	c.Advance(time.Minute)
	if err := v.Record(Event{MessageID: a.ID, Recipient: 1, Kind: EventDenied, PersonalNumber: pn3, IP: "198.51.100.4"}); err != nil {
		t.Fatal(err)
	}
	if err := v.Record(Event{MessageID: other.ID, Kind: EventNotified, ProviderID: "elk-1"}); err != nil {
		t.Fatal(err)
	}
	at := c.Now().Add(time.Second)
	if err := v.Record(Event{MessageID: a.ID, Recipient: 1, Kind: EventOpened, PersonalNumber: pn2, Name: "Test Testsson", At: at}); err != nil {
		t.Fatal(err)
	}
	evs, err := v.Events(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 4 {
		t.Fatalf("%d events: %+v", len(evs), evs)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Seq <= evs[i-1].Seq {
			t.Fatalf("events out of order: %+v", evs)
		}
	}
	if e := evs[2]; e.Kind != EventDenied || e.PersonalNumber != pn3 || e.IP != "198.51.100.4" || !e.At.Equal(c.Now()) {
		t.Fatalf("denied event %+v", e)
	}
	if e := evs[3]; e.Kind != EventOpened || e.Name != "Test Testsson" || !e.At.Equal(at) {
		t.Fatalf("opened event %+v", e)
	}
	if evs, _ := v.Events(other.ID); len(evs) != 2 || evs[1].ProviderID != "elk-1" {
		t.Fatalf("other message's events: %+v", evs)
	}
	for name, ev := range map[string]Event{
		"unknown message":   {MessageID: "nosuchmessage", Kind: EventOpened},
		"unknown recipient": {MessageID: a.ID, Recipient: 2, Kind: EventOpened},
	} {
		if err := v.Record(ev); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
	if err := v.Record(Event{MessageID: a.ID, Kind: "read"}); err == nil {
		t.Error("unknown kind recorded")
	}
	if _, err := v.Events("nosuchmessage"); !errors.Is(err, ErrNotFound) {
		t.Errorf("events of an unknown message: %v", err)
	}
}

func TestOpenLocked(t *testing.T) {
	boltOnly(t, "bbolt's file lock")
	_, o := openTest(t, nil)
	start := time.Now()
	_, err := Open(o)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), o.Path) {
		t.Fatalf("second open: %v, want ErrLocked naming %s", err, o.Path)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("gave up after %v", d)
	}
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	o := Options{Path: filepath.Join(dir, "v.db")}
	v, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(o.Path + ".key")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != keyFileSize {
		t.Fatalf("key file mode %v size %d", fi.Mode(), fi.Size())
	}
	key, _ := os.ReadFile(o.Path + ".key")
	v.Close()

	// The same key opens again; the file is not rewritten.
	v, err = Open(o)
	if err != nil {
		t.Fatal(err)
	}
	a := accept(t, v, smallMessage())
	v.Close()
	if again, _ := os.ReadFile(o.Path + ".key"); !bytes.Equal(again, key) {
		t.Fatal("key file rewritten")
	}

	// A key file others may read is refused.
	os.Chmod(o.Path+".key", 0o640)
	if _, err := Open(o); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("group-readable key file: %v", err)
	}
	os.Chmod(o.Path+".key", 0o600)
	// A key file of the wrong size is refused.
	short := filepath.Join(dir, "short.key")
	os.WriteFile(short, key[:16], 0o600)
	if _, err := Open(Options{Path: o.Path, KeyFile: short}); err == nil {
		t.Fatal("16-byte key file taken")
	}
	// Another key file: the key store does not open with it, refused,
	// naming both files.
	other := filepath.Join(dir, "other.key")
	if _, err := Open(Options{Path: o.Path, KeyFile: other}); !errors.Is(err, ErrKeyMismatch) || !strings.Contains(err.Error(), other) || !strings.Contains(err.Error(), o.Path+".keys") {
		t.Fatalf("other key file: %v", err)
	}
	if _, err := os.Stat(other); err == nil {
		t.Error("a refused open left the key file it made")
	}
	// The key store gone while a notification is pending and a message has
	// not expired: refused, naming it.
	keys, _ := os.ReadFile(o.Path + ".keys")
	os.Remove(o.Path + ".keys")
	if _, err := Open(o); !errors.Is(err, ErrKeyMismatch) || !strings.Contains(err.Error(), o.Path+".keys") {
		t.Fatalf("missing key store with pending jobs: %v", err)
	}
	if _, err := os.Stat(o.Path + ".keys"); err == nil {
		t.Error("a refused open left the key store it made")
	}
	// An empty key store is the admin's consent to go on without the lost
	// one: the message is then as good as expired, and its pending
	// notification fails when claimed.
	dir2 := t.TempDir()
	for _, f := range []string{"v.db", "v.db.key"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		os.WriteFile(filepath.Join(dir2, f), b, 0o600)
	}
	os.WriteFile(filepath.Join(dir2, "v.db.keys"), nil, 0o600)
	lost, err := Open(Options{Path: filepath.Join(dir2, "v.db")})
	if err != nil {
		t.Fatalf("open with an empty key store: %v", err)
	}
	if _, _, err := lost.Decrypt(a.Tokens[0]); !errors.Is(err, ErrExpired) {
		t.Errorf("decrypt after the key store was replaced: %v, want ErrExpired", err)
	}
	if jobs, err := lost.ClaimJobs(time.Now(), 10, time.Minute); err != nil || len(jobs) != 0 {
		t.Errorf("claim after the key store was replaced: %+v, %v", jobs, err)
	}
	if n, _ := lost.OutboxLen(); n != 0 {
		t.Errorf("%d jobs left after their keys were lost; want them failed", n)
	}
	lost.Close()
	os.WriteFile(o.Path+".keys", keys, 0o600)
	// Messages need the key store: with it back, the token opens.
	v, err = Open(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, raw, err := v.Decrypt(a.Tokens[0]); err != nil || len(raw) == 0 {
		t.Fatalf("with the key store back: %v", err)
	}
	// Once nothing needs the old keys (no job pending, every message
	// expired), a new key file and key store are taken.
	boltDB(t, v).Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bOutbox))
		return b.ForEach(func(k, _ []byte) error { return b.Delete(k) })
	})
	v.Close()
	os.Remove(o.Path + ".keys")
	later := Options{Path: o.Path, KeyFile: other, Now: func() time.Time { return time.Now().Add(DefaultRetention) }}
	v, err = Open(later)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, _, err := v.Decrypt(a.Tokens[0]); !errors.Is(err, ErrExpired) {
		t.Fatalf("an expired message after the key store was replaced: %v", err)
	}
	b := accept(t, v, smallMessage())
	jobs, err := v.PendingJobs()
	if err != nil || len(jobs) != 1 || jobs[0].Token != b.Tokens[0] {
		t.Fatalf("jobs with the new key: %+v, %v", jobs, err)
	}
}

func TestPing(t *testing.T) {
	v, _ := openTest(t, nil)
	if err := v.Ping(); err != nil {
		t.Fatalf("a fresh vault: %v", err)
	}
	v.Close()
	if err := v.Ping(); err == nil {
		t.Error("a closed vault answers Ping")
	}
}

// TestVerifyAppliesTheLog: a copy of a running vault whose last commits
// are only in its write-ahead log (the applier held back by a bbolt write
// transaction the test keeps open) verifies, and Verify leaves the file
// holding them: what verify and the migration read is the whole store.
func TestVerifyAppliesTheLog(t *testing.T) {
	boltOnly(t, "the bbolt file and its log")
	v, o := openTest(t, nil)
	hold, err := boltDB(t, v).Begin(true) // the applier waits for bbolt's writer lock
	if err != nil {
		t.Fatal(err)
	}
	a := accept(t, v, incoming(mime("logged only", nil), smsRecipient("+46701234567", pn1)))
	dir := t.TempDir()
	copyPath := filepath.Join(dir, "copy.db")
	for _, f := range [][2]string{{o.Path, copyPath}, {o.Path + LogSuffix, copyPath + LogSuffix}, {o.KeyFile, copyPath + ".key"}, {o.KeyStore, copyPath + ".keys"}} {
		b, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hold.Rollback()
	inFile := func() bool {
		t.Helper()
		e, err := boltkv.Open(copyPath, &bolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		var found bool
		err = kv.View(t.Context(), e, func(tx kv.Tx) error {
			v, err := tx.Bucket(bParts).Get(metaKey(a.ID))
			found = v != nil
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return found
	}
	if inFile() {
		t.Fatal("control: the copy's file holds the message before its log is applied")
	}
	if err := Verify(copyPath); err != nil {
		t.Fatal(err)
	}
	if !inFile() {
		t.Fatal("after Verify the file does not hold the message its log held")
	}
}
