package vault

// Deletion has to be final in the files, not only in the B-tree: bbolt keeps
// a deleted record's bytes in its free pages, and Backup copies them. These
// tests hand an attacker's scan (vaulttest.Scan) every byte of the vault
// file and of backups, with the key file and the key store beside them, and
// check that nothing of a notified or expired message opens, while what is
// meant to open (a pending notification, a live message) does.

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"sigill/vault/vaulttest"
)

// stolen is what a thief who copies the data folder now holds: the vault
// file and its write-ahead log, the key file and the key store beside it
// (path + ".keys"; none before the key store existed), and the backups
// given.
func stolen(t *testing.T, o Options, backups map[string][]byte, tokens []string, escrow openpgp.EntityList) vaulttest.Files {
	t.Helper()
	file, err := os.ReadFile(o.Path)
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(o.Path + ".key")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := os.ReadFile(o.Path + ".keys")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	f := vaulttest.Files{Vault: map[string][]byte{"vault file": file}, KeyFile: key, KeyStore: keys, Tokens: tokens, Escrow: escrow}
	if log, err := os.ReadFile(o.Path + LogSuffix); err == nil {
		f.Vault["vault log"] = log
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	for name, b := range backups {
		f.Vault[name] = b
	}
	return f
}

func backupBytes(t *testing.T, v *Vault) []byte {
	t.Helper()
	boltOnly(t, "reads a copy from the vault's Backup, which PostgreSQL leaves to pg_dump")
	var b bytes.Buffer
	if _, err := v.Backup(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func logReport(t *testing.T, r vaulttest.Report) {
	t.Helper()
	t.Logf("scan: %d sealed tokens, %d wrapped keys, %d packets found; %d outbox and %d expiry keys in the key store; %d findings",
		r.SealedTokens, r.WrappedKeys, r.Packets, r.OutboxKeys, r.ExpiryKeys, len(r.Findings))
}

// TestNotifiedTokensAreShredded: once its notification is sent or given up,
// no copy of a job's token opens from the vault file or a backup, with the
// key file and the key store: the sealed tokens are still in the free pages,
// but the keys they were sealed under are gone.
func TestNotifiedTokensAreShredded(t *testing.T) {
	boltOnly(t, "reads a copy from the vault's Backup (the doc says what shredding promises on PostgreSQL)")
	c := newClock()
	v, o := openTest(t, func(o *Options) { o.Now = c.Now })
	var notified []Accepted
	for i := range 24 {
		notified = append(notified, accept(t, v, incoming(mime(fmt.Sprintf("Notified %d %s", i, randomHex(8)), nil),
			smsRecipient("+46701234567", pn1), emailRecipient("anna@example.org", pn2))))
	}
	// As the notifier does: claim, and record each outcome. Most are sent at
	// once, some after a failed attempt (the job rewritten in between), some
	// given up.
	outcomes := map[string]int{}
	for {
		jobs := mustClaim(t, v, c.Now(), 10)
		if len(jobs) == 0 {
			break
		}
		for _, j := range jobs {
			var err error
			switch {
			case j.ID%5 == 0 && j.Attempts == 1:
				err = v.RetryJob(j.ID, j.Lease, c.Now(), "503 from the provider", false)
				outcomes["retried"]++
			case j.ID%7 == 0:
				err = v.CompleteJob(j.ID, j.Lease, Outcome{Event: EventFailed, Reason: "gave up"})
				outcomes["given up"]++
			default:
				err = v.CompleteJob(j.ID, j.Lease, notifiedBy("46elks", fmt.Sprintf("sms-%d", j.ID)))
				outcomes["sent"]++
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if n, _ := v.OutboxLen(); n != 0 || outcomes["retried"] == 0 || outcomes["given up"] == 0 {
		t.Fatalf("test fault: %d jobs left, outcomes %v", n, outcomes)
	}
	backups := map[string][]byte{"backup after the notifications": backupBytes(t, v)}
	// A restart between, so that the key store's pass has run (it runs in
	// the background while the vault is open, and once more at Close).
	v = reopen(t, v, o)
	pending := accept(t, v, incoming(mime("Pending "+randomHex(8), nil), smsRecipient("+46701234568", pn3)))
	backups["backup with a notification pending"] = backupBytes(t, v)
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}

	r := vaulttest.Scan(stolen(t, o, backups, nil, nil))
	logReport(t, r)
	for _, a := range notified {
		for _, f := range r.Of(a.ID) {
			t.Errorf("notified message: %s", f)
		}
	}
	// The scan can succeed: the pending notification's token opens, and
	// with it the message.
	if !r.Has(pending.ID, "sealed token") || !r.Has(pending.ID, "content") {
		t.Errorf("control: the pending notification's token or message did not open: %v", r.Of(pending.ID))
	}
	// And the sealed tokens of notified jobs are still in the files: what
	// protects them is that their keys are gone, not luck.
	if r.SealedTokens <= 1 {
		t.Errorf("control: the scan found %d sealed tokens; the notified jobs' should be in the free pages", r.SealedTokens)
	}
}

// TestExpiredMessagesAreShredded: after a message's expiry (and the end of
// its expiry hour), no kept token opens it from a copy of the files made
// then, nor does the escrow private key; a copy made before still does.
func TestExpiredMessagesAreShredded(t *testing.T) {
	boltOnly(t, "reads a copy from the vault's Backup (the doc says what shredding promises on PostgreSQL)")
	c := newClock()
	priv, pub := newEscrowEntity(t, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Time: func() time.Time { return c.Now().Add(-time.Hour) }})
	escrow := openpgp.EntityList{priv}
	v, o := openTest(t, func(o *Options) { o.Now = c.Now; o.EscrowKey = pub })
	var expiring []Accepted
	var tokens []string
	for i := range 12 {
		a := accept(t, v, incoming(mime(fmt.Sprintf("Expiring %d %s", i, randomHex(8)), []byte(strings.Repeat("bilaga ", 200))),
			smsRecipient("+46701234567", pn1), emailRecipient("anna@example.org", pn2)))
		expiring = append(expiring, a)
		tokens = append(tokens, a.Tokens...)
		c.Advance(10 * time.Minute)
	}
	// Half the notifications are sent; the rest are still pending at expiry.
	for _, j := range mustClaim(t, v, c.Now(), 12) {
		if err := v.CompleteJob(j.ID, j.Lease, notifiedBy("46elks", fmt.Sprintf("sms-%d", j.ID))); err != nil {
			t.Fatal(err)
		}
	}
	// Control: a copy made before the expiry opens every message with its
	// token, and with the escrow key.
	before := vaulttest.Scan(stolen(t, o, map[string][]byte{"backup": backupBytes(t, v)}, tokens, escrow))
	for _, a := range expiring {
		if !before.Has(a.ID, "content") || !before.Has(a.ID, "escrow message key") {
			t.Fatalf("control: before expiry message %s does not open: %v", a.ID, before.Of(a.ID))
		}
	}

	// Past the last one's expiry and the end of its hour.
	c.Advance(DefaultRetention + time.Hour)
	r, err := v.Sweep()
	if err != nil {
		t.Fatal(err)
	}
	if r.Expired != len(expiring) {
		t.Fatalf("sweep: %+v", r)
	}
	fresh := accept(t, v, incoming(mime("Fresh "+randomHex(8), nil), smsRecipient("+46701234568", pn3)))
	backup := backupBytes(t, v)
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	after := vaulttest.Scan(stolen(t, o, map[string][]byte{"backup after expiry": backup}, append(tokens, fresh.Tokens...), escrow))
	logReport(t, after)
	for _, a := range expiring {
		for _, f := range after.Of(a.ID) {
			t.Errorf("expired message: %s", f)
		}
	}
	if !after.Has(fresh.ID, "content") || !after.Has(fresh.ID, "escrow message key") {
		t.Errorf("control: the message not yet expired does not open: %v", after.Of(fresh.ID))
	}
	// The old wrapped keys usually still lie in free pages, which shows the
	// pass comes from the destroyed keys and not from overwritten pages.
	// bbolt may reuse those pages for the sweep's or the fresh message's
	// commits (about one run in thirty), which proves nothing either way:
	// then say so, and let the assertions above stand alone.
	if after.WrappedKeys <= 1 {
		t.Logf("control inconclusive: the scan found %d wrapped keys; bbolt reused the free pages that held the expired messages'", after.WrappedKeys)
	}
}
