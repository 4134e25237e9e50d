package smtpd

import (
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// The envelope sender is shown to recipients as the gateway's word (SMS
// text, reader page), so the relay refuses at MAIL FROM one that is not a
// plain address, or that holds a personal number. No sender_domains here:
// the domain check must not be what refuses them.
func TestRelayRefusesSendersItCannotVouchFor(t *testing.T) {
	g := startGateway(t)
	for _, tc := range []struct {
		name, from string
		utf8       bool
		want       string
	}{
		{"quoted text", `"Skatteverket: ring 0771-567 567 <noreply@skatteverket.se>"@region.se`, false, "not a plain address"},
		{"bidi override", "anna\u202Egro.ecnavksttaks@region.se", true, "not a plain address"},
		{"zero-width space", "skatte\u200Bverket@region.se", true, "not a plain address"},
		{"dots out of place", "anna..berg@region.se", false, "not a plain address"},
		{"personal number", "19861123-9883@example.org", false, "personal identity number (19861123-****)"},
		{"personal number without dash", "198611239883@example.org", false, "personal identity number"},
		{"null sender", "", false, "null sender"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := smtp.Dial(g.relay)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = c.Mail(tc.from, &smtp.MailOptions{UTF8: tc.utf8})
			wantCode(t, err, 553, smtp.EnhancedCode{5, 1, 7}, tc.want)
			if msg := err.Error(); strings.Contains(msg, "9883") || strings.ContainsRune(msg, '\u202E') {
				t.Errorf("the reply repeats the sender: %q", msg)
			}
			// The session goes on: a plain sender is taken next.
			if _, err := send(c, "anna.berg@region.se", []string{goodRcpt}, plainMessage(testSubject, testBodyLine)); err != nil {
				t.Errorf("a plain sender after the refusal: %v", err)
			}
		})
	}
	for _, from := range []string{"anna.berg@region.se", "o'brien+lab@region.se", "åsa.öberg@region.se"} {
		c, err := smtp.Dial(g.relay)
		if err != nil {
			t.Fatal(err)
		}
		text, err := send(c, from, []string{goodRcpt}, plainMessage(testSubject, testBodyLine))
		c.Close()
		if err != nil {
			t.Errorf("plain sender %q refused: %v", from, err)
			continue
		}
		queuedID(t, g, text)
	}
}

// Submission takes only the account's own address, and the same rule on
// top: an account named by a personal number sends nothing under it.
func TestSubmissionSenderRule(t *testing.T) {
	g := startGateway(t)
	const pnrAccount = "19861123-9883@staff.test"
	if err := g.vault.AddAccount(pnrAccount, staffPass); err != nil {
		t.Fatal(err)
	}
	_, err := submit(t, g.submission, sasl.NewPlainClient("", pnrAccount, staffPass), pnrAccount, []string{goodRcpt}, plainMessage(testSubject, testBodyLine))
	wantCode(t, err, 553, smtp.EnhancedCode{5, 1, 7}, "personal identity number")
}
