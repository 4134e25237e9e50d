package main

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigill/config"
	"sigill/internal/pgtest"
)

// TestMigrateThenTwoNodesOnPostgres: a vault that grew on bbolt is copied
// into PostgreSQL by `sigill vault migrate` (once: a second copy into the
// same store is refused), verified and refused a file backup there; then
// two `sigill dev -store URL -key-file F` nodes on it form a pair: the
// migrated message opens through node A, a message sent through node B
// opens through node A, and the receipt node A files reaches IMAP on node
// B.
func TestMigrateThenTwoNodesOnPostgres(t *testing.T) {
	store := pgtest.Shared(t).NewSchema(t)
	data := t.TempDir()
	keyFile := filepath.Join(data, "sigill.db.key")
	single := startDev(t, data)
	first := submitForE2E(t, single, devRcpt, "Provsvar", "Det första svaret.")
	firstNote := waitForNotification(t, data, first)
	single.stop(t)

	stdout, stderr, code := run(t, "", "vault", "-data", data, "migrate", "-to", store)
	if code != 0 {
		t.Fatalf("migrate: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"copied " + filepath.Join(data, "sigill.db"), "messages ", "events ", "records",
		"key store " + filepath.Join(data, "sigill.db.keys"), "verified", `vault.key_file = "` + keyFile + `"`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("migrate's report lacks %q:\n%s", want, stdout)
		}
	}
	if _, stderr, code := run(t, "", "vault", "-data", data, "migrate", "-to", store); code != 1 || !strings.Contains(stderr, "is not empty") {
		t.Errorf("a second migrate into the same store: exit %d, %s; want a refusal", code, stderr)
	}
	if stdout, stderr, code := run(t, "", "vault", "-store", store, "verify"); code != 0 || !strings.HasPrefix(stdout, "OK postgres://") {
		t.Errorf("verify on PostgreSQL: exit %d, %s%s", code, stdout, stderr)
	}
	backup := filepath.Join(t.TempDir(), "backup")
	if _, stderr, code := run(t, "", "vault", "-store", store, "backup", backup); code != 1 || !strings.Contains(stderr, "pg_dump --format=custom") {
		t.Errorf("backup of a PostgreSQL store: exit %d, %s; want the advice to use pg_dump", code, stderr)
	}
	if _, err := os.Stat(backup); err == nil {
		t.Errorf("backup of a PostgreSQL store wrote a file")
	}

	a := startDev(t, t.TempDir(), "-store", store, "-key-file", keyFile)
	b := startDev(t, t.TempDir(), "-store", store, "-key-file", keyFile)
	if !strings.Contains(a.banner, "vault in postgres://") {
		t.Errorf("the banner does not name the store:\n%s", a.banner)
	}

	// The migrated message, its key store and the key file came over.
	web, _ := signInByLink(t, a, through(t, a, firstNote.Link), "199908072391")
	var opened struct{ Errand, Text string }
	getJSON(t, web, "GET", through(t, a, firstNote.Link)+"/message.json", &opened)
	if !strings.Contains(opened.Text, "Det första svaret.") {
		t.Errorf("the migrated message through node A: %+v", opened)
	}

	// A message sent through B (notified by whichever node claims it)
	// opens through A, and A's receipt is in INBOX through B's IMAP.
	second := submitForE2E(t, b, devRcpt, "Remiss", "Det andra svaret.")
	note := waitForNotificationIn(t, second, a.data, b.data)
	web, _ = signInByLink(t, a, through(t, a, note.Link), "199908072391")
	getJSON(t, web, "GET", through(t, a, note.Link)+"/message.json", &opened)
	if !strings.Contains(opened.Text, "Det andra svaret.") {
		t.Errorf("a message sent through node B, opened through node A: %+v", opened)
	}
	if mdn := waitForReceipt(t, b.addr(config.DevIMAPPort), config.DevAccount, devPassword); len(mdn) == 0 {
		t.Error("no receipt in INBOX through node B")
	}

	stdout, stderr, code = run(t, "", "vault", "-store", store, "-key-file", keyFile, "stats")
	var stats struct{ Messages int }
	if code != 0 || json.Unmarshal([]byte(strings.TrimSpace(stdout)), &stats) != nil || stats.Messages != 2 {
		t.Errorf("stats on PostgreSQL: exit %d, %s%s; want 2 messages", code, stdout, stderr)
	}
	a.stop(t)
	b.stop(t)
}

// through is link with its host moved to node d's reader.
func through(t *testing.T, d *devInstance, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = d.addr(config.DevReaderPort)
	return u.String()
}

// waitForNotificationIn waits for the message's line in the outbox.jsonl
// of any of several nodes' data folders: any node's notifier may send it.
func waitForNotificationIn(t *testing.T, id string, dirs ...string) outboxLine {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, dir := range dirs {
			if lines := notificationsIn(dir, id); len(lines) > 0 {
				return lines[0]
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no notification for %s in %v", id, dirs)
	return outboxLine{}
}
