package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"sigill/config"
	"sigill/internal/testenv"
)

// readmeCurl is the curl command of README's "Sending from another
// system", as printed there.
func readmeCurl(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)\n    (curl -sS http://127\.0\.0\.1:8090/api/v1/messages .*?\}'\n)`).FindSubmatch(readme)
	if m == nil {
		t.Fatal("README has no curl example for the REST API")
	}
	return string(m[1])
}

// sendPython sends one message with Python's urllib and prints the
// status, the Idempotent-Replayed header and the body, one per line.
const sendPython = `
import json, sys, urllib.request, urllib.error
url, key, idem, subject = sys.argv[1:5]
body = json.dumps({"subject": subject, "text": "Hej! Ditt provsvar är klart.", "reference": "py-1",
    "recipients": [{"sms": "0701234567", "logins": ["199908072391"]}]}).encode()
req = urllib.request.Request(url + "/api/v1/messages", data=body, method="POST", headers={
    "Authorization": "Bearer " + key, "Idempotency-Key": idem, "Content-Type": "application/json"})
try:
    resp = urllib.request.urlopen(req)
except urllib.error.HTTPError as e:
    resp = e
print(resp.status)
print(resp.headers.get("Idempotent-Replayed", "-"))
print(resp.headers.get("Content-Type"))
print(resp.read().decode())
`

type pyAnswer struct {
	status, replayed, contentType, body string
}

func pySend(t *testing.T, python, base, key, idem, subject string) pyAnswer {
	t.Helper()
	out, err := exec.Command(python, "-c", sendPython, base, key, idem, subject).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	f := strings.SplitN(string(out), "\n", 4)
	return pyAnswer{f[0], f[1], f[2], f[3]}
}

// The REST API of the built binary, with real clients: README's curl
// example as printed, Python's urllib, the key from `sigill apikey
// create`; idempotency across a restart of the daemon.
func TestAPIFromTheBuiltBinary(t *testing.T) {
	curl := testenv.Tool(t, "curl", "curl")
	python := testenv.Tool(t, "python3", "python3")
	data := t.TempDir()
	d := startDev(t, data)
	base := "http://" + d.addr(config.DevStaffPort)
	key := createKey(t, "create", config.DevAccount, "-data", data)

	doc, err := exec.Command(curl, "-sSf", base+"/api/v1/openapi.json").Output()
	if err != nil || !strings.Contains(string(doc), `"openapi": "3.1.0"`) {
		t.Fatalf("curl openapi.json: %v\n%.200s", err, doc)
	}

	example := strings.ReplaceAll(readmeCurl(t), "127.0.0.1:8090", d.addr(config.DevStaffPort))
	cmd := exec.Command("sh", "-c", example)
	cmd.Env = append(os.Environ(), "KEY="+key)
	out, err := cmd.CombinedOutput()
	var sent struct {
		ID         string
		Reference  string
		Recipients []struct{ Status, Channel string }
	}
	if err != nil || json.Unmarshal(out, &sent) != nil || sent.ID == "" || sent.Reference != "journal-4711" || len(sent.Recipients) != 2 || sent.Recipients[1].Channel != "email" {
		t.Fatalf("README's curl example: %v\n%s", err, out)
	}
	note := waitForNotification(t, data, sent.ID)
	if !strings.Contains(note.Text, "Provsvar") || strings.Contains(note.Text, "provsvar är klart") {
		t.Errorf("the API's message notified as %+v", note)
	}

	// Reading it back with curl: the message, the list by reference, the feed.
	get := func(path string) string {
		t.Helper()
		out, err := exec.Command(curl, "-sSf", "-H", "Authorization: Bearer "+key, base+path).Output()
		if err != nil {
			t.Fatalf("curl %s: %v", path, err)
		}
		return string(out)
	}
	if got := get("/api/v1/messages/" + sent.ID); !strings.Contains(got, `"reference":"journal-4711"`) || !strings.Contains(got, `"logins":["19990807-****"]`) {
		t.Errorf("curl GET the message: %s", got)
	}
	if got := get("/api/v1/messages?reference=journal-4711"); !strings.Contains(got, sent.ID) {
		t.Errorf("curl the list by reference: %s", got)
	}
	if got := get("/api/v1/events"); !strings.Contains(got, `"message":"`+sent.ID+`"`) || !strings.Contains(got, `"type":"accepted"`) {
		t.Errorf("curl the event feed: %s", got)
	}

	first := pySend(t, python, base, key, "py-key-1", "Provsvar")
	if first.status != "201" || first.replayed != "-" || !strings.Contains(first.body, `"reference":"py-1"`) {
		t.Fatalf("urllib send: %+v", first)
	}
	if again := pySend(t, python, base, key, "py-key-1", "Provsvar"); again.status != "201" || again.replayed != "true" || again.body != first.body {
		t.Errorf("urllib replay: %+v", again)
	}
	if other := pySend(t, python, base, key, "py-key-1", "Remiss"); other.status != "422" || other.contentType != "application/problem+json" {
		t.Errorf("urllib, the same key with another body: %+v", other)
	}
	if bad := pySend(t, python, base, key, "py-key-2", "Provsvar 199908072391"); bad.status != "422" || !strings.Contains(bad.body, `"field":"subject"`) || strings.Contains(bad.body, "199908072391") {
		t.Errorf("urllib, a personal number in the subject: %+v", bad)
	}
	if unauth := pySend(t, python, base, "sgl_wrong", "py-key-3", "Provsvar"); unauth.status != "401" {
		t.Errorf("urllib with a wrong key: %+v", unauth)
	}

	// The record outlives the daemon: the same request after a restart
	// is answered from it, and nothing is sent twice.
	logs := d.stderr
	d.stop(t)
	d = startDev(t, data)
	base = "http://" + d.addr(config.DevStaffPort)
	if again := pySend(t, python, base, key, "py-key-1", "Provsvar"); again.status != "201" || again.replayed != "true" || again.body != first.body {
		t.Errorf("urllib replay after a restart: %+v", again)
	}
	stdout, _, _ := run(t, "", "vault", "-data", data, "stats")
	var st struct{ Messages int }
	if json.Unmarshal([]byte(stdout), &st); st.Messages != 2 {
		t.Errorf("%d messages in the vault; want 2 (README's and urllib's, each once)", st.Messages)
	}
	for _, secret := range []string{key, "199908072391", "provsvar är klart"} {
		if strings.Contains(logs.String()+d.stderr.String(), secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
}
