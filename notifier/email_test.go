package notifier

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-message/mail"

	"sigill/vault"
)

// TestEmailThroughSmarthost: an e-mail notification leaves through a real
// go-smtp server with STARTTLS and AUTH: multipart/alternative, From the
// organisation, Subject the errand, a Message-ID of job and message,
// Auto-Submitted; the link in both parts, nothing of the body.
func TestEmailThroughSmarthost(t *testing.T) {
	h := newSmarthost(t, true)
	e := newEnv(t)
	e.start(newFakeElks(t).provider(t), func(o *Options) { o.Email = mustSMTPSender(t, h.options()) })
	errand := "Beslut om bistånd <viktigt> & brådskande"
	a := acceptOne(t, e.v, errand, emailTo("anna@example.org", pn2, "en"))
	b := acceptOne(t, e.v, "Kallelse", emailTo("bo@example.org", pn3, "sv"))
	e.n.Kick()
	waitFor(t, "both notified", func() bool {
		return countKind(t, e.v, a.ID, vault.EventNotified) == 1 && countKind(t, e.v, b.ID, vault.EventNotified) == 1
	})
	msgs := h.received()
	if len(msgs) != 2 {
		t.Fatalf("%d messages at the smarthost, want 2", len(msgs))
	}
	var m smtpMsg
	for _, x := range msgs {
		if x.To[0] == "anna@example.org" {
			m = x
		}
	}
	if !m.TLS || m.User != h.user || m.From != "noreply@secure.example.se" || len(m.To) != 1 {
		t.Fatalf("envelope %+v: want TLS, AUTH, from noreply@, one recipient", m)
	}
	if bytes.Contains(m.Data, []byte(bodyCanary)) {
		t.Fatal("the body is in the notification")
	}
	r, err := mail.CreateReader(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	from, _ := r.Header.AddressList("From")
	to, _ := r.Header.AddressList("To")
	subject, _ := r.Header.Subject()
	msgID, _ := r.Header.MessageID()
	date, _ := r.Header.Date()
	ctype, _, _ := r.Header.ContentType()
	if len(from) != 1 || from[0].Name != orgName || from[0].Address != "noreply@secure.example.se" {
		t.Errorf("From %v", from)
	}
	if len(to) != 1 || to[0].Address != "anna@example.org" {
		t.Errorf("To %v", to)
	}
	if subject != errand {
		t.Errorf("Subject %q, want the errand", subject)
	}
	if !regexp.MustCompile(`^\d+\.` + a.ID + `@secure\.example\.se$`).MatchString(msgID) {
		t.Errorf("Message-ID %q, want <job.message@secure.example.se>", msgID)
	}
	if !date.Equal(e.clock.Now()) {
		t.Errorf("Date %v, want %v", date, e.clock.Now())
	}
	if got := r.Header.Get("Auto-Submitted"); got != "auto-generated" {
		t.Errorf("Auto-Submitted %q", got)
	}
	if ctype != "multipart/alternative" {
		t.Errorf("Content-Type %q", ctype)
	}
	link := linkBase + "/m/" + a.Tokens[0]
	var types []string
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ih, ok := p.Header.(*mail.InlineHeader)
		if !ok {
			t.Fatalf("part %T, want inline", p.Header)
		}
		ct, params, _ := ih.ContentType()
		types = append(types, ct)
		body, _ := io.ReadAll(p.Body)
		if params["charset"] != "utf-8" || !bytes.Contains(body, []byte(link)) {
			t.Errorf("%s part: charset %q, link missing: %s", ct, params["charset"], body)
		}
		switch ct {
		case "text/plain":
			if !bytes.Contains(body, []byte(`about "`+errand+`"`)) || !bytes.Contains(body, []byte(orgName)) {
				t.Errorf("text part: %s", body)
			}
		case "text/html":
			if bytes.Contains(body, []byte("<viktigt>")) || !bytes.Contains(body, []byte("&lt;viktigt&gt;")) {
				t.Errorf("html part does not escape the errand: %s", body)
			}
		}
	}
	if strings.Join(types, ",") != "text/plain,text/html" {
		t.Errorf("parts %v", types)
	}
	evs, _ := e.v.Events(a.ID)
	if ev := evs[len(evs)-1]; ev.ProviderID != msgID || ev.Detail != "smtp" {
		t.Errorf("notified event %+v, want the Message-ID as provider id", ev)
	}
	e.checkLogs(a.Tokens[0], b.Tokens[0])
}

