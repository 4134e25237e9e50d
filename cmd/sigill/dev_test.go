package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"sigill/config"
	"sigill/internal/testenv"
	"sigill/vault"
)

const devRcpt = "0701234567&login=199908072391&@secure.test"

func devMessage(subject string) string {
	return "From: <" + config.DevAccount + ">\r\nTo: <" + devRcpt + ">\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + subject + "@staff.test>\r\n\r\nHej! Ditt provsvar är klart.\r\n"
}

// sendDev sends one message and returns the id of its 250 reply.
func sendDev(addr string, auth sasl.Client, from, rcpt, msg string) (string, error) {
	c, err := smtp.Dial(addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if auth != nil {
		if err := c.Auth(auth); err != nil {
			return "", err
		}
	}
	if err := c.Mail(from, nil); err != nil {
		return "", err
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return "", err
	}
	w, err := c.Data()
	if err != nil {
		return "", err
	}
	w.Write([]byte(msg))
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(strings.TrimPrefix(resp.StatusText, "2.0.0 "), " queued"), nil
}

func TestDevRunsAsTheReadmeSays(t *testing.T) {
	data := t.TempDir()
	d := startDev(t, data)
	for _, want := range []string{devPassword, config.DevAccount, d.addr(config.DevSubmissionPort), d.addr(config.DevRelayPort), "swaks --server"} {
		if !strings.Contains(d.banner, want) {
			t.Errorf("the banner does not show %q:\n%s", want, d.banner)
		}
	}

	id, err := sendDev(d.addr(config.DevSubmissionPort), sasl.NewLoginClient(config.DevAccount, devPassword), config.DevAccount, devRcpt, devMessage("Provsvar"))
	if err != nil || id == "" {
		t.Fatalf("AUTH LOGIN over loopback in dev: id %q, %v", id, err)
	}
	if _, err := sendDev(d.addr(config.DevRelayPort), nil, "anyone@elsewhere.test", devRcpt, devMessage("Provsvar")); err != nil {
		t.Fatalf("dev relay from loopback: %v", err)
	}

	// The banner's own swaks command, run as printed.
	if _, err := exec.LookPath("swaks"); err == nil || testenv.InCI() {
		swaks := d.banner[strings.Index(d.banner, "swaks --server"):]
		out, err := exec.Command("sh", "-c", swaks).CombinedOutput()
		sent := time.Now()
		m := regexp.MustCompile(`250 2\.0\.0 (\S+) queued`).FindStringSubmatch(string(out))
		if err != nil || m == nil {
			t.Fatalf("the banner's swaks command: %v\n%s", err, out)
		}
		// Its notification: errand and link, not a word of the body.
		note := waitForNotification(t, data, m[1])
		t.Logf("swaks's message was in outbox.jsonl %v after its 250", time.Since(sent).Round(time.Millisecond))
		if !strings.Contains(note.Text, "Provsvar") || !strings.HasPrefix(note.Link, "http://"+d.addr(config.DevReaderPort)+"/m/") ||
			strings.Contains(note.Text, "provsvar är klart") {
			t.Errorf("notification %+v: wants the errand and a link to the reader, and no word of the body", note)
		}
	}

	// While dev holds the vault, stats and backup go through its admin listener.
	stdout, stderr, code := run(t, "", "vault", "-data", data, "stats")
	var st vault.Stats
	if code != 0 || json.Unmarshal([]byte(stdout), &st) != nil || st.Messages < 2 || st.Recipients < 2 {
		t.Errorf("vault stats while running: exit %d, %s %s", code, stdout, stderr)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if _, stderr, code := run(t, "", "vault", "-data", data, "backup", backup); code != 0 {
		t.Errorf("vault backup while running: exit %d, %s", code, stderr)
	}
	d.stop(t)
	if _, stderr, code := run(t, "", "vault", "-data", data, "verify"); code != 0 {
		t.Errorf("vault verify after SIGTERM: %s", stderr)
	}
	b, err := vault.Open(vault.Options{Path: backup, KeyFile: filepath.Join(data, "sigill.db.key")})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if events, err := b.Events(id); err != nil || len(events) == 0 {
		t.Errorf("the backup lacks message %s: %v", id, err)
	}
	for _, secret := range []string{devPassword, "199908072391", "Ditt provsvar"} {
		if strings.Contains(d.stderr.String(), secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
}

// A gateway killed under load keeps every message it said 250 for.
func TestSIGKILLLosesNoAcknowledgedMessage(t *testing.T) {
	data := t.TempDir()
	d := startDev(t, data)

	var (
		mu    sync.Mutex
		acked []string
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				id, err := sendDev(d.addr(config.DevRelayPort), nil, "mta@example.se", devRcpt, devMessage("Provsvar"))
				if err == nil {
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				}
			}
		}()
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	d.cmd.Process.Signal(syscall.SIGKILL) // mid-load: some sessions are inside DATA
	d.cmd.Wait()
	close(stop)
	wg.Wait()
	if len(acked) < 50 {
		t.Fatalf("only %d messages acknowledged before the kill; the load did not run", len(acked))
	}

	// Restart on the same data, then stop cleanly and look inside.
	startDev(t, data).stop(t)
	if _, stderr, code := run(t, "", "vault", "-data", data, "verify"); code != 0 {
		t.Fatalf("the vault is damaged after SIGKILL: %s", stderr)
	}
	v, err := vault.Open(vault.Options{Path: filepath.Join(data, "sigill.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	jobs, err := v.PendingJobs()
	if err != nil {
		t.Fatal(err)
	}
	hasJob := map[string]bool{}
	for _, j := range jobs {
		hasJob[j.MessageID] = true
	}
	// Each acknowledged message is in the vault, and its notification is
	// either still queued or was sent (the restarted notifier may have sent it).
	for _, id := range acked {
		events, err := v.Events(id)
		if err != nil || len(events) == 0 || events[0].Kind != vault.EventAccepted {
			t.Errorf("acknowledged message %s lost: %v", id, err)
			continue
		}
		notified := false
		for _, e := range events {
			notified = notified || e.Kind == vault.EventNotified
		}
		if !hasJob[id] && !notified {
			t.Errorf("acknowledged message %s has neither an outbox job nor a notified event", id)
		}
	}
	t.Logf("%d acknowledged messages, all present after SIGKILL and restart", len(acked))
}
