package intake

import (
	"bufio"
	"bytes"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // Subjects in ISO-8859-1, Windows-1252, ... as Outlook writes them
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"golang.org/x/text/encoding/charmap"
)

// head is what intake reads from a message before it is sealed: the errand
// and the Message-ID receipts will refer to. The body is not parsed here; it
// is stored as the sender wrote it and read only on the reader page.
type head struct {
	subject   string
	messageID string
	from      []string // the From header's addresses; nil when it has none or none that parse
	hasFrom   bool
}

func readHead(raw []byte) (head, error) {
	// A reader no larger than the header (bufio's default is 4 KiB, read
	// for every message): ReadHeader reads a longer line in pieces.
	size := 4096
	if end := bytes.Index(raw, []byte("\r\n\r\n")); end >= 0 && end+4 < size {
		size = end + 4
	}
	return readHeadFrom(bufio.NewReaderSize(bytes.NewReader(raw), size))
}

func readHeadFrom(r *bufio.Reader) (head, error) {
	h, err := textproto.ReadHeader(r)
	if err != nil {
		return head{}, err
	}
	mh := mail.Header{Header: message.Header{Header: h}}
	subject, err := mh.Subject()
	if err != nil {
		// An undecodable encoded-word still leaves readable text; keep the raw
		// value rather than refuse a message over its errand's charset.
		subject = mh.Get("Subject")
	}
	if !utf8.ValidString(subject) {
		// Raw 8-bit bytes outside UTF-8 (rfc/6532 wants UTF-8 there, but old
		// clients write their code page): in Sweden that is Windows-1252, a
		// superset of ISO-8859-1. Read as such, "Råd" stays "Råd" in the SMS
		// instead of becoming "R�d".
		if s, err := charmap.Windows1252.NewDecoder().String(subject); err == nil {
			subject = s
		}
	}
	id, err := mh.MessageID()
	if err != nil {
		// Not rfc/5322:3260's form ("abc@def" without brackets, "<abc>"
		// without '@'): the sender's client still knows the message by it,
		// and receipts must refer to it, so keep what was written.
		id = looseMessageID(mh.Get("Message-ID"))
	}
	h2 := head{subject: subject, messageID: id, hasFrom: mh.Has("From")}
	if list, err := mh.AddressList("From"); err == nil {
		for _, a := range list {
			h2.from = append(h2.from, a.Address)
		}
	}
	return h2, nil
}

// otherFrom is the first From address that is not vouched (compared without
// case), or "<unreadable>" for a From header whose addresses do not parse;
// "" when the header is absent or names only the vouched sender.
func (h head) otherFrom(vouched string) string {
	if !h.hasFrom {
		return ""
	}
	if len(h.from) == 0 {
		return "<unreadable>"
	}
	for _, a := range h.from {
		if !strings.EqualFold(a, vouched) {
			return a
		}
	}
	return ""
}

// looseMessageID is a malformed Message-ID without its brackets, or "" when
// nothing usable is left; receipts then refer to the gateway's own id.
func looseMessageID(v string) string {
	id := strings.Trim(strings.TrimSpace(v), "<>")
	if id == "" || strings.ContainsAny(id, "<> \t\r\n") {
		return ""
	}
	return id
}