// TestEmailFailures: a 550 to RCPT fails the job at once; a 4xx, a wrong
// password and a smarthost without STARTTLS are retried.
func TestEmailFailures(t *testing.T) {
	t.Run("550", func(t *testing.T) {
		h := newSmarthost(t, true)
		h.rcptCode.Store(550)
		e := newEnv(t)
		e.start(newFakeElks(t).provider(t), func(o *Options) { o.Email = mustSMTPSender(t, h.options()) })
		a := acceptOne(t, e.v, "Provsvar", emailTo("nobody@example.org", pn1, "sv"))
		e.n.Kick()
		waitFor(t, "failed", func() bool { return countKind(t, e.v, a.ID, vault.EventFailed) == 1 })
		evs, _ := e.v.Events(a.ID)
		if d := evs[len(evs)-1].Detail; !strings.Contains(d, "550") {
			t.Errorf("failed detail %q", d)
		}
	})
	for name, c := range map[string]struct {
		tls  bool
		mod  func(*smarthost, *SMTPOptions)
		want string
	}{
		"451":                   {true, func(h *smarthost, _ *SMTPOptions) { h.rcptCode.Store(451) }, "451"},
		"wrong password":        {true, func(_ *smarthost, o *SMTPOptions) { o.Password = "wrong" }, "AUTH"},
		"no STARTTLS":           {false, nil, "STARTTLS"},
		"untrusted certificate": {true, func(_ *smarthost, o *SMTPOptions) { o.TLS = nil }, "certificate"},
	} {
		t.Run(name, func(t *testing.T) {
			h := newSmarthost(t, c.tls)
			o := h.options()
			if c.mod != nil {
				c.mod(h, &o)
			}
			e := newEnv(t)
			e.start(newFakeElks(t).provider(t), func(no *Options) { no.Email = mustSMTPSender(t, o) })
			acceptOne(t, e.v, "Provsvar", emailTo("anna@example.org", pn1, "sv"))
			e.n.Kick()
			var j vault.Job
			waitFor(t, "the retry", func() bool {
				jobs := pending(t, e.v)
				if len(jobs) == 1 && !jobs[0].Leased && jobs[0].LastError != "" {
					j = jobs[0]
					return true
				}
				return false
			})
			if !strings.Contains(j.LastError, c.want) {
				t.Errorf("last error %q, want it to name %s", j.LastError, c.want)
			}
			if len(h.received()) != 0 {
				t.Error("a message was delivered")
			}
			if strings.Contains(e.logs.String(), h.pass) {
				t.Error("the smarthost password is in the logs")
			}
		})
	}
}

// sentThenLate is a context whose time runs out the moment the smarthost
// has the message: after its 250, before SendMail has looked.
type sentThenLate struct {
	context.Context
	h *smarthost
}

func (c sentThenLate) Err() error {
	if len(c.h.received()) > 0 {
		return context.DeadlineExceeded
	}
	return nil
}

// TestEmailAcceptedAtTheDeadlineIsSent: a message the smarthost accepted is
// sent, even when the attempt's time runs out just after the 250; an error
// would send it a second time on the retry.
func TestEmailAcceptedAtTheDeadlineIsSent(t *testing.T) {
	h := newSmarthost(t, true)
	s := mustSMTPSender(t, h.options())
	m := &Mail{To: "anna@example.org", From: "noreply@secure.example.se", HeaderID: "j1.m1@secure.example.se",
		MIME: []byte("From: <noreply@secure.example.se>\r\nSubject: Provsvar\r\n\r\nA link.\r\n")}
	id, err := s.SendMail(sentThenLate{context.Background(), h}, m)
	if err != nil || id != m.HeaderID {
		t.Fatalf("SendMail = %q, %v; want %q, nil (the smarthost has %d messages)", id, err, m.HeaderID, len(h.received()))
	}
}

// A kept connection that breaks after the message went out must not send it
// again at once on a fresh one: the smarthost has it already.
func TestEmailNotResentAfterDataOnAKeptConnection(t *testing.T) {
	h := newSmarthost(t, true)
	s := mustSMTPSender(t, h.options())
	mail := func(id string) *Mail {
		return &Mail{To: "anna@example.org", From: "noreply@secure.example.se", HeaderID: id,
			MIME: []byte("From: <noreply@secure.example.se>\r\nSubject: Provsvar\r\n\r\nA link.\r\n")}
	}
	if _, err := s.SendMail(context.Background(), mail("j1.m1@secure.example.se")); err != nil {
		t.Fatal(err)
	}
	h.dropData.Store(1) // the next message is kept, then the connection drops
	if _, err := s.SendMail(context.Background(), mail("j2.m1@secure.example.se")); err == nil {
		t.Error("a send whose answer was lost reports success")
	}
	if got := len(h.received()); got != 2 {
		t.Errorf("the smarthost received %d messages; want 2 (the second once, not resent at once)", got)
	}
}
