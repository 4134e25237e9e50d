package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"time"
	"unicode/utf8"

	"sigill/addressing"
)

// sendRequest is POST /api/v1/messages's body.
type sendRequest struct {
	Subject   string `json:"subject"`
	Text      string `json:"text"`
	HTML      string `json:"html"`
	Lang      string `json:"lang"`
	ExpiresIn string `json:"expires_in"`
	// Replies false turns the recipients' answers from the reader's page
	// off, as reply=no in an address does; absent or true leaves each
	// address's own reply=.
	Replies     *bool           `json:"replies"`
	Reference   string          `json:"reference"`
	Attachments []attachment    `json:"attachments"`
	Recipients  []recipientSpec `json:"recipients"`

	lifetime time.Duration // ExpiresIn read
}

type attachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Content     string `json:"content"` // base64

	data []byte // Content decoded
}

// recipientSpec is one recipient: the mail syntax's local part (Address),
// or the same spelled as JSON (SMS or Email, with Logins).
type recipientSpec struct {
	Address string   `json:"address"`
	SMS     string   `json:"sms"`
	Email   string   `json:"email"`
	Logins  []string `json:"logins"`
}

const (
	maxSubjectRunes   = 255
	maxReferenceRunes = 128
	maxFilenameRunes  = 255
	// maxAttachments bounds the parts of one message: their size is
	// smtp.max_message_bytes's, as SMTP's; their count is the API's own
	// (SMTP has none), so that a request of thousands of empty files is
	// not built into MIME at all.
	maxAttachments = 50
)

// errNotJSON is a body that is not a JSON object at all: 400, not 422.
var errNotJSON = errors.New("the body is not a JSON object")

// decodeSend reads a send request and checks every field that needs no
// policy (addressing's and intake's checks come after, in send): it
// returns every fault found, or errNotJSON. It is what FuzzDecodeSend
// drives with outside input.
func decodeSend(body []byte) (*sendRequest, []fieldError, error) {
	var req sendRequest
	if faults, err := decodeObject(body, &req, "is not a field of a message; see the OpenAPI document (GET /api/v1/openapi.json)"); faults != nil || err != nil {
		return nil, faults, err
	}
	var faults []fieldError
	fault := func(field, format string, args ...any) {
		faults = append(faults, fieldError{Field: field, Detail: fmt.Sprintf(format, args...)})
	}
	if n := utf8.RuneCountInString(req.Subject); n > maxSubjectRunes {
		fault("subject", "is %d characters; write at most %d (the errand is shown in an SMS)", n, maxSubjectRunes)
	}
	if strings.ContainsAny(req.Subject, "\r\n") || hasControl(req.Subject) {
		fault("subject", "holds a line break or control character; write it on one line")
	}
	if strings.TrimSpace(req.Text) == "" && strings.TrimSpace(req.HTML) == "" {
		fault("text", "text and html are both empty; write the message in text, html or both")
	}
	switch req.Lang {
	case "", "sv", "en":
	default:
		fault("lang", "%q is not a language sigill speaks; write \"sv\" or \"en\"", req.Lang)
	}
	if req.ExpiresIn != "" {
		if l, err := addressing.ParseLifetime(req.ExpiresIn); err != nil {
			fault("expires_in", "%v", err)
		} else {
			req.lifetime = l.Duration()
		}
	}
	if n := utf8.RuneCountInString(req.Reference); n > maxReferenceRunes {
		fault("reference", "is %d characters; write at most %d", n, maxReferenceRunes)
	}
	if hasControl(req.Reference) {
		fault("reference", "holds a control character")
	}
	if masked, found := addressing.FindPersonalNumber(req.Reference); found {
		// Kept and answered in clear, where an erasure by number does not reach.
		fault("reference", "holds a personal identity number (%s); the reference is kept and sent in clear: use the journal's own id", masked)
	}
	if n := len(req.Attachments); n > maxAttachments {
		fault("attachments", "has %d files; attach at most %d to one message", n, maxAttachments)
		req.Attachments = req.Attachments[:maxAttachments]
	}
	for i := range req.Attachments {
		a := &req.Attachments[i]
		at := fmt.Sprintf("attachments[%d]", i)
		if strings.TrimSpace(a.Filename) == "" {
			fault(at+".filename", "is empty; name the file")
		} else if utf8.RuneCountInString(a.Filename) > maxFilenameRunes || hasControl(a.Filename) || strings.ContainsAny(a.Filename, `/\`) {
			fault(at+".filename", "must be a file name (no folder, no control characters, at most %d characters)", maxFilenameRunes)
		}
		if a.ContentType == "" {
			a.ContentType = "application/octet-stream"
		} else if mt, _, err := mime.ParseMediaType(a.ContentType); err != nil || !strings.Contains(mt, "/") || strings.HasPrefix(mt, "multipart/") {
			fault(at+".content_type", "%q is not a media type such as application/pdf", a.ContentType)
		}
		data, err := base64.StdEncoding.DecodeString(a.Content)
		if err != nil {
			fault(at+".content", "is not base64 (RFC 4648, with padding): %v", err)
		}
		a.data = data
	}
	if len(req.Recipients) == 0 {
		fault("recipients", "is empty; name at least one recipient")
	}
	for i, r := range req.Recipients {
		at := fmt.Sprintf("recipients[%d]", i)
		set := 0
		for _, v := range []string{r.Address, r.SMS, r.Email} {
			if v != "" {
				set++
			}
		}
		switch {
		case set != 1:
			fault(at, "give exactly one of address, sms or email")
		case r.Address != "" && len(r.Logins) > 0:
			fault(at+".logins", "goes with sms or email; in an address, write login= in it")
		}
	}
	return &req, faults, nil
}

// decodeObject reads body, one JSON object, into v: a field of the wrong
// type or one v does not have is a fault (unknown says what to write
// instead), anything else that is not one object errNotJSON.
func decodeObject(body []byte, v any, unknown string) ([]fieldError, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr) && typeErr.Field != "":
			return []fieldError{{Field: typeErr.Field, Detail: fmt.Sprintf("must be %s, not %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value)}}, nil
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			if name == "" {
				name = `""`
			}
			return []fieldError{{Field: name, Detail: unknown}}, nil
		}
		return nil, errNotJSON
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errNotJSON
	}
	return nil, nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f })
}

// jsonKind names a Go kind as JSON does.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return kind
}
