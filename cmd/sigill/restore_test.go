package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigill/config"
)

// docs/operations.md's backup and restore, as an admin does it: a hot
// backup while sigill runs, then on a new data folder the copy and the key
// file, verify, start, and the recipient's link opens the message.
func TestBackupAndRestore(t *testing.T) {
	data := t.TempDir()
	d := startDev(t, data)
	body := "Ditt provsvar är klart: värdet är 4,2."
	id := submitForE2E(t, d, devRcpt, "Provsvar", body)
	note := waitForNotification(t, data, id)
	backup := filepath.Join(t.TempDir(), "sigill-backup.db")
	if stdout, stderr, code := run(t, "", "vault", "-data", data, "backup", backup); code != 0 || !strings.Contains(stdout, "backup written to") {
		t.Fatalf("vault backup while running: exit %d, %s%s", code, stdout, stderr)
	}
	d.stop(t)

	restored := t.TempDir()
	for from, to := range map[string]string{backup: "sigill.db", filepath.Join(data, "sigill.db.key"): "sigill.db.key"} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(restored, to), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if stdout, stderr, code := run(t, "", "vault", "-data", restored, "verify"); code != 0 || !strings.HasPrefix(stdout, "OK") {
		t.Fatalf("vault verify of the restored copy: exit %d, %s%s", code, stdout, stderr)
	}
	again := startDev(t, restored)
	// The link names the first instance's reader; the token is what counts.
	link := "http://" + again.addr(config.DevReaderPort) + note.Link[strings.Index(note.Link, "/m/"):]
	web, _ := signInByLink(t, again, link, "199908072391")
	var opened struct{ Errand, Text string }
	getJSON(t, web, "GET", link+"/message.json", &opened)
	if opened.Errand != "Provsvar" || !strings.Contains(opened.Text, body) {
		t.Errorf("the restored message: %+v; want the errand and the body", opened)
	}
	again.stop(t)
}
