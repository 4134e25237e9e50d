package smtpd

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"sigill/intake"
	"sigill/vault"
)

// FuzzDialog throws command sequences at a live relay session. Properties:
// the server never panics and keeps answering, and a "250 ... queued" is only
// ever given for a message whose every stored recipient is one the policy
// accepts (an invalid RCPT never gets through to a stored message).
func FuzzDialog(f *testing.F) {
	seeds := []string{
		"EHLO x\r\nMAIL FROM:<a@staff.test>\r\nRCPT TO:<" + goodRcpt + ">\r\nDATA\r\nSubject: hej\r\n\r\nbody\r\n.\r\nQUIT\r\n",
		"HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<0701234567&logni=1@secure.test>\r\nDATA\r\n.\r\n",
		"EHLO x\r\nMAIL FROM:<a@staff.test> SIZE=99999999999\r\nRCPT TO:<\"0701234567&login=*&\"@secure.test>\r\nBDAT 10 LAST\r\n0123456789",
		"EHLO x\r\nAUTH PLAIN AGFAYg==\r\nSTARTTLS\r\nRSET\r\nNOOP\r\nVRFY x\r\nQUIT\r\n",
		"EHLO x\r\nMAIL FROM:<a@staff.test>\r\nRCPT TO:<0701234567&login=199908072391&@example.com>\r\nRCPT TO:<&login=*@secure.test>\r\nDATA\r\n.\r\n",
		"\x00\xff\r\n\r\n.\r\nEHLO \xc3\xa5\r\nMAIL FROM:<\xc3\xa5@x>\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	g := startFuzzGateway(f)
	f.Fuzz(func(t *testing.T, dialog []byte) {
		conn, err := net.Dial("tcp", g.relay)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		go func() {
			conn.Write(dialog)
			conn.(*net.TCPConn).CloseWrite()
		}()
		var ids []string
		sc := bufio.NewScanner(conn)
		for sc.Scan() {
			if id, ok := strings.CutSuffix(strings.TrimPrefix(sc.Text(), "250 2.0.0 "), " queued"); ok && id != sc.Text() {
				ids = append(ids, id)
			}
		}
		for _, id := range ids {
			checkStored(t, g, id)
		}
		// The server still answers a new client.
		c, err := smtp.Dial(g.relay)
		if err != nil {
			t.Fatalf("after the dialog the server does not answer: %v", err)
		}
		if err := c.Noop(); err != nil {
			t.Fatalf("after the dialog the server does not answer: %v", err)
		}
		c.Close()
	})
}

// FuzzIntake feeds whole messages to DATA: malformed multiparts, bad
// charsets, huge headers. Each is either stored and given back byte for
// byte, or refused with a proper SMTP code; never a panic, never a plain
// error (which go-smtp would turn into a permanent 554 without a reason).
//
// Every exec commits to a real vault (an fsync), so run it with a bounded
// minimisation, or the fuzzer spends its default 60 s shrinking each new
// input and seems to stall:
//
//	go test -run='^$' -fuzz=FuzzIntake -fuzztime=60s -fuzzminimizetime=50x ./smtpd
func FuzzIntake(f *testing.F) {
	files, _ := filepath.Glob("../testdata/mail/*.eml")
	for _, file := range files {
		raw, _ := os.ReadFile(file)
		f.Add(raw)
	}
	f.Add([]byte("Subject: =?x-unknown?Q?=E5?=\r\nContent-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n"))
	f.Add([]byte("Subject: " + strings.Repeat("a", 5000) + "\r\n\r\n"))
	f.Add([]byte("Message-ID: <<<>>>\r\n\r\nx"))
	f.Add([]byte("no header at all"))
	g := startFuzzGateway(f)
	s := &session{s: g.server, kind: relay, from: "mta@example.se"}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, _ := g.server.opts.Policy.Parse(goodRcpt)
		s.recipients = intake.Recipients{}
		s.recipients.Add(goodRcpt, r)
		err := s.Data(bytes.NewReader(raw))
		var se *smtp.SMTPError
		if !errors.As(err, &se) {
			t.Fatalf("Data returned %T %v; every outcome must be an *smtp.SMTPError", err, err)
		}
		switch {
		case se.Code == 250:
			id := strings.TrimSuffix(se.Message, " queued")
			job := jobFor(t, g, id)
			if _, plain, err := g.vault.Decrypt(job.Token); err != nil || !bytes.Equal(plain, raw) {
				t.Fatalf("stored message %s does not come back as sent: %v", id, err)
			}
		case se.Code < 400 || se.Code > 599 || se.Message == "":
			t.Fatalf("refusal %d %q", se.Code, se.Message)
		}
	})
}

func startFuzzGateway(f *testing.F) *gateway {
	return startGateway(f, func(o *Options) { o.ReadTimeout = 300 * time.Millisecond })
}

// checkStored asserts that every recipient of a stored message is one the
// gateway's policy accepts.
func checkStored(t *testing.T, g *gateway, id string) {
	t.Helper()
	jobs, err := g.vault.PendingJobs()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, j := range jobs {
		if j.MessageID != id {
			continue
		}
		found = true
		st, l, err := g.vault.Lookup(j.Token)
		if err != nil || st != vault.LinkFine {
			t.Fatal(st, err)
		}
		if _, err := g.server.opts.Policy.Parse(l.Rcpt.Address); err != nil {
			t.Fatalf("message %s was queued for a recipient the policy refuses: %v", id, err)
		}
	}
	if !found {
		t.Fatalf("250 for %s, but nothing in the outbox", id)
	}
}
