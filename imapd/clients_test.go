package imapd

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sigill/internal/testenv"
	receiptbox "sigill/receipts/mailbox"
	"sigill/vault"
)

// imaplibScript is what a staff member's script would do with Python's
// imaplib: LOGIN, SELECT, SEARCH, FETCH BODY[], and IDLE (sent by hand:
// imaplib has no idle() before 3.14) until the server announces a new
// receipt. It prints READY when it idles; the test then records an event.
const imaplibScript = `
import imaplib, os, sys
host, port = os.environ["IMAP_HOST"], int(os.environ["IMAP_PORT"])
want = open(os.environ["WANT_FILE"], "rb").read()
M = imaplib.IMAP4(host, port)
typ, _ = M.login(os.environ["IMAP_USER"], os.environ["IMAP_PASS"])
assert typ == "OK", typ
typ, data = M.select("INBOX")
assert typ == "OK" and data == [b"1"], (typ, data)
typ, data = M.search(None, "UNSEEN")
assert typ == "OK" and data == [b"1"], (typ, data)
typ, data = M.search(None, "BODY", "Anna")
assert typ == "OK" and data == [b"1"], (typ, data)
typ, data = M.fetch("1", "(BODY[])")
assert typ == "OK", typ
body = data[0][1]
assert body == want, "BODY[] differs: %d bytes, want %d" % (len(body), len(want))
typ, data = M.search(None, "UNSEEN")
assert typ == "OK" and data == [b""], ("BODY[] did not set \\Seen", data)

tag = M._new_tag().decode()
M.send(("%s IDLE\r\n" % tag).encode())
line = M.readline()
assert line.startswith(b"+"), line
print("READY", flush=True)
M.sock.settimeout(30.0)  # a bound for a missing EXISTS, not a speed test: CI runs loaded
line = M.readline()
assert line.strip() == b"* 2 EXISTS", line
M.sock.settimeout(30.0)
M.send(b"DONE\r\n")
while True:
    line = M.readline()
    if line.startswith(tag.encode()):
        assert b" OK" in line, line
        break
M.logout()
print("DONE", flush=True)
`

