package notifier

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// OutboxFile is the log provider's file in the data folder.
const OutboxFile = "outbox.jsonl"

// LogProvider is sigill dev's provider for both channels: a decorator that
// appends each notification as one JSON line to <data>/outbox.jsonl
//
//	{"channel":"sms","to":"+46701234567","text":"...","link":"http://127.0.0.1:8080/m/<token>","message_id":"<vault id>","id":"log-<hex>"}
//
// and hands it on to the provider it wraps (LogAround), or, wrapping
// nothing (NewLogProvider, sigill dev), sends nothing. The message id and
// link of a line come from the send's Origin, not from the wire types. Its
// mail side (Mail) does the same for e-mails.
//
// As a Reconciler it asks the wrapped provider, or, wrapping nothing, finds
// an SMS in the file by its recipient and text, so that a job in doubt after
// a crash of sigill dev is not written twice. Delivery reports and
// readiness checks are the wrapped provider's (Unwrap).
// As an http.Handler it serves GET /dev/outbox: those lines, newest first.
// The file holds live links (tokens): it is for development only, and
// config refuses the log provider outside dev.
type LogProvider struct {
	path string
	mu   sync.Mutex
	sms  SMSProvider // nil: sends nothing
	mail MailSender  // nil: sends nothing
}

// logName is the log provider's name when it wraps nothing.
const logName = "log"

// OutboxEntry is one line of outbox.jsonl.
type OutboxEntry struct {
	Channel   string `json:"channel"`
	To        string `json:"to"`
	Text      string `json:"text"`
	Link      string `json:"link"`
	MessageID string `json:"message_id"`
	ID        string `json:"id,omitempty"` // the id Send returned
}

// NewLogProvider makes the data folder if need be and returns a provider
// that appends to dataDir/outbox.jsonl and sends nothing.
func NewLogProvider(dataDir string) (*LogProvider, error) { return LogAround(dataDir, nil, nil) }

// LogAround returns a log provider that appends every send to
// dataDir/outbox.jsonl and hands SMS on to sms and e-mails to mail (nil:
// sends nothing on that channel).
func LogAround(dataDir string, sms SMSProvider, mail MailSender) (*LogProvider, error) {
	if dataDir == "" {
		return nil, errors.New("log provider: no data folder")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("log provider: %w", err)
	}
	return &LogProvider{path: filepath.Join(dataDir, OutboxFile), sms: sms, mail: mail}, nil
}

// Path is the file the provider appends to.
func (l *LogProvider) Path() string { return l.path }

// Name is the wrapped provider's, so that its ids and reports match; "log"
// when it wraps nothing.
func (l *LogProvider) Name() string {
	if l.sms != nil {
		return l.sms.Name()
	}
	return logName
}

// Send hands m on and, once it is taken, appends its line with the id.
func (l *LogProvider) Send(ctx context.Context, m SMS) (string, error) {
	o, _ := OriginFrom(ctx)
	e := OutboxEntry{Channel: "sms", To: m.To, Text: m.Text, Link: o.Link, MessageID: o.MessageID}
	if l.sms != nil {
		id, err := l.sms.Send(ctx, m)
		if err != nil {
			return "", err
		}
		e.ID = id
	}
	return l.append(e)
}

// Lookup asks the wrapped provider, if it keeps a log (a wrapped provider
// without one cannot tell: not found); wrapping nothing,
// it finds an SMS to m.To with m.Text in the file. The file keeps no
// times, so since is not used: a text holds its job's link, and matches
// that job's SMS only.
func (l *LogProvider) Lookup(ctx context.Context, m SMS, since time.Time) (SentSMS, bool, error) {
	if l.sms != nil {
		if r, ok := l.sms.(Reconciler); ok {
			return r.Lookup(ctx, m, since)
		}
		return SentSMS{}, false, nil
	}
	entries, err := l.Entries(0)
	if err != nil {
		return SentSMS{}, false, fmt.Errorf("log provider: %w", err)
	}
	for _, e := range entries {
		if e.Channel == "sms" && e.To == m.To && e.Text == m.Text {
			return SentSMS{ID: e.ID}, true, nil
		}
	}
	return SentSMS{}, false, nil
}

