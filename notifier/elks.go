package notifier

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// ElksOptions configure the 46elks provider.
type ElksOptions struct {
	URL      string       // e.g. https://api.46elks.com/a1/sms
	Username string       // API username (Basic auth)
	Password string       // API password (Basic auth)
	Client   *http.Client // nil: a client made for providers
}

// Elks sends through 46elks' SMS API: a form POST of from, to, message and
// whendelivered with Basic auth, answered with JSON that carries the
// message's id. 46elks takes no idempotency key; instead, before a job in
// doubt is sent again, Lookup searches the account's log of sent SMS (GET on
// the same URL, filtered by recipient and time, see Lookup): after a crash,
// and after a send whose answer was lost (a time-out, a broken connection).
//
// Delivery reports are form POSTs of id, status and delivered to the
// whendelivered URL. 46elks signs nothing, so the URL it is given carries a
// key (an HMAC of the API password) that ReportHandler checks: only 46elks,
// which saw the URL, can post reports that count.
type Elks struct {
	url, user, pass string
	reportKey       string
	client          *http.Client
}

// NewElks checks the options and returns the provider.
func NewElks(o ElksOptions) (*Elks, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("46elks: URL %q is not an http(s) URL", o.URL)
	}
	if o.Username == "" || o.Password == "" {
		return nil, errors.New("46elks: username and password are required (notifier.sms.username, notifier.sms.password_file)")
	}
	if o.Client == nil {
		o.Client = newHTTPClient()
	}
	mac := hmac.New(sha256.New, []byte(o.Password))
	mac.Write([]byte("sigill 46elks delivery reports"))
	return &Elks{
		url: o.URL, user: o.Username, pass: o.Password,
		reportKey: hex.EncodeToString(mac.Sum(nil))[:32],
		client:    o.Client,
	}, nil
}

func (e *Elks) Name() string { return "46elks" }

// reportURL adds the report key to the configured delivery report URL.
func (e *Elks) reportURL(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	q := u.Query()
	q.Set("key", e.reportKey)
	u.RawQuery = q.Encode()
	return u.String()
}

// checkReportKey reports whether a delivery report's URL carries the key.
func (e *Elks) checkReportKey(r *http.Request) bool {
	return hmac.Equal([]byte(r.URL.Query().Get("key")), []byte(e.reportKey))
}

// ParseReport reads a delivery report of 46elks: a form
// (application/x-www-form-urlencoded) of id, status and delivered (UTC
// time), posted to the whendelivered URL, which must carry the report key.
func (e *Elks) ParseReport(r *http.Request, body []byte) (DeliveryReport, error) {
	if !e.checkReportKey(r) {
		return DeliveryReport{}, fmt.Errorf("46elks: %w: no or a wrong key", ErrReportForbidden)
	}
	if ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ctype != "application/x-www-form-urlencoded" {
		return DeliveryReport{}, fmt.Errorf("46elks: %w: %q", ErrReportMediaType, ctype)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return DeliveryReport{}, fmt.Errorf("46elks: %w: %v", ErrReportMalformed, err)
	}
	word := form.Get("status")
	return DeliveryReport{
		ID: form.Get("id"), Status: elksStatus(word), Word: word,
		At: parseReportTime(form.Get("delivered")),
	}, nil
}

// elksStatus maps 46elks' status words onto the notifier's.
func elksStatus(word string) DeliveryStatus {
	switch word {
	case "created", "sent":
		return StatusSent
	case "delivered":
		return StatusDelivered
	case "failed":
		return StatusFailed
	}
	return StatusUnknown
}

