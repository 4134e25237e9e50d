package receipts

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
)

func testReply() Reply {
	return Reply{
		ID: "4kq2m7", At: received.Add(3 * time.Hour), Name: "Åsa Öberg", PersonalNumber: pn1,
		Copy: "kansli@kommun.example.se", Text: "Tack!\r\nJag kommer på tisdag kl 10.",
		Files: []File{{Name: `C:\Users\asa\remiss.pdf`, ContentType: "application/pdf", Body: []byte("%PDF-1.7 remiss")}},
	}
}

// readReply parses a reply as a mail client does: the header, the text
// part and the attachments' names and bodies.
func readReply(t *testing.T, raw []byte) (*mail.Header, string, map[string]string) {
	t.Helper()
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Fatalf("a bare LF in the reply:\n%s", raw)
	}
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("the reply does not parse: %v\n%s", err, raw)
	}
	var text string
	files := map[string]string{}
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("part: %v\n%s", err, raw)
		}
		b, _ := io.ReadAll(p.Body)
		switch h := p.Header.(type) {
		case *mail.InlineHeader:
			text += string(b)
		case *mail.AttachmentHeader:
			name, _ := h.Filename()
			files[name] = string(b)
		}
	}
	return &r.Header, text, files
}

// A reply is threaded under the sent mail, comes From the gateway's own
// address with the person (name and masked number) only in the display
// name, names them in the Subject, a header field and the text, carries
// the text as written and the files, and the functional mailbox in Cc.
func TestBuildReply(t *testing.T) {
	l := smsLetter("en")
	raw, err := BuildReply(org, l, testReply())
	if err != nil {
		t.Fatal(err)
	}
	h, text, files := readReply(t, raw)
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "noreply@secure.example.se" ||
		from[0].Name != "Åsa Öberg 19990807-**** via Region Exempel" {
		t.Errorf("From = %v, %v", from, err)
	}
	for key, want := range map[string]string{
		"In-Reply-To": "<abc.123@kommun.example.se>", "References": "<abc.123@kommun.example.se>",
		"To": "<staff@kommun.example.se>", "Cc": "<kansli@kommun.example.se>",
		"Message-Id":     "<reply.4kq2m7.0123456789abcdefghij@sigill.example.se>",
		"X-Sigill-Reply": "message=0123456789abcdefghij; recipient=0",
	} {
		if got := h.Get(key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if s, _ := h.Subject(); s != "Svar: Provsvar — Åsa Öberg 19990807-****" {
		t.Errorf("Subject = %q", s)
	}
	if s, _ := h.Text("X-Sigill-Replier"); s != "Åsa Öberg 19990807-****, legitimerad med BankID" {
		t.Errorf("X-Sigill-Replier = %q", s)
	}
	for _, want := range []string{"Åsa Öberg 19990807-**** svarade på ditt säkra meddelande", "Tack!\r\nJag kommer på tisdag kl 10.", "Provsvar"} {
		if !strings.Contains(text, want) {
			t.Errorf("the text lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(string(raw), pn1) || strings.Contains(string(raw), "19990807-2391") {
		t.Errorf("the whole personal number is in the reply:\n%s", raw)
	}
	if files["remiss.pdf"] != "%PDF-1.7 remiss" || len(files) != 1 {
		t.Errorf("attachments %q", files)
	}
	again, _ := BuildReply(org, l, testReply())
	if !bytes.Equal(raw, again) {
		t.Error("the same reply gave other bytes")
	}

	// Without files, a plain text mail; without a Message-ID, not threaded.
	r := testReply()
	r.Files, r.Copy = nil, ""
	l.MessageID = ""
	raw, _ = BuildReply(org, l, r)
	h, text, _ = readReply(t, raw)
	if mt, _, _ := h.ContentType(); mt != "text/plain" || h.Has("In-Reply-To") || h.Has("Cc") || !strings.Contains(text, "tisdag") {
		t.Errorf("a reply without files: %s, In-Reply-To %v, Cc %v\n%s", mt, h.Has("In-Reply-To"), h.Has("Cc"), raw)
	}
}

func TestReplyText(t *testing.T) {
	for in, want := range map[string]string{
		"hej\r\nhopp  \r\n\r\n":    "hej\nhopp",
		"a\rb\x00c\x1bd\u0085e\tf": "a\nbcde\tf",
		"\xffok":                   "\uFFFDok",
	} {
		if got := ReplyText(in); got != want {
			t.Errorf("ReplyText(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		`C:\fakepath\brev.pdf`: "brev.pdf", "../../etc/passwd": "passwd", "a\r\nb.txt": "a b.txt",
		"": "bilaga-1", "..": "bilaga-1", strings.Repeat("å", 150): strings.Repeat("å", 100),
	} {
		if got := FileName(in, "bilaga-1"); got != want {
			t.Errorf("FileName(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzBuildReply: whatever a browser sends as the text, the file's name and
// type, and whatever name BankID gives, the reply parses as one mail From
// the gateway's address, with no header the text or names could add.
func FuzzBuildReply(f *testing.F) {
	f.Add("Åsa Öberg", "Tack!", "remiss.pdf", "application/pdf")
	f.Add("Evil\r\nBcc: x@example.com", "hej\r\n.\r\nMAIL FROM:<x>", "a\"\r\nX-Evil: 1.txt", "text/html; charset=\"\r\nX-Evil: 1\"")
	f.Fuzz(func(t *testing.T, name, text, file, ctype string) {
		r := Reply{ID: "fz1", At: received, Name: name, PersonalNumber: pn1, Text: text,
			Files: []File{{Name: file, ContentType: ctype, Body: []byte(text)}}}
		raw, err := BuildReply(org, smsLetter("sv"), r)
		if err != nil {
			t.Fatal(err)
		}
		mr, err := mail.CreateReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("does not parse: %v\n%q", err, raw)
		}
		from, err := mr.Header.AddressList("From")
		if err != nil || len(from) != 1 || from[0].Address != "noreply@secure.example.se" {
			t.Fatalf("From = %v, %v\n%q", from, err, raw)
		}
		fields := mr.Header.Fields()
		for fields.Next() {
			switch fields.Key() {
			case "Date", "From", "To", "Subject", "Message-Id", "In-Reply-To", "References", "X-Auto-Response-Suppress",
				"X-Sigill-Reply", "X-Sigill-Replier", "Content-Language", "Mime-Version", "Content-Type":
			default:
				t.Fatalf("a header field %q\n%q", fields.Key(), raw)
			}
		}
		n := 0
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("part: %v\n%q", err, raw)
			}
			n++
			if h, ok := p.Header.(*mail.AttachmentHeader); ok {
				b, _ := io.ReadAll(p.Body)
				if !bytes.Equal(b, []byte(text)) {
					t.Fatalf("the file's bytes changed")
				}
				if fn, _ := h.Filename(); fn == "" || strings.ContainsAny(fn, "\r\n/\\") {
					t.Fatalf("file name %q", fn)
				}
			}
		}
		if n != 2 {
			t.Fatalf("%d parts, want the text and the file\n%q", n, raw)
		}
		// And ReadReply gives back what the person wrote and sent.
		got, files, err := ReadReply(raw)
		if err != nil || got != ReplyText(text) || len(files) != 1 || !bytes.Equal(files[0].Body, []byte(text)) || files[0].Name != FileName(file, "bilaga-1") {
			t.Fatalf("ReadReply = %q, %+v, %v; want %q\n%q", got, files, err, ReplyText(text), raw)
		}
	})
}

// ReadReply gives the doors that show a reply to its sender what the person
// wrote and attached, without the gateway's words around it, in either
// language; a mail BuildReply did not make is refused.
func TestReadReply(t *testing.T) {
	for _, lang := range []string{"sv", "en"} {
		o := org
		o.Lang = lang
		raw, err := BuildReply(o, smsLetter(lang), testReply())
		if err != nil {
			t.Fatal(err)
		}
		text, files, err := ReadReply(raw)
		if err != nil || text != "Tack!\nJag kommer på tisdag kl 10." {
			t.Errorf("%s: text %q, %v", lang, text, err)
		}
		if len(files) != 1 || files[0].Name != "remiss.pdf" || files[0].ContentType != "application/pdf" || string(files[0].Body) != "%PDF-1.7 remiss" {
			t.Errorf("%s: files %+v", lang, files)
		}
		r := testReply()
		r.Files = nil
		raw, _ = BuildReply(o, smsLetter(lang), r)
		if text, files, err := ReadReply(raw); err != nil || text != "Tack!\nJag kommer på tisdag kl 10." || files != nil {
			t.Errorf("%s, no files: %q %+v %v", lang, text, files, err)
		}
	}
	for _, bad := range []string{"", "Subject: hi\r\n\r\nhello\r\n", "Content-Type: text/plain\r\n\r\nno answer here\r\n", "Content-Type: image/png\r\n\r\n"} {
		if _, _, err := ReadReply([]byte(bad)); err == nil {
			t.Errorf("ReadReply(%q) took it", bad)
		}
	}
}

// FuzzReadReply: whatever bytes it is given, ReadReply answers or refuses,
// and never panics.
func FuzzReadReply(f *testing.F) {
	raw, _ := BuildReply(org, smsLetter("sv"), testReply())
	f.Add(raw)
	f.Add([]byte("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\nhej\r\n--x--\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		text, _, err := ReadReply(raw)
		if err != nil && text != "" {
			t.Fatalf("a refusal with a text %q", text)
		}
	})
}
