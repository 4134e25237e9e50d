package receipts

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	netmail "net/mail"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"sigill/addressing"
	"sigill/vault"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// The only personal numbers test data may use.
const (
	pn1 = "199908072391"
	pn2 = "198611239883"
	pn3 = "200211242383"
)

var org = Org{Name: "Region Exempel", Hostname: "sigill.example.se", From: "noreply@secure.example.se", Lang: "sv"}

var received = time.Date(2026, 3, 2, 8, 30, 0, 0, time.UTC)

func smsLetter(lang string) vault.Letter {
	return vault.Letter{
		ID: "0123456789abcdefghij", Errand: "Provsvar", Sender: "Staff@Kommun.example.se",
		Account: "staff@kommun.example.se", MessageID: "abc.123@kommun.example.se", Received: received,
		Recipient: 0,
		Rcpt: vault.Recipient{
			Address: "0701234567&login=" + pn1 + "&@secure.example.se",
			Recipient: addressing.Recipient{
				Channel: addressing.SMS, To: "+46701234567", Logins: []string{pn1}, Born: []string{}, Lang: lang,
			},
		},
	}
}

func emailLetter(lang string) vault.Letter {
	return vault.Letter{
		ID: "0123456789abcdefghij", Errand: "Beslut om bistånd", Sender: "handlaggare@kommun.example.se",
		MessageID: "def.456@kommun.example.se", Received: received, Recipient: 1,
		Rcpt: vault.Recipient{
			Address: "anna.s=example.org&login=" + pn2 + "&lang=" + lang + "&@secure.example.se",
			Recipient: addressing.Recipient{
				Channel: addressing.Email, To: "anna.s@example.org", Logins: []string{pn2}, Born: []string{}, Lang: lang,
			},
		},
	}
}

func event(l vault.Letter, kind vault.EventKind, seq uint64) vault.Event {
	ev := vault.Event{
		Seq: seq, MessageID: l.ID, Recipient: l.Recipient, Kind: kind,
		At: received.Add(2*time.Hour + 3*time.Minute),
	}
	switch kind {
	case vault.EventOpened:
		ev.PersonalNumber, ev.Name, ev.IP = l.Rcpt.Logins[0], "Anna Andersson", "192.0.2.7"
	case vault.EventDenied:
		ev.PersonalNumber, ev.Name, ev.IP = pn3, "Per Persson", "192.0.2.8"
	case vault.EventFailed:
		ev.Detail = "mailbox unavailable: 550 5.1.1 user unknown"
	case vault.EventRevoked:
		ev.By, ev.Detail = "staff@kommun.example.se", "fel mottagare"
	}
	return ev
}

// orgIn is the test organisation with its default language set to lang.
func orgIn(lang string) Org {
	o := org
	o.Lang = lang
	return o
}

func build(t *testing.T, l vault.Letter, ev vault.Event) []byte {
	t.Helper()
	return buildFor(t, org, l, ev)
}

func buildFor(t *testing.T, org Org, l vault.Letter, ev vault.Event) []byte {
	t.Helper()
	b, err := Build(org, l, ev)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Build(org, l, ev)
	if err != nil || !bytes.Equal(b, again) {
		t.Fatalf("Build is not deterministic (%v)", err)
	}
	return b
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./receipts -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (go test ./receipts -update rewrites it):\n%s", name, path, got)
	}
}

// parsed is a receipt read back with go-message.
type parsed struct {
	header mail.Header
	parts  []part
	text   string // the decoded text/plain part (or body)
}

type part struct {
	typ    string
	params map[string]string
	body   []byte
}

func parse(t *testing.T, raw []byte) parsed {
	t.Helper()
	if !bytes.HasSuffix(raw, []byte("\r\n")) || bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Fatal("not CRLF throughout")
	}
	for i, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Fatalf("line %d is %d octets long", i+1, len(line))
		}
	}
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	p := parsed{header: mail.Header{Header: e.Header}}
	if mr := e.MultipartReader(); mr != nil {
		for {
			pe, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			typ, params, err := pe.Header.ContentType()
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(pe.Body)
			if err != nil {
				t.Fatal(err)
			}
			p.parts = append(p.parts, part{typ, params, body})
			if typ == "text/plain" {
				p.text = string(body)
			}
		}
	} else {
		body, err := io.ReadAll(e.Body)
		if err != nil {
			t.Fatal(err)
		}
		p.text = string(body)
	}
	return p
}

