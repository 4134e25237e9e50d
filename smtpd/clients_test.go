package smtpd

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"

	"sigill/internal/testenv"
	"sigill/vault"
)

// Mail as Outlook and Thunderbird send it: the errand is the decoded
// Subject, and the vault gives back the very bytes that were sent.
func TestRealClientMessages(t *testing.T) {
	g := startGateway(t, func(o *Options) { o.MaxMessageBytes = 1 << 20 })
	list, err := os.ReadFile("../testdata/mail/errands.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(list)), "\n") {
		file, errand, _ := strings.Cut(line, "\t")
		t.Run(file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("../testdata/mail", file))
			if err != nil {
				t.Fatal(err)
			}
			text, err := submit(t, g.submission, sasl.NewLoginClient(staff, staffPass), staff, []string{goodRcpt}, string(raw))
			if err != nil {
				t.Fatal(err)
			}
			id := queuedID(t, g, text)
			job := jobFor(t, g, id)
			if job.Errand != errand {
				t.Errorf("errand %q; want %q", job.Errand, errand)
			}
			_, plain, err := g.vault.Decrypt(job.Token)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(plain, raw) {
				t.Errorf("the vault gave back %d bytes that differ from the %d sent", len(plain), len(raw))
			}
		})
	}
}

func jobFor(t *testing.T, g *gateway, id string) jobView {
	t.Helper()
	jobs, err := g.vault.PendingJobs()
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if j.MessageID == id {
			return jobView{Errand: j.Errand, Token: j.Token}
		}
	}
	t.Fatalf("no outbox job for %s", id)
	return jobView{}
}

type jobView struct{ Errand, Token string }

func TestSwaks(t *testing.T) {
	swaks := testenv.Tool(t, "swaks", "swaks")
	if out, _ := exec.Command(swaks, "--support").CombinedOutput(); !strings.Contains(string(out), "=== TLS supported") {
		testenv.Missing(t, "swaks's TLS support (Net::SSLeay)", "libnet-ssleay-perl")
	}
	g := startGateway(t)
	for _, auth := range []string{"PLAIN", "LOGIN"} {
		out, err := exec.Command(swaks, "--server", g.submission, "--tls",
			"--auth", auth, "--auth-user", staff, "--auth-password", staffPass,
			"--from", staff, "--to", goodRcpt, "--header", "Subject: "+testSubject, "--body", testBodyLine).CombinedOutput()
		if err != nil {
			t.Fatalf("swaks --auth %s: %v\n%s", auth, err, out)
		}
		if !strings.Contains(string(out), "<~  250 2.0.0 ") || !strings.Contains(string(out), " queued") {
			t.Errorf("swaks --auth %s saw no \"250 2.0.0 <id> queued\":\n%s", auth, out)
		}
	}
	// A bad recipient is refused at RCPT, and swaks shows the reason.
	out, _ := exec.Command(swaks, "--server", g.submission, "--tls",
		"--auth", "LOGIN", "--auth-user", staff, "--auth-password", staffPass,
		"--from", staff, "--to", "0701234567&logni=199908072391&@secure.test").CombinedOutput()
	if !strings.Contains(string(out), "550 5.1.3") || !strings.Contains(string(out), "logni") {
		t.Errorf("swaks with a typo'd key did not see the refusal:\n%s", out)
	}
}

func TestPythonSmtplib(t *testing.T) {
	python := testenv.Tool(t, "python3", "python3")
	g := startGateway(t)
	script := `
import smtplib, ssl, sys
host, port = sys.argv[1].rsplit(":", 1)
ctx = ssl._create_unverified_context()
with smtplib.SMTP(host, int(port)) as s:
    s.starttls(context=ctx)
    s.login(sys.argv[2], sys.argv[3])
    msg = "Subject: Provsvar\r\nFrom: " + sys.argv[2] + "\r\n\r\nHej!\r\n"
    try:
        s.sendmail(sys.argv[2], ["0701234567&login=199908072392&@secure.test"], msg)
    except smtplib.SMTPRecipientsRefused as e:
        code, text = list(e.recipients.values())[0]
        print("refused", code, text.decode())
    code, text = s.mail(sys.argv[2])
    print("mail", code, text.decode())
    code, text = s.rcpt(sys.argv[4])
    print("rcpt", code, text.decode())
    code, text = s.data(msg)
    print("data", code, text.decode())
`
	out, err := exec.Command(python, "-c", script, g.submission, staff, staffPass, goodRcpt).CombinedOutput()
	if err != nil {
		t.Fatalf("python smtplib: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "refused 550 5.1.3") || !strings.Contains(string(out), "check digit") {
		t.Errorf("smtplib did not see the check-digit refusal:\n%s", out)
	}
	if !strings.Contains(string(out), "data 250 2.0.0 ") {
		t.Errorf("smtplib did not get 250 2.0.0 <id> queued:\n%s", out)
	}
	// The positive replies are sober and carry RFC 3463's address codes,
	// also after STARTTLS (go-smtp's own texts were "Roger, …" and
	// "I'll make sure … gets this"; see third_party/go-smtp/SIGILL.md).
	for _, want := range []string{"mail 250 2.1.0 Sender <" + staff + "> ok", "rcpt 250 2.1.5 Recipient <" + goodRcpt + "> ok"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("smtplib did not see %q:\n%s", want, out)
		}
	}
}

// A Message-ID that is not in RFC 5322's form costs the sender nothing: the
// message is taken, and receipts refer to what the client wrote.
func TestMalformedMessageIDIsKept(t *testing.T) {
	g := startGateway(t)
	for written, kept := range map[string]string{"abc@def.example": "abc@def.example", "<abc>": "abc", "<<<>>>": ""} {
		msg := "From: <" + staff + ">\r\nSubject: Provsvar\r\nMessage-ID: " + written + "\r\n\r\nHej!\r\n"
		text, err := submit(t, g.submission, sasl.NewPlainClient("", staff, staffPass), staff, []string{goodRcpt}, msg)
		if err != nil {
			t.Fatalf("Message-ID %q: %v", written, err)
		}
		st, letter, err := g.vault.Lookup(jobFor(t, g, queuedID(t, g, text)).Token)
		if err != nil || st != vault.LinkFine {
			t.Fatal(st, err)
		}
		if letter.MessageID != kept {
			t.Errorf("Message-ID %q stored as %q; want %q", written, letter.MessageID, kept)
		}
	}
}