func TestPythonImaplib(t *testing.T) {
	t.Parallel()
	python := testenv.Tool(t, "python3", "python3")
	e := newEnv(t, nil)
	id := e.send(anna, anna, "Provsvar")
	e.record(id, vault.EventOpened, pn1, "Anna Andersson")
	want := filepath.Join(t.TempDir(), "want.eml")
	if err := os.WriteFile(want, e.want(anna, 1), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(e.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-c", imaplibScript)
	cmd.Env = append(os.Environ(), "IMAP_HOST="+host, "IMAP_PORT="+port, "IMAP_USER="+anna, "IMAP_PASS="+annaPass, "WANT_FILE="+want)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	var got []string
	for lines.Scan() {
		got = append(got, lines.Text())
		if lines.Text() == "READY" {
			e.record(id, vault.EventDelivered, "", "")
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	if strings.Join(got, ",") != "READY,DONE" {
		t.Fatalf("python printed %q\n%s", got, stderr.String())
	}
}

// TestCurl fetches a receipt by UID with curl's IMAP client, which logs in
// with AUTHENTICATE PLAIN.
func TestCurl(t *testing.T) {
	t.Parallel()
	curl := testenv.Tool(t, "curl", "curl")
	e := newEnv(t, nil)
	id := e.send(anna, anna, "Provsvar")
	e.record(id, vault.EventDelivered, "", "")
	e.record(id, vault.EventDenied, pn3, "Per Persson")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := filepath.Join(t.TempDir(), "curlrc")
	// The password goes through a config file, not the command line.
	if err := os.WriteFile(cfg, []byte(`user = "`+anna+`:`+annaPass+`"`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, curl, "-sS", "--config", cfg, "imap://"+e.addr+"/INBOX;UID=2")
	cmd.Stderr = &stderr
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, stderr.String())
	}
	if want := e.want(anna, 2); !bytes.Equal(got, want) {
		t.Fatalf("curl got %d bytes, want %d:\n%s", len(got), len(want), got)
	}
	if !bytes.Contains(got, []byte("Per Persson (20021124-2383)")) {
		t.Errorf("not the denied notice:\n%s", got)
	}
	box, err := e.mbs.Mailbox(anna)
	if err != nil {
		t.Fatal(err)
	}
	if box.Entries[1].Flags&receiptbox.FlagSeen == 0 || box.Entries[0].Flags&receiptbox.FlagSeen != 0 {
		t.Errorf("flags after curl's FETCH BODY[]: %+v", box.Entries)
	}
}

var tuidHeader = regexp.MustCompile(`(?m)^X-TUID: \S+\n`)

// TestMbsync mirrors the receipts mailbox into a Maildir with isync's
// mbsync, as a staff member keeping receipts in a local archive would, and
// syncs again after a new receipt: each receipt arrives once, whole (line
// endings and mbsync's X-TUID header aside), so the persistent UIDVALIDITY and UIDs hold up against a client that keeps
// sync state between runs.
func TestMbsync(t *testing.T) {
	t.Parallel()
	mbsync := testenv.Tool(t, "mbsync", "isync")
	e := newEnv(t, nil)
	id := e.send(anna, anna, "Provsvar")
	e.record(id, vault.EventDelivered, "", "")
	e.record(id, vault.EventOpened, pn1, "Anna Andersson")

	dir := t.TempDir()
	host, port, _ := net.SplitHostPort(e.addr)
	passFile := filepath.Join(dir, "password")
	rc := filepath.Join(dir, "mbsyncrc")
	maildir := filepath.Join(dir, "mail")
	// The test listener is plain text on loopback; a staff member's would
	// be TLSType IMAPS against the gateway's port 993.
	conf := `IMAPAccount sigill
Host ` + host + `
Port ` + port + `
User ` + anna + `
PassCmd "cat ` + passFile + `"
SSLType None
AuthMechs LOGIN

IMAPStore sigill-remote
Account sigill

MaildirStore archive
Path ` + maildir + `/
Inbox ` + maildir + `/INBOX

Channel receipts
Far :sigill-remote:
Near :archive:
Patterns INBOX
Create Near
Sync Pull
SyncState *
`
	if err := os.Mkdir(maildir, 0o700); err != nil { // mbsync makes folders, not the store's root
		t.Fatal(err)
	}
	for name, text := range map[string]string{passFile: annaPass, rc: conf} {
		if err := os.WriteFile(name, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sync := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, mbsync, "-c", rc, "-a").CombinedOutput()
		if err != nil {
			t.Fatalf("mbsync: %v\n%s", err, out)
		}
	}
	archived := func() [][]byte {
		t.Helper()
		var got [][]byte
		for _, sub := range []string{"new", "cur"} {
			files, _ := filepath.Glob(filepath.Join(maildir, "INBOX", sub, "*"))
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				// mbsync adds its own tracking header to what it stores.
				got = append(got, tuidHeader.ReplaceAll(b, nil))
			}
		}
		return got
	}
	check := func(n int) {
		t.Helper()
		got := archived()
		if len(got) != n {
			t.Fatalf("the archive holds %d receipts, want %d", len(got), n)
		}
		for uid := uint32(1); uid <= uint32(n); uid++ {
			// mbsync stores Maildir files with the local line ending.
			want := bytes.ReplaceAll(e.want(anna, uid), []byte("\r\n"), []byte("\n"))
			found := 0
			for _, b := range got {
				if bytes.Equal(b, want) {
					found++
				}
			}
			if found != 1 {
				t.Errorf("receipt UID %d is in the archive %d times", uid, found)
			}
		}
	}
	sync()
	check(2)
	e.record(id, vault.EventDenied, pn3, "Per Persson")
	sync()
	check(3)
	sync() // nothing new: nothing fetched again
	check(3)
}
