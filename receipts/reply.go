package receipts

import (
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"sigill/vault"
)

// Reply is a recipient's answer from the reader's page, as BuildReply
// makes it a mail to the sender.
type Reply struct {
	// ID makes the reply's Message-ID (reply.<ID>.<message id>@<host>)
	// and MIME boundary; random, one per reply.
	ID string
	At time.Time
	// Name and PersonalNumber are who answered, as BankID identified them.
	Name, PersonalNumber string
	// Copy is a functional mailbox (organisation.reply_copy) named in Cc;
	// "" for none.
	Copy  string
	Text  string
	Files []File
}

// File is one file attached to a reply.
type File struct {
	Name        string // as the reader's browser named it; cleaned by BuildReply
	ContentType string // as the browser declared it; anything unreadable is application/octet-stream
	Body        []byte
}

// ReplyMessageID is the Message-ID (without <>) of the mail BuildReply
// makes for r.
func ReplyMessageID(org Org, l vault.Letter, r Reply) string {
	return fmt.Sprintf("reply.%s.%s@%s", idSafe(r.ID), idSafe(l.ID), hostname(org))
}

// BuildReply makes the mail that carries a reply to the letter's owner:
// threaded under the sent mail (In-Reply-To and References its
// Message-ID), From the gateway's own address (Org.From) with the person in
// the display name only, so nothing in it can pass for the person's own
// address, and the person named with their masked number (whole only with
// Org.WholePersonalNumber) in the display name, the Subject, an
// X-Sigill-Replier field and the text's first line. The text is in the
// sender's language (Org.Lang), as receipts are; what the person wrote
// follows as written, and the files as attachments. The same r gives the
// same bytes.
func BuildReply(org Org, l vault.Letter, r Reply) ([]byte, error) {
	if r.ID == "" || idSafe(r.ID) != r.ID {
		return nil, errors.New("receipts: a reply needs an id of letters and digits")
	}
	ev := vault.Event{MessageID: l.ID, Recipient: l.Recipient, Kind: vault.EventReplied, At: r.At,
		Name: r.Name, PersonalNumber: r.PersonalNumber}
	b := newBuilder(org, l, ev)
	b.bound = "=_sigill_reply_" + idSafe(r.ID)
	b.signature = b.t.replySignature
	t := b.t
	who := person(r.Name, r.PersonalNumber, org.WholePersonalNumber)
	if who == "" {
		who = t.someone
	}
	from := mail.Address{Name: fmt.Sprintf(t.replyFrom, who, clean(org.Name)), Address: "noreply@" + hostname(org)}
	if a, err := mail.ParseAddress(org.From); err == nil {
		from.Address = a.Address
	}
	b.header("Date", r.At.In(b.loc).Format(time.RFC1123Z))
	b.header("From", addressHeader(from))
	if owner := l.Owner(); owner != "" {
		b.header("To", "<"+owner+">")
	} else {
		b.header("To", "undisclosed-recipients:;")
	}
	if a, err := mail.ParseAddress(r.Copy); err == nil {
		b.header("Cc", "<"+a.Address+">")
	}
	b.header("Subject", encode(t.replySubject+": "+b.errand+" — "+who))
	b.header("Message-ID", "<"+ReplyMessageID(org, l, r)+">")
	if id := l.MessageID; id != "" {
		b.header("In-Reply-To", "<"+id+">")
		b.header("References", "<"+id+">")
	}
	b.header("X-Auto-Response-Suppress", "All")
	b.header("X-Sigill-Reply", fmt.Sprintf("message=%s; recipient=%d", idSafe(l.ID), l.Recipient))
	b.header("X-Sigill-Replier", encode(fmt.Sprintf(t.replier, who)))
	b.header("Content-Language", t.lang)
	b.header("MIME-Version", "1.0")
	text := b.body(fmt.Sprintf(t.replyLead, who, b.when(r.At)),
		b.facts([2]string{t.repliedAt, b.when(r.At)}, [2]string{t.repliedBy, who}),
		t.replyAbove+"\n\n"+ReplyText(r.Text))
	if len(r.Files) == 0 {
		b.header("Content-Type", "text/plain; charset=utf-8")
		b.textPart(text)
		return b.out.Bytes(), nil
	}
	b.header("Content-Type", fmt.Sprintf("multipart/mixed; boundary=%q", b.bound))
	b.out.WriteString("\r\nThis is a message in MIME format.\r\n")
	b.part("text/plain; charset=utf-8")
	b.textPart(text)
	for i, f := range r.Files {
		name := FileName(f.Name, fmt.Sprintf("%s-%d", t.attachment, i+1))
		b.part(mime.FormatMediaType(fileType(f.ContentType), map[string]string{"name": name}))
		b.header("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
		b.header("Content-Transfer-Encoding", "base64")
		b.out.WriteString("\r\n")
		enc := base64.StdEncoding.EncodeToString(f.Body)
		for len(enc) > 76 {
			b.out.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.out.WriteString(enc)
	}
	b.end()
	return b.out.Bytes(), nil
}

// ReplyText is what a person wrote as the reply carries it: valid UTF-8,
// line breaks as \n, no control characters but tabs, no trailing space.
func ReplyText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, s)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.Trim(strings.Join(lines, "\n"), "\n")
}

// maxFileName bounds a file name, in bytes.
const maxFileName = 200

// FileName is a file name from a browser as a reply carries it: its last
// path element, one line of printable characters, at most 200 bytes;
// fallback when nothing is left.
func FileName(name, fallback string) string {
	name = strings.ReplaceAll(name, `\`, "/")
	name = clean(path.Base(name))
	name = strings.Trim(name, ". ")
	for len(name) > maxFileName {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "" || name == "/" {
		return fallback
	}
	return name
}

// fileType is the declared media type without parameters, when it reads
// as one; application/octet-stream otherwise.
func fileType(declared string) string {
	mt, _, err := mime.ParseMediaType(declared)
	if err != nil || strings.Count(mt, "/") != 1 || strings.HasPrefix(mt, "multipart/") || strings.HasPrefix(mt, "message/") {
		return "application/octet-stream"
	}
	return mt
}

// addressHeader writes a as a header value a mail reader parses back.
// mail.Address.String Q-encodes a name that is not ASCII but leaves a
// backslash or a quote in the encoded word, which is then no atom and
// fails to parse (FuzzBuildReply found it with a name holding a
// backslash); a B-encoded word holds only base64's letters.
func addressHeader(a mail.Address) string {
	for _, r := range a.Name {
		if r >= utf8.RuneSelf {
			return mime.BEncoding.Encode("utf-8", a.Name) + " <" + a.Address + ">"
		}
	}
	return a.String()
}
