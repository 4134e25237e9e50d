package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"sigill/config"
	"sigill/vault"
	"sigill/vault/vaulttest"
)

// stolenDataFolder is what a thief who copies sigill's data folder now
// holds: the vault file and its log, the key file and the key store, and the backups
// given. outbox.jsonl is left out: it is dev's stand-in for the SMS
// provider, the recipients' phones, and holds every link by design.
func stolenDataFolder(t *testing.T, data string, backups []string, tokens []string) vaulttest.Files {
	t.Helper()
	read := func(name string) []byte {
		b, err := os.ReadFile(name)
		if err != nil && !errors.Is(err, fs.ErrNotExist) { // no key store before there was one
			t.Fatal(err)
		}
		return b
	}
	f := vaulttest.Files{
		Vault: map[string][]byte{
			"sigill.db":     read(filepath.Join(data, "sigill.db")),
			"sigill.db.wal": read(filepath.Join(data, "sigill.db"+vault.LogSuffix)),
		},
		KeyFile:  read(filepath.Join(data, "sigill.db.key")),
		KeyStore: read(filepath.Join(data, "sigill.db.keys")),
		Tokens:   tokens,
	}
	for _, b := range backups {
		f.Vault[filepath.Base(b)] = read(b)
	}
	return f
}

// TestNotifiedTokensShreddedInDev: messages sent to the built `sigill dev`
// over SMTP and notified; then a copy of its data folder and a `sigill vault
// backup` taken while it runs open none of them with the key file and the
// key store, though the sealed tokens are still in the vault's log (and
// perhaps the file's free pages). The key store's pass runs in the background (at most a second
// after a notification is recorded), so the copy is taken again until it
// is clean, for at most 30 s.
func TestNotifiedTokensShreddedInDev(t *testing.T) {
	data := t.TempDir()
	d := startDev(t, data)
	auth := sasl.NewLoginClient(config.DevAccount, devPassword)
	var ids []string
	for i := range 20 {
		rcpt := devRcpt
		if i%3 == 0 {
			rcpt = "anna.svensson=example.com&login=199908072391&@secure.test"
		}
		id, err := sendDev(d.addr(config.DevSubmissionPort), auth, config.DevAccount, rcpt, devMessage(fmt.Sprintf("Provsvar-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	var tokens []string
	for _, id := range ids {
		note := waitForNotification(t, data, id)
		tokens = append(tokens, note.Link[strings.LastIndex(note.Link, "/")+1:])
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if _, stderr, code := run(t, "", "vault", "-data", data, "backup", backup); code != 0 {
		t.Fatalf("vault backup while running: exit %d, %s", code, stderr)
	}

	openable := func(r vaulttest.Report) []vaulttest.Finding {
		var out []vaulttest.Finding
		for _, id := range ids {
			out = append(out, r.Of(id)...)
		}
		return out
	}
	var r vaulttest.Report
	for deadline := time.Now().Add(30 * time.Second); ; {
		r = vaulttest.Scan(stolenDataFolder(t, data, []string{backup}, nil))
		if len(openable(r)) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s after the notifications a copy of the data folder still opens: %v", openable(r))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("scan: %d sealed tokens, %d wrapped keys, %d packets; %d outbox and %d expiry keys", r.SealedTokens, r.WrappedKeys, r.Packets, r.OutboxKeys, r.ExpiryKeys)
	if r.SealedTokens == 0 {
		t.Error("control: no sealed token of a notified job in the copies; the scan should find them in the free pages")
	}
	// Control: the scan reads this binary's files. With the tokens the
	// recipients hold (their SMS), every message opens: they have not
	// expired.
	held := vaulttest.Scan(stolenDataFolder(t, data, []string{backup}, tokens))
	for _, id := range ids {
		if !held.Has(id, "content") {
			t.Errorf("control: message %s does not open with its recipient's token", id)
		}
	}

	// After a SIGTERM too.
	d.stop(t)
	if bad := openable(vaulttest.Scan(stolenDataFolder(t, data, []string{backup}, nil))); len(bad) > 0 {
		t.Errorf("after SIGTERM the data folder opens: %v", bad)
	}
}
