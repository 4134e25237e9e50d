package receipts

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
)

// ReadReply reads back what the person wrote and attached from a mail
// BuildReply made: the doors that show a reply to its sender (the API,
// the staff web, a GDPR export) show the answer, not the gateway's words
// around it. The text is what follows the line "The answer, as written on
// the reader's page:" (in either language) up to the signature; the files
// keep their cleaned names and declared types. A mail BuildReply did not
// make is refused with a reason; FuzzReadReply drives it.
func ReadReply(raw []byte) (text string, files []File, err error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "", nil, fmt.Errorf("receipts: read reply: %w", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return "", nil, fmt.Errorf("receipts: read reply: Content-Type: %w", err)
	}
	var body []byte
	switch {
	case mt == "text/plain":
		body, err = io.ReadAll(quotedprintable.NewReader(msg.Body))
		if err != nil {
			return "", nil, fmt.Errorf("receipts: read reply: %w", err)
		}
	case mt == "multipart/mixed" && params["boundary"] != "":
		mr := multipart.NewReader(msg.Body, params["boundary"])
		for i := 0; ; i++ {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return "", nil, fmt.Errorf("receipts: read reply: %w", err)
			}
			if i == 0 {
				// multipart decodes the text part's quoted-printable itself.
				if body, err = io.ReadAll(p); err != nil {
					return "", nil, fmt.Errorf("receipts: read reply: %w", err)
				}
				continue
			}
			f, err := readFile(p)
			if err != nil {
				return "", nil, fmt.Errorf("receipts: read reply: file %d: %w", i, err)
			}
			files = append(files, f)
		}
	default:
		return "", nil, fmt.Errorf("receipts: read reply: %q is not a reply's content type", mt)
	}
	text, err = writtenText(string(body))
	if err != nil {
		return "", nil, fmt.Errorf("receipts: read reply: %w", err)
	}
	return text, files, nil
}

// writtenText cuts what the person wrote out of a reply's text part.
func writtenText(s string) (string, error) {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	for _, t := range []*texts{&english, &swedish} {
		_, after, ok := strings.Cut(s, "\n"+t.replyAbove+"\n\n")
		if !ok {
			continue
		}
		end := strings.LastIndex(after, "\n\n-- \n")
		if end < 0 {
			return "", errors.New("the text has no signature")
		}
		return after[:end], nil
	}
	return "", errors.New("the text does not carry an answer")
}

func readFile(p *multipart.Part) (File, error) {
	_, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	if err != nil {
		return File{}, fmt.Errorf("Content-Disposition: %w", err)
	}
	mt, _, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
	if err != nil {
		return File{}, fmt.Errorf("Content-Type: %w", err)
	}
	if !strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "base64") {
		return File{}, errors.New("not base64")
	}
	body, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, p))
	if err != nil {
		return File{}, err
	}
	return File{Name: params["filename"], ContentType: mt, Body: body}, nil
}
