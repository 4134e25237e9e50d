package intake

import (
	"errors"
	"testing"

	"sigill/addressing"
)

func TestIncomingRefusals(t *testing.T) {
	rules := Rules{MaxBytes: 200, RefuseOtherFrom: true, DefaultErrand: map[string]string{"sv": "Säkert meddelande", "en": "Secure message"}}
	var (
		pnr    *PersonalNumberError
		other  *OtherFromError
		header *UnreadableHeaderError
		large  *TooLargeError
	)
	for _, c := range []struct {
		raw  string
		want func(error) bool
	}{
		{" \r\n", func(err error) bool { return errors.Is(err, ErrEmpty) }},
		{"Subject: x\r\n\r\n" + string(make([]byte, 200)), func(err error) bool { return errors.As(err, &large) && large.Max == 200 }},
		{"Subject no colon\r\n\r\nx", func(err error) bool { return errors.As(err, &header) }},
		{"Subject: Provsvar 199908072391\r\n\r\nx", func(err error) bool { return errors.As(err, &pnr) && pnr.Masked == "19990807-****" }},
		{"From: boss@staff.test\r\nSubject: x\r\n\r\nx", func(err error) bool { return errors.As(err, &other) && other.Vouched == "anna@staff.test" }},
	} {
		_, err := rules.Incoming(Message{Sender: "anna@staff.test", Account: "anna@staff.test", Raw: []byte(c.raw)})
		if !c.want(err) {
			t.Errorf("%.40q: %v", c.raw, err)
		}
	}
}

func TestIncomingErrandAndRecipients(t *testing.T) {
	policy := addressing.Policy{Domains: []string{"secure.test"}, Region: "SE"}
	var rs Recipients
	for _, a := range []string{"0701234567&login=199908072391&lang=en@secure.test", "+46701234567&login=199908072391&lang=en@secure.test", "anna@example.com&login=*@secure.test"} {
		r, err := policy.Parse(a)
		if err != nil {
			t.Fatal(err)
		}
		rs.Add(a, r)
	}
	if n := len(rs.List()); n != 2 {
		t.Errorf("the same person written twice: %d recipients, want 2", n)
	}
	rules := Rules{DefaultErrand: map[string]string{"sv": "Säkert meddelande", "en": "Secure message"}}
	in, err := rules.Incoming(Message{Sender: "a@staff.test", Raw: []byte("Message-ID: <x@y>\r\n\r\nHej"), Recipients: rs.List()})
	if err != nil {
		t.Fatal(err)
	}
	if in.Errand != "Secure message" || in.MessageID != "x@y" {
		t.Errorf("errand %q (want the first recipient's language), Message-ID %q", in.Errand, in.MessageID)
	}
}

// Every door that stores a message checks its sender as SMTP's MAIL FROM
// does: the API and the staff web send as the account, whose address may
// hold a personal number that every SMS would carry whole (red team,
// wave 2).
func TestIncomingRefusesAnUnshowableSender(t *testing.T) {
	rules := Rules{MaxBytes: 1000}
	const numbered = "198611239883@staff.test"
	_, err := rules.Incoming(Message{Sender: numbered, Account: numbered, Raw: []byte("Subject: Provsvar\r\n\r\nx")})
	var sender *SenderError
	if !errors.As(err, &sender) || sender.Why != SenderPersonalNumber || sender.Masked != "19861123-****" {
		t.Errorf("Incoming from %s: %v", numbered, err)
	}
	if _, err := rules.Incoming(Message{Sender: "anna@staff.test", Account: "anna@staff.test", Raw: []byte("Subject: Provsvar\r\n\r\nx")}); err != nil {
		t.Errorf("a plain sender: %v", err)
	}
}
