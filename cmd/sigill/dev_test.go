package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"sigill/config"
	"sigill/internal/testenv"
	"sigill/notifier"
	"sigill/vault"
)

const devRcpt = "0701234567&login=199908072391&@secure.test"

func devMessage(subject string) string {
	return "From: <" + config.DevAccount + ">\r\nTo: <" + devRcpt + ">\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + subject + "@staff.test>\r\n\r\nHej! Ditt provsvar är klart.\r\n"
}

// sendDev sends one message over a plain connection (dev's loopback) and
// returns the id of its 250 reply.
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
	return transact(c, from, rcpt, msg)
}

// transact runs one mail transaction and returns the id of its 250 reply.
func transact(c *smtp.Client, from, rcpt, msg string) (string, error) {
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
	// The backup opens with the key file and a copy of the key store (the
	// vault rewrites the key store it opens).
	keys, err := os.ReadFile(filepath.Join(data, "sigill.db.keys"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(backup+".keys", keys, 0o600); err != nil {
		t.Fatal(err)
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

// load sends messages over the relay from 8 sessions until stop is closed,
// and keeps the id and time of every 250.
type load struct {
	mu    sync.Mutex
	acked []ack
	stop  chan struct{}
	wg    sync.WaitGroup
}

type ack struct {
	id string
	at time.Time
}

func startLoad(relay string) *load {
	return startLoadOf(relay, "mta@example.se", func(int) string { return devRcpt }, func(int) string { return devMessage("Provsvar") })
}

// startLoadOf is startLoad with the sender, and the recipient and message
// of the n-th message of each session.
func startLoadOf(relay, from string, rcpt, msg func(n int) string) *load {
	l := &load{stop: make(chan struct{})}
	for range 8 {
		l.wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-l.stop:
					return
				default:
				}
				id, err := sendDev(relay, nil, from, rcpt(n), msg(n))
				if err == nil {
					l.mu.Lock()
					l.acked = append(l.acked, ack{id, time.Now()})
					l.mu.Unlock()
				}
			}
		})
	}
	return l
}

func (l *load) count() int { l.mu.Lock(); defer l.mu.Unlock(); return len(l.acked) }

// waitFor lets the load run until n more messages are acknowledged.
func (l *load) waitFor(t *testing.T, n int) {
	t.Helper()
	target, deadline := l.count()+n, time.Now().Add(30*time.Second)
	for l.count() < target {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d messages acknowledged in 30 s", l.count(), target)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (l *load) end() []ack {
	close(l.stop)
	l.wg.Wait()
	return l.acked
}

// checkAcknowledged opens the vault of a stopped instance and checks that
// every acknowledged message is there with its notification queued or sent.
func checkAcknowledged(t *testing.T, data string, acked []ack) {
	t.Helper()
	if _, stderr, code := run(t, "", "vault", "-data", data, "verify"); code != 0 {
		t.Fatalf("the vault is damaged: %s", stderr)
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
	for _, a := range acked {
		events, err := v.Events(a.id)
		if err != nil || len(events) == 0 || events[0].Kind != vault.EventAccepted {
			t.Errorf("acknowledged message %s lost: %v", a.id, err)
			continue
		}
		notified := false
		for _, e := range events {
			notified = notified || e.Kind == vault.EventNotified
		}
		if !hasJob[a.id] && !notified {
			t.Errorf("acknowledged message %s has neither an outbox job nor a notified event", a.id)
		}
	}
}

// A gateway killed under load keeps every message it said 250 for; five
// times over on the same vault. No notification is written twice.
func TestSIGKILLLosesNoAcknowledgedMessage(t *testing.T) {
	data := t.TempDir()
	var all []ack
	found := 0    // jobs in doubt found in outbox.jsonl after a kill
	replayed := 0 // starts that applied commits only the store's log held
	for round := 1; round <= 6; round++ {
		d := startDev(t, data)
		if strings.Contains(d.stderr.String(), "applied the commits its log held") {
			replayed++
		}
		if round == 6 {
			d.stop(t) // a clean restart, then look inside
		} else {
			l := startLoad(d.addr(config.DevRelayPort))
			l.waitFor(t, 100)
			d.cmd.Process.Signal(syscall.SIGKILL) // mid-load: some sessions are inside DATA
			d.cmd.Wait()
			all = append(all, l.end()...)
		}
		found += strings.Count(d.stderr.String(), "the provider had the message in doubt; recorded")
	}
	checkAcknowledged(t, data, all)
	// Control: the kills came while the log held commits the file had not
	// got (the applier waits up to 100 ms for more), so the restarts read
	// acknowledged messages back from the log, not only from the file.
	if replayed == 0 {
		t.Error("no restart applied commits from the store's log: the kills never caught any unapplied")
	}
	// A notification written to outbox.jsonl before a kill, its outcome not
	// yet recorded, is found there after the restart, not written again.
	outbox, err := notifier.NewLogProvider(data)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := outbox.Entries(0)
	if err != nil {
		t.Fatal(err)
	}
	written, twice := map[string]bool{}, 0
	for _, e := range entries {
		if written[e.Link] {
			twice++
		}
		written[e.Link] = true
	}
	if twice != 0 {
		t.Errorf("%d notifications written twice to outbox.jsonl", twice)
	}
	t.Logf("%d acknowledged messages over 5 kills, all present (%d restarts applied commits from the log); %d notifications, none twice, %d of them found written after a kill",
		len(all), replayed, len(entries), found)
}

// SIGTERM under load: transactions open at the signal finish with their
// 250, the process exits 0, and nothing acknowledged is missing.
func TestSIGTERMFinishesOpenTransactions(t *testing.T) {
	data := t.TempDir()
	d := startDev(t, data)
	l := startLoad(d.addr(config.DevRelayPort))
	l.waitFor(t, 100)
	signalled := time.Now()
	d.stop(t) // SIGTERM, and fails the test unless it exits 0 in time
	acked := l.end()
	after := 0
	for _, a := range acked {
		if a.at.After(signalled) {
			after++
		}
	}
	if after == 0 {
		t.Error("no transaction open at SIGTERM got its 250: they were cut off")
	}
	checkAcknowledged(t, data, acked)
	t.Logf("%d acknowledged, %d of them after SIGTERM", len(acked), after)
}

// TestDevKeyFile: -key-file names the key file (made, 32 bytes, 0600, when
// missing) instead of the one in the data folder, and the vault refuses to
// start with another one, naming it.
func TestDevKeyFile(t *testing.T) {
	data := t.TempDir()
	keyFile := filepath.Join(t.TempDir(), "shared.key")
	d := startDev(t, data, "-key-file", keyFile)
	d.stop(t)
	fi, err := os.Stat(keyFile)
	if err != nil || fi.Size() != 32 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v, %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(data, "sigill.db.key")); err == nil {
		t.Fatal("a key file in the data folder although -key-file named another")
	}
	other := filepath.Join(t.TempDir(), "other.key")
	out, err := exec.Command(sigillBin, "dev", "-data", data, "-listen-offset", strconv.Itoa(freeOffset(t)), "-key-file", other).CombinedOutput()
	if err == nil || !strings.Contains(string(out), other) || !strings.Contains(string(out), "key") {
		t.Fatalf("dev with another key file: %v\n%s", err, out)
	}
}