// Unwrap is the wrapped SMS provider (nil: none), whose delivery reports
// and readiness check are the log provider's (see capability).
func (l *LogProvider) Unwrap() SMSProvider { return l.sms }

// Mail is the provider's mail side: a MailSender that appends each e-mail's
// line and hands it on to the wrapped mail sender.
func (l *LogProvider) Mail() MailSender { return logMail{l} }

type logMail struct{ l *LogProvider }

func (m logMail) Name() string {
	if m.l.mail != nil {
		return m.l.mail.Name()
	}
	return logName
}

// From is the wrapped sender's envelope sender, if it has one.
func (m logMail) From() string {
	if f, ok := m.l.mail.(interface{ From() string }); ok {
		return f.From()
	}
	return "noreply@localhost"
}

func (m logMail) SendMail(ctx context.Context, mail *Mail) (string, error) {
	o, _ := OriginFrom(ctx)
	e := OutboxEntry{Channel: "email", To: mail.To, Text: o.Text, Link: o.Link, MessageID: o.MessageID, ID: mail.HeaderID}
	if m.l.mail != nil {
		id, err := m.l.mail.SendMail(ctx, mail)
		if err != nil {
			return "", err
		}
		e.ID = id
	}
	return m.l.append(e)
}

// Unwrap is the wrapped mail sender (nil: none).
func (m logMail) Unwrap() MailSender { return m.l.mail }

// append writes one line with one write(2) to a file opened O_APPEND, so
// lines never interleave, also with another process reading or writing.
func (l *LogProvider) append(e OutboxEntry) (string, error) {
	if e.ID == "" {
		id := make([]byte, 8)
		rand.Read(id)
		e.ID = "log-" + hex.EncodeToString(id)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return "", Permanent(fmt.Errorf("log provider: %w", err))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return "", fmt.Errorf("log provider: %w", err)
	}
	_, err = f.Write(b.Bytes())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("log provider: %w", err)
	}
	return e.ID, nil
}

// Entries returns the file's lines, oldest first (malformed lines are
// skipped), at most the last max of them (max <= 0: all).
func (l *LogProvider) Entries(max int) ([]OutboxEntry, error) {
	f, err := os.Open(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []OutboxEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e OutboxEntry
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			out = append(out, e)
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if max > 0 && len(out) > max {
		out = out[len(out)-max:]
	}
	return out, nil
}

// pageLimit bounds the lines /dev/outbox shows.
const pageLimit = 500

var outboxPage = template.Must(template.New("outbox").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sigill dev: outbox</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .4rem; border-bottom: 1px solid #ccc; }
td.text { white-space: pre-wrap; max-width: 40rem; }
code { font-size: .85em; }
</style>
</head>
<body>
<h1>Outbox</h1>
<p>What the <code>log</code> provider would have sent, newest first ({{len .}} shown). sigill dev sends nothing.</p>
{{if .}}<table>
<thead><tr><th scope="col">Channel</th><th scope="col">To</th><th scope="col">Text</th><th scope="col">Link</th><th scope="col">Message</th></tr></thead>
<tbody>
{{range .}}<tr><td>{{.Channel}}</td><td>{{.To}}</td><td class="text">{{.Text}}</td><td><a href="{{.Link}}">{{.Link}}</a></td><td><code>{{.MessageID}}</code></td></tr>
{{end}}</tbody>
</table>{{else}}<p>Nothing yet.</p>{{end}}
</body>
</html>
`))

// ServeHTTP serves the /dev/outbox page: every value escaped, no script, no
// external assets.
func (l *LogProvider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	entries, err := l.Entries(pageLimit)
	if err != nil {
		http.Error(w, "cannot read the outbox file", http.StatusInternalServerError)
		return
	}
	slices.Reverse(entries)
	var b bytes.Buffer
	if err := outboxPage.Execute(&b, entries); err != nil {
		http.Error(w, "cannot render the outbox", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	w.Write(b.Bytes())
}