func (e *Elks) Send(ctx context.Context, m SMS) (string, error) {
	form := url.Values{"from": {m.From}, "to": {m.To}, "message": {m.Text}}
	if m.ReportURL != "" {
		form.Set("whendelivered", e.reportURL(m.ReportURL))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, strings.NewReader(form.Encode()))
	if err != nil {
		return "", Permanent(fmt.Errorf("46elks: %w", err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(e.user, e.pass)
	body, status, err := exchange(e.client, "46elks", req, answerLimit)
	if err != nil {
		return "", err
	}
	var ans struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(body, &ans); err != nil || ans.ID == "" {
		return "", InDoubt(fmt.Errorf("46elks: HTTP %d without a message id: %s", status, snippet(body)))
	}
	if ans.Status == "failed" {
		return "", Permanent(fmt.Errorf("46elks: message %s failed at once", ans.ID))
	}
	return ans.ID, nil
}

// Lookup searches 46elks' log of SMS (GET /a1/sms: newest first, at most
// 100 a page, each page's "next" the start of the next, older one) for an
// outgoing SMS to m.To with m.Text, created at or after since less
// lookupSkew; the query names the recipient and the oldest time (46elks'
// "end"), so only that number's SMS of the window are read. The text is
// compared, never logged. It relies on the account's log keeping message
// texts (46elks drops them only for SMS sent with dontlog=message, which
// sigill does not use).
func (e *Elks) Lookup(ctx context.Context, m SMS, since time.Time) (SentSMS, bool, error) {
	q := url.Values{
		"to":    {m.To},
		"end":   {since.Add(-lookupSkew).UTC().Format(elksTime)},
		"limit": {"100"},
	}
	prev := ""
	for range lookupPages {
		u := e.url + "?" + q.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return SentSMS{}, false, Permanent(fmt.Errorf("46elks lookup: %w", err))
		}
		req.Header.Set("Accept", "application/json")
		req.SetBasicAuth(e.user, e.pass)
		body, status, err := exchange(e.client, "46elks lookup", req, historyLimit)
		if err != nil {
			return SentSMS{}, false, err
		}
		sent, found, next, err := searchElksPage(body, m)
		switch {
		case err != nil:
			return SentSMS{}, false, fmt.Errorf("46elks lookup: HTTP %d: %w", status, err)
		case found:
			return sent, true, nil
		case next == "" || next == prev:
			return SentSMS{}, false, nil
		}
		// 46elks does not say whether start is inclusive, nor whether
		// next is the last SMS given or the first one not given: a
		// microsecond later reads one SMS twice at worst, and skips none.
		t, err := time.ParseInLocation("2006-01-02T15:04:05.999999", next, time.UTC)
		if err != nil {
			return SentSMS{}, false, fmt.Errorf("46elks lookup: next page %q is not a time", snippet([]byte(next)))
		}
		prev = next
		q.Set("start", t.Add(time.Microsecond).Format(elksTime))
	}
	return SentSMS{}, false, fmt.Errorf("46elks lookup: more than %d pages of SMS to one number since %s", lookupPages, since.UTC().Format(time.RFC3339))
}

// searchElksPage reads one page of 46elks' SMS log and looks for the
// outgoing SMS to m.To with m.Text; next is the page's "next", "" on the
// last page.
func searchElksPage(body []byte, m SMS) (sent SentSMS, found bool, next string, err error) {
	var page struct {
		Data []struct {
			ID        string `json:"id"`
			Direction string `json:"direction"`
			To        string `json:"to"`
			Message   string `json:"message"`
			Status    string `json:"status"`
			Delivered string `json:"delivered"`
		} `json:"data"`
		Next string `json:"next"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return SentSMS{}, false, "", fmt.Errorf("not a page of SMS: %v", err)
	}
	for _, d := range page.Data {
		if d.Direction == "outgoing" && d.To == m.To && d.Message == m.Text && d.ID != "" {
			return SentSMS{ID: d.ID, Status: elksStatus(d.Status), At: parseReportTime(d.Delivered)}, true, "", nil
		}
	}
	return SentSMS{}, false, page.Next, nil
}

const (
	// lookupSkew widens a lookup's window for the difference between
	// sigill's clock and 46elks'.
	lookupSkew = time.Minute
	// lookupPages bounds one lookup: 100 SMS a page.
	lookupPages = 20
	// elksTime is how 46elks writes times: UTC, microseconds, no zone.
	elksTime = "2006-01-02T15:04:05.000000"
)

// Limits on a provider's answer: a send's, and a page of 46elks' SMS log
// (100 SMS with their texts).
const (
	answerLimit  = 64 << 10
	historyLimit = 1 << 20
)

// exchange sends a provider's request and returns its answer, at most
// limit bytes of it, when the status is 2xx; otherwise the error that says
// what the provider answered.
// A failure after the request was written whole, or while a 2xx answer
// was read, is in doubt (see InDoubtError).
func exchange(c *http.Client, provider string, req *http.Request, limit int64) (body []byte, status int, err error) {
	var written atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		WroteRequest: func(w httptrace.WroteRequestInfo) { written.Store(w.Err == nil) },
	}))
	resp, err := c.Do(req)
	if err != nil {
		err = fmt.Errorf("%s: %w", provider, redactURL(err))
		if written.Load() {
			err = InDoubt(err)
		}
		return nil, 0, err
	}
	defer resp.Body.Close()
	ok := resp.StatusCode >= 200 && resp.StatusCode <= 299
	body, err = io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		err = fmt.Errorf("%s: reading the answer: %w", provider, err)
		if ok {
			err = InDoubt(err)
		}
		return nil, resp.StatusCode, err
	}
	if !ok {
		return nil, resp.StatusCode, statusError(provider, resp.StatusCode, body)
	}
	return body, resp.StatusCode, nil
}

// redactURL keeps an error from carrying a URL's query or user info (a
// report key, credentials): *url.Error prints the URL it failed on.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			u.User, u.RawQuery = nil, ""
			return &url.Error{Op: ue.Op, URL: u.String(), Err: ue.Err}
		}
	}
	return err
}