// fields reads the blocks of header-style fields of a report part.
func fields(t *testing.T, body []byte) []textproto.Header {
	t.Helper()
	var out []textproto.Header
	br := bufio.NewReader(bytes.NewReader(body))
	for {
		h, err := textproto.ReadHeader(br)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h)
		if _, err := br.Peek(1); err != nil {
			return out
		}
		if rest, _ := br.Peek(2); string(rest) == "\r\n" {
			return out
		}
	}
}

func checkCommon(t *testing.T, p parsed, l vault.Letter, ev vault.Event) {
	t.Helper()
	checkCommonFor(t, org, p, l, ev)
}

func checkCommonFor(t *testing.T, org Org, p parsed, l vault.Letter, ev vault.Event) {
	t.Helper()
	h := p.header
	if got, _ := h.MsgIDList("In-Reply-To"); len(got) != 1 || got[0] != l.MessageID {
		t.Errorf("In-Reply-To %v", got)
	}
	if got, _ := h.MsgIDList("References"); len(got) != 1 || got[0] != l.MessageID {
		t.Errorf("References %v", got)
	}
	if got := h.Get("Auto-Submitted"); got != "auto-replied" {
		t.Errorf("Auto-Submitted %q", got)
	}
	if id, _ := h.MessageID(); id != MessageID(org, l, ev) || !strings.HasSuffix(id, "@sigill.example.se") {
		t.Errorf("Message-ID %q", id)
	}
	if d, err := h.Date(); err != nil || !d.Equal(ev.At) {
		t.Errorf("Date %v, %v; want %v", d, err, ev.At)
	}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != org.From || from[0].Name != org.Name {
		t.Errorf("From %v, %v", from, err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Address != l.Owner() {
		t.Errorf("To %v, %v", to, err)
	}
	subject, err := h.Subject()
	if err != nil || subject != Subject(org, l, ev) {
		t.Errorf("Subject %q, %v", subject, err)
	}
	// A whole personal number is in no header; the text has it only for
	// people the address did not name (wholeNumbers).
	var head bytes.Buffer
	textproto.WriteHeader(&head, h.Header.Header)
	for _, pn := range []string{pn1, pn2, pn3, pn1[:8] + "-" + pn1[8:], pn3[:8] + "-" + pn3[8:]} {
		if strings.Contains(head.String(), pn) || strings.Contains(subject, pn) {
			t.Errorf("a whole personal number in the header:\n%s", head.String())
		}
	}
}

func TestMDN(t *testing.T) {
	l := smsLetter("sv")
	ev := event(l, vault.EventOpened, 42)
	raw := build(t, l, ev)
	golden(t, "mdn_opened_sv", raw)
	p := parse(t, raw)
	checkCommon(t, p, l, ev)

	typ, params, _ := p.header.ContentType()
	if typ != "multipart/report" || params["report-type"] != "disposition-notification" {
		t.Fatalf("Content-Type %s %v", typ, params)
	}
	if len(p.parts) != 2 || p.parts[0].typ != "text/plain" || p.parts[1].typ != "message/disposition-notification" {
		t.Fatalf("parts %+v", p.parts)
	}
	if want := "Läst: Provsvar — Anna Andersson 19990807-****"; Subject(org, l, ev) != want {
		t.Errorf("subject %q, want %q", Subject(org, l, ev), want)
	}
	for _, want := range []string{"Anna Andersson 19990807-**** öppnade ditt säkra meddelande 2026-03-02 kl. 11.33 CET.",
		"Ärende: Provsvar", "Mottagare: sms till +46701234567", "Skickat: 2026-03-02 kl. 09.30 CET", "Region Exempel"} {
		if !strings.Contains(p.text, want) {
			t.Errorf("text lacks %q:\n%s", want, p.text)
		}
	}
	if strings.Contains(p.text, ev.IP) {
		t.Error("the reader's IP address is in the receipt")
	}
	f := fields(t, p.parts[1].body)
	if len(f) != 1 {
		t.Fatalf("%d field blocks", len(f))
	}
	for k, want := range map[string]string{
		"Reporting-UA":        "sigill.example.se; sigill",
		"Final-Recipient":     "rfc822; 0701234567&login=19990807-****&@secure.example.se",
		"Original-Message-ID": "<abc.123@kommun.example.se>",
		"Disposition":         "automatic-action/MDN-sent-automatically; displayed",
	} {
		if got := f[0].Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
}

// A receipt shows a person's whole number only where the sender did not
// write it in the address — they opened through login=* or a birth date,
// or were refused — or where the organisation chose whole numbers; else
// masked, in the text and in Final-Recipient alike.
func TestWholeNumbers(t *testing.T) {
	named := smsLetter("sv")
	anyone := smsLetter("sv")
	anyone.Rcpt.Address, anyone.Rcpt.Logins, anyone.Rcpt.Anyone = "0701234567&login=*&@secure.example.se", []string{}, true
	born := smsLetter("sv")
	born.Rcpt.Address, born.Rcpt.Logins, born.Rcpt.Born = "0701234567&login=19990807*&@secure.example.se", []string{}, []string{pn1[:8]}
	wholeOrg := org
	wholeOrg.WholePersonalNumber = true
	opened := func(l vault.Letter) vault.Event {
		ev := event(l, vault.EventDelivered, 9)
		ev.Kind, ev.PersonalNumber, ev.Name = vault.EventOpened, pn1, "Anna Andersson"
		return ev
	}
	cases := []struct {
		name      string
		org       Org
		l         vault.Letter
		ev        vault.Event
		whole     string // the number shown whole, or "" for none
		allowHint bool
	}{
		{"opened, named in the address", org, named, opened(named), "", false},
		{"delivered", org, named, event(named, vault.EventDelivered, 9), "", false},
		{"opened through login=*", org, anyone, opened(anyone), pn1, false},
		{"opened through a birth date", org, born, opened(born), pn1, false},
		{"refused, not named", org, named, event(named, vault.EventDenied, 9), pn3, true},
		{"opened, named, whole_personal_number", wholeOrg, named, opened(named), pn1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw, err := Build(c.org, c.l, c.ev)
			if err != nil {
				t.Fatal(err)
			}
			p := parse(t, raw)
			all := string(raw) + p.text
			for _, pn := range []string{pn1, pn2, pn3} {
				shown := strings.Contains(all, pn) || strings.Contains(all, pn[:8]+"-"+pn[8:])
				if shown != (pn == c.whole) {
					t.Errorf("%s shown whole: %v; want %v\n%s", pn, shown, pn == c.whole, p.text)
				}
			}
			if c.whole == "" && c.ev.Kind == vault.EventOpened && !strings.Contains(p.text, "Anna Andersson 19990807-****") {
				t.Errorf("the opener is not shown masked:\n%s", p.text)
			}
			if hint := strings.Contains(p.text, "login="+pn3); hint != c.allowHint {
				t.Errorf("the hint how to allow the person: %v; want %v\n%s", hint, c.allowHint, p.text)
			}
		})
	}
}

func TestDSN(t *testing.T) {
	l := emailLetter("en")
	ev := event(l, vault.EventFailed, 43)
	org := orgIn("en")
	raw := buildFor(t, org, l, ev)
	golden(t, "dsn_failed_en", raw)
	p := parse(t, raw)
	checkCommonFor(t, org, p, l, ev)

	typ, params, _ := p.header.ContentType()
	if typ != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("Content-Type %s %v", typ, params)
	}
	if len(p.parts) != 2 || p.parts[1].typ != "message/delivery-status" {
		t.Fatalf("parts %+v", p.parts)
	}
	if want := "Not delivered: Beslut om bistånd — e-mail to anna.s@example.org"; Subject(org, l, ev) != want {
		t.Errorf("subject %q, want %q", Subject(org, l, ev), want)
	}
	if !strings.Contains(p.text, "Reason: mailbox unavailable: 550 5.1.1 user unknown") {
		t.Errorf("text:\n%s", p.text)
	}
	f := fields(t, p.parts[1].body)
	if len(f) != 2 {
		t.Fatalf("%d field blocks, want per-message and one per-recipient", len(f))
	}
	if got := f[0].Get("Reporting-MTA"); got != "dns; sigill.example.se" {
		t.Errorf("Reporting-MTA %q", got)
	}
	if d, err := netmail.ParseDate(f[0].Get("Arrival-Date")); err != nil || !d.Equal(received) {
		t.Errorf("Arrival-Date %q", f[0].Get("Arrival-Date"))
	}
	for k, want := range map[string]string{
		"Final-Recipient": "rfc822; anna.s=example.org&login=19861123-****&lang=en&@secure.example.se",
		"Action":          "failed",
		"Status":          "5.0.0",
		"Diagnostic-Code": "X-Sigill; mailbox unavailable: 550 5.1.1 user unknown",
	} {
		if got := f[1].Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
}

// TestRevokedDSN: a withdrawn copy is a DSN (failed, 5.0.0) threaded with
// the sent mail, saying for whom, when, by whom and why; an
// administrator's withdrawal names no account.
func TestRevokedDSN(t *testing.T) {
	l := smsLetter("sv")
	ev := event(l, vault.EventRevoked, 44)
	raw := build(t, l, ev)
	golden(t, "dsn_revoked_sv", raw)
	p := parse(t, raw)
	checkCommonFor(t, org, p, l, ev)
	if want := "Tillbakadraget: Provsvar — +46701234567"; Subject(org, l, ev) != want {
		t.Errorf("subject %q, want %q", Subject(org, l, ev), want)
	}
	for _, want := range []string{"Ditt säkra meddelande har dragits tillbaka: sms till +46701234567, 2026-03-02 kl. 11.33 CET.", "Tillbakadraget av: staff@kommun.example.se", "Orsak: fel mottagare"} {
		if !strings.Contains(p.text, want) {
			t.Errorf("text lacks %q:\n%s", want, p.text)
		}
	}
	if len(p.parts) != 2 || p.parts[1].typ != "message/delivery-status" {
		t.Fatalf("parts %+v", p.parts)
	}
	f := fields(t, p.parts[1].body)
	for k, want := range map[string]string{"Action": "failed", "Status": "5.0.0", "Diagnostic-Code": "X-Sigill; withdrawn: fel mottagare"} {
		if got := f[1].Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	ev.By, ev.Detail = "admin", ""
	p = parse(t, buildFor(t, orgIn("en"), l, ev))
	if !strings.Contains(p.text, "Withdrawn by: an administrator") || strings.Contains(p.text, "Reason:") {
		t.Errorf("an administrator's withdrawal without a reason:\n%s", p.text)
	}
	if got := fields(t, p.parts[1].body)[1].Get("Diagnostic-Code"); got != "X-Sigill; withdrawn" {
		t.Errorf("Diagnostic-Code %q", got)
	}
}

func TestEveryKind(t *testing.T) {
	for _, lang := range []string{"sv", "en"} {
		for _, kind := range []vault.EventKind{vault.EventDelivered, vault.EventFailed, vault.EventExpired, vault.EventOpened, vault.EventDenied, vault.EventRevoked} {
			t.Run(lang+"/"+string(kind), func(t *testing.T) {
				org := orgIn(lang)
				l := smsLetter(lang)
				ev := event(l, kind, 7)
				raw := buildFor(t, org, l, ev)
				p := parse(t, raw)
				checkCommonFor(t, org, p, l, ev)
				typ, params, _ := p.header.ContentType()
				switch kind {
				case vault.EventDenied:
					if typ != "text/plain" {
						t.Fatalf("denied is %s", typ)
					}
					if !strings.Contains(p.text, "Per Persson (20021124-2383)") || !strings.Contains(p.text, "login="+pn3) {
						t.Errorf("denied text:\n%s", p.text)
					}
					if s := Subject(org, l, ev); !strings.Contains(s, "Per Persson 20021124-****") {
						t.Errorf("subject %q", s)
					}
				case vault.EventOpened:
					if params["report-type"] != "disposition-notification" {
						t.Fatalf("opened is %s %v", typ, params)
					}
				default:
					if typ != "multipart/report" || params["report-type"] != "delivery-status" {
						t.Fatalf("%s is %s %v", kind, typ, params)
					}
					f := fields(t, p.parts[1].body)
					want := map[vault.EventKind][2]string{
						vault.EventDelivered: {"delivered", "2.0.0"},
						vault.EventFailed:    {"failed", "5.0.0"},
						vault.EventExpired:   {"failed", "5.4.7"},
						vault.EventRevoked:   {"failed", "5.0.0"},
					}[kind]
					if f[1].Get("Action") != want[0] || f[1].Get("Status") != want[1] {
						t.Errorf("Action %q Status %q, want %v", f[1].Get("Action"), f[1].Get("Status"), want)
					}
				}
				if lang == "en" {
					if p.header.Get("Content-Language") != "en" {
						t.Error("not English")
					}
				} else if p.header.Get("Content-Language") != "sv" {
					t.Error("not Swedish")
				}
			})
		}
	}
}

// The receipt goes to the sender, so it speaks the sender's language (the
// organisation's default), whatever lang= the address chose for the
// recipient.
func TestSenderLanguage(t *testing.T) {
	for _, c := range []struct{ recipient, org, subject, contentLanguage string }{
		{"en", "sv", "Levererat: ", "sv"},
		{"sv", "en", "Delivered: ", "en"},
	} {
		l := smsLetter(c.recipient)
		ev := event(l, vault.EventDelivered, 12)
		p := parse(t, buildFor(t, orgIn(c.org), l, ev))
		if s, _ := p.header.Subject(); !strings.HasPrefix(s, c.subject) {
			t.Errorf("recipient lang=%s, organisation %s: Subject %q, want it to start %q", c.recipient, c.org, s, c.subject)
		}
		if got := p.header.Get("Content-Language"); got != c.contentLanguage {
			t.Errorf("recipient lang=%s, organisation %s: Content-Language %q", c.recipient, c.org, got)
		}
	}
	l := smsLetter("en")
	if p := parse(t, buildFor(t, orgIn("sv"), l, event(l, vault.EventOpened, 13))); !strings.Contains(p.text, "öppnade ditt säkra meddelande") {
		t.Errorf("the text of a receipt for an English-speaking recipient is not Swedish:\n%s", p.text)
	}
}

func TestLanguageFallback(t *testing.T) {
	l := smsLetter("")
	ev := event(l, vault.EventDelivered, 9)
	o := org
	o.Lang = "en"
	if s := Subject(o, l, ev); !strings.HasPrefix(s, "Delivered: ") {
		t.Errorf("org language not used: %q", s)
	}
	o.Lang = ""
	if s := Subject(o, l, ev); !strings.HasPrefix(s, "Levererat: ") {
		t.Errorf("Swedish is not the default: %q", s)
	}
}

func TestRefused(t *testing.T) {
	l := smsLetter("sv")
	for _, kind := range []vault.EventKind{vault.EventAccepted, vault.EventNotified, vault.EventExpiryChanged} {
		if _, err := Build(org, l, event(l, kind, 1)); !errors.Is(err, ErrNotReceipt) {
			t.Errorf("%s: %v", kind, err)
		}
	}
	if _, err := Build(org, l, event(l, vault.EventOpened, 0)); err == nil {
		t.Error("an event without Seq was built")
	}
	other := event(l, vault.EventOpened, 3)
	other.Recipient = 2
	if _, err := Build(org, l, other); err == nil {
		t.Error("an event about another recipient was built")
	}
}

func TestOddInputs(t *testing.T) {
	l := smsLetter("en")
	l.MessageID = "" // the original had no Message-ID
	l.Errand = "A very long errand with line\r\nbreaks and ümlauts that goes on and on and on, well past one header line of seventy-eight"
	l.Rcpt.Address = "0701234567 &login=" + pn1 + "&@secure.example.se" // go-smtp unquoted a space
	l.Account, l.Sender = "", ""
	ev := event(l, vault.EventOpened, 5)
	ev.Name = ""
	raw := build(t, l, ev)
	p := parse(t, raw)
	if p.header.Get("In-Reply-To") != "" || p.header.Get("References") != "" {
		t.Error("threading headers without an original Message-ID")
	}
	if s, _ := p.header.Subject(); s != Subject(org, l, ev) || strings.ContainsAny(s, "\r\n") {
		t.Errorf("subject %q", s)
	}
	f := fields(t, p.parts[1].body)
	if got := f[0].Get("Final-Recipient"); got != "rfc822; +46701234567&login=199908072391&lang=en&@secure.example.se" {
		t.Errorf("Final-Recipient %q", got)
	}
	if f[0].Get("Original-Message-ID") != "" {
		t.Error("Original-Message-ID without an original")
	}
	if got := p.header.Get("To"); got != "undisclosed-recipients:;" {
		t.Errorf("To %q", got)
	}
}

func TestBareOrg(t *testing.T) {
	l := smsLetter("sv")
	ev := event(l, vault.EventDelivered, 11)
	raw, err := Build(Org{}, l, ev)
	if err != nil {
		t.Fatal(err)
	}
	p := parse(t, raw)
	from, err := p.header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "noreply@localhost" {
		t.Errorf("From %v, %v", from, err)
	}
	if id, _ := p.header.MessageID(); id != "receipt.11.0123456789abcdefghij@localhost" {
		t.Errorf("Message-ID %q", id)
	}
}
