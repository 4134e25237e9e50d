package imapd

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigill/internal/testenv"
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
M.sock.settimeout(2.0)
line = M.readline()
assert line.strip() == b"* 2 EXISTS", line
M.sock.settimeout(10.0)
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
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
	box, err := e.v.Mailbox(anna)
	if err != nil {
		t.Fatal(err)
	}
	if box.Entries[1].Flags&vault.FlagSeen == 0 || box.Entries[0].Flags&vault.FlagSeen != 0 {
		t.Errorf("flags after curl's FETCH BODY[]: %+v", box.Entries)
	}
}
