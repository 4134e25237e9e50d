package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"sigill/config"
)

// docs/operations.md's backup and restore, as an admin does it: a hot
// backup while sigill runs, then, on a new data folder, the copy with the
// key file and the key store; verify, start, and the recipient's link opens
// the message. Restored without the key store, sigill refuses to start and
// says why, until an empty key store stands in for it: then the staff
// account and the message's record are back, and its content is not.
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
	link := func(in *devInstance) string { // the token is what counts, not the first instance's address
		return "http://" + in.addr(config.DevReaderPort) + note.Link[strings.Index(note.Link, "/m/"):]
	}

	restore := func(files map[string]string) string {
		dir := t.TempDir()
		for from, to := range files {
			b, err := os.ReadFile(from)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, to), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if stdout, stderr, code := run(t, "", "vault", "-data", dir, "verify"); code != 0 || !strings.HasPrefix(stdout, "OK") {
			t.Fatalf("vault verify of the restored copy: exit %d, %s%s", code, stdout, stderr)
		}
		return dir
	}
	keyFile, keyStore := filepath.Join(data, "sigill.db.key"), filepath.Join(data, "sigill.db.keys")

	// With the key file and the key store: everything is back.
	whole := restore(map[string]string{backup: "sigill.db", keyFile: "sigill.db.key", keyStore: "sigill.db.keys"})
	again := startDev(t, whole)
	web, _ := signInByLink(t, again, link(again), "199908072391")
	var opened struct{ Errand, Text string }
	getJSON(t, web, "GET", link(again)+"/message.json", &opened)
	if opened.Errand != "Provsvar" || !strings.Contains(opened.Text, body) {
		t.Errorf("the restored message: %+v; want the errand and the body", opened)
	}
	again.stop(t)

	// Without the key store, sigill will not start on its own accord.
	partial := restore(map[string]string{backup: "sigill.db", keyFile: "sigill.db.key"})
	cmd := exec.Command(sigillBin, "dev", "-data", partial, "-listen-offset", "0")
	cmd.WaitDelay = 30 * time.Second
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "sigill.db.keys") {
		t.Fatalf("dev on a restore without its key store: %v\n%s", err, out)
	}
	// With an empty key store in its place: the staff account and the
	// message's record (its page, a sign-in) are back, and its content reads
	// as expired.
	if err := os.WriteFile(filepath.Join(partial, "sigill.db.keys"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	bare := startDev(t, partial)
	defer bare.stop(t)
	web, _ = signInByLink(t, bare, link(bare), "199908072391")
	resp, err := web.Get(link(bare) + "/message.json")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || strings.Contains(string(got), "4,2") {
		t.Errorf("message.json after a restore without the key store: %s %s", resp.Status, got)
	}
	if _, err := sendDev(bare.addr(config.DevSubmissionPort), sasl.NewLoginClient(config.DevAccount, devPassword),
		config.DevAccount, devRcpt, devMessage("Nytt")); err != nil {
		t.Errorf("the staff account after a restore without the key store: %v", err)
	}
}
