package intake

import (
	"bytes"
	"crypto/rand"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"
)

// Composed is a message a door writes on the sender's behalf (the REST
// API's send, the staff web's form), before it is MIME.
type Composed struct {
	From        string // the account: the sender the gateway vouches for
	Subject     string // the errand
	Lang        string // Content-Language; "" for none
	Text, HTML  string // the secret body; either or both (blank ones are left out)
	Attachments []Attachment
	Hostname    string    // the right side of the Message-ID
	Date        time.Time // the Date header
}

// Attachment is one attached file.
type Attachment struct {
	Filename    string
	ContentType string
	Data        []byte
}

// Compose writes c as MIME, as a mail client would: From the account, the
// errand as Subject, text and html as alternatives, then the attachments.
// What it returns is then taken through Rules.Incoming, as SMTP's DATA is.
func Compose(c Composed) ([]byte, error) {
	var h mail.Header
	h.SetDate(c.Date)
	h.SetAddressList("From", []*mail.Address{{Address: c.From}})
	h.SetSubject(c.Subject)
	h.SetMessageID(strings.ToLower(rand.Text()) + "@" + c.Hostname)
	if c.Lang != "" {
		h.Set("Content-Language", c.Lang)
	}
	var buf bytes.Buffer
	mw, err := mail.CreateWriter(&buf, h)
	if err != nil {
		return nil, err
	}
	var parts []struct{ contentType, text string }
	if strings.TrimSpace(c.Text) != "" {
		parts = append(parts, struct{ contentType, text string }{"text/plain", c.Text})
	}
	if strings.TrimSpace(c.HTML) != "" {
		parts = append(parts, struct{ contentType, text string }{"text/html", c.HTML})
	}
	tw, err := mw.CreateInline()
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		var ih mail.InlineHeader
		ih.SetContentType(p.contentType, map[string]string{"charset": "utf-8"})
		ih.Set("Content-Transfer-Encoding", "quoted-printable")
		w, err := tw.CreatePart(ih)
		if err != nil {
			return nil, err
		}
		io.WriteString(w, p.text)
		if err := w.Close(); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	for _, a := range c.Attachments {
		var ah mail.AttachmentHeader
		ah.SetContentType(a.ContentType, nil)
		ah.SetFilename(a.Filename)
		ah.Set("Content-Transfer-Encoding", "base64")
		w, err := mw.CreateAttachment(ah)
		if err != nil {
			return nil, err
		}
		w.Write(a.Data)
		if err := w.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
