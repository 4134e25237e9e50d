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
	"net/http"
	"net/url"
	"strings"
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
// message's id. 46elks takes no idempotency key, so a send whose answer is
// lost (a time-out, or a crash before the answer is recorded) may reach the
// phone twice when it is retried.
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
	body, status, err := exchange(e.client, "46elks", req)
	if err != nil {
		return "", err
	}
	var ans struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(body, &ans); err != nil || ans.ID == "" {
		return "", fmt.Errorf("46elks: HTTP %d without a message id: %s", status, snippet(body))
	}
	if ans.Status == "failed" {
		return "", Permanent(fmt.Errorf("46elks: message %s failed at once", ans.ID))
	}
	return ans.ID, nil
}

// exchange sends a provider's request and returns its answer when the
// status is 2xx; otherwise the error that says what the provider answered.
func exchange(c *http.Client, provider string, req *http.Request) (body []byte, status int, err error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", provider, redactURL(err))
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("%s: reading the answer: %w", provider, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
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
