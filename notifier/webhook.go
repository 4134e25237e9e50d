package notifier

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// SignatureHeader carries the webhook's HMAC-SHA256, both ways: on sigill's
// POSTs to the webhook and on the delivery reports it posts back.
const SignatureHeader = "X-Sigill-Signature"

// WebhookOptions configure the generic JSON webhook provider.
type WebhookOptions struct {
	URL    string       // where each SMS is POSTed
	Secret []byte       // HMAC-SHA256 key (notifier.sms.password_file)
	Client *http.Client // nil: a client made for providers
}

// Webhook hands each SMS to an HTTP endpoint of the organisation's choosing
// (its own SMS gateway, a queue) as JSON:
//
//	POST <url>
//	Content-Type: application/json
//	Idempotency-Key: <key>
//	X-Sigill-Signature: sha256=<hex HMAC-SHA256(secret, body)>
//
//	{"to":"+46701234567","from":"RegionEx","message":"...","idempotency_key":"<key>","report_url":"https://.../hooks/sms"}
//
// and expects a 2xx answer {"id":"<its id for the message>"}.
//
// The key is the contract by which a notification is sent at most once
// through the webhook. It is the same for every attempt at one notification
// ("sigill-<message id>-<recipient>"). The receiver must remember each key
// it has taken for at least notifier.max_age (48 h by default) and answer a
// request whose key it has seen with 2xx and the id it gave the first time,
// sending nothing. sigill sends a notification again with its key whenever
// it cannot know that an earlier attempt was taken (a crash before the
// answer was recorded, a lost answer, a 5xx): that repeat is how sigill
// reconciles a job in doubt with the webhook, and the id answered is
// recorded as the notification's. A receiver that ignores the key may send
// such a notification twice. Delivery reports come back to report_url as JSON
// {"id","status":"sent"|"delivered"|"failed","delivered":"<RFC 3339>"},
// signed the same way; reports whose signature does not verify are refused.
type Webhook struct {
	url    string
	secret []byte
	client *http.Client
}

// NewWebhook checks the options and returns the provider.
func NewWebhook(o WebhookOptions) (*Webhook, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("webhook: URL %q is not an http(s) URL", o.URL)
	}
	if len(o.Secret) < 16 {
		return nil, errors.New("webhook: the HMAC secret (notifier.sms.password_file) must be at least 16 bytes")
	}
	if o.Client == nil {
		o.Client = newHTTPClient()
	}
	return &Webhook{url: o.URL, secret: bytes.Clone(o.Secret), client: o.Client}, nil
}

func (w *Webhook) Name() string { return "webhook" }

// Sign returns the signature header value for body.
func (w *Webhook) Sign(body []byte) string { return Sign(w.secret, body) }

// Sign returns "sha256=" and the hex HMAC-SHA256 of body under secret, the
// value of SignatureHeader.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether header is the signature of body.
func (w *Webhook) Verify(body []byte, header string) bool {
	return hmac.Equal([]byte(strings.TrimSpace(header)), []byte(w.Sign(body)))
}

// ParseReport reads a delivery report of the webhook: JSON
// {"id","status","delivered"} with SignatureHeader over the body; its
// status words are the notifier's (ParseDeliveryStatus).
func (w *Webhook) ParseReport(r *http.Request, body []byte) (DeliveryReport, error) {
	if !w.Verify(body, r.Header.Get(SignatureHeader)) {
		return DeliveryReport{}, fmt.Errorf("webhook: %w: a bad or no signature", ErrReportForbidden)
	}
	if ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ctype != "application/json" {
		return DeliveryReport{}, fmt.Errorf("webhook: %w: %q", ErrReportMediaType, ctype)
	}
	var rep struct {
		ID        string `json:"id"`
		Status    string `json:"status"`
		Delivered string `json:"delivered"`
	}
	if err := json.Unmarshal(body, &rep); err != nil {
		return DeliveryReport{}, fmt.Errorf("webhook: %w: %v", ErrReportMalformed, err)
	}
	return DeliveryReport{ID: rep.ID, Status: ParseDeliveryStatus(rep.Status), Word: rep.Status, At: parseReportTime(rep.Delivered)}, nil
}

type webhookRequest struct {
	To             string `json:"to"`
	From           string `json:"from"`
	Message        string `json:"message"`
	IdempotencyKey string `json:"idempotency_key"`
	ReportURL      string `json:"report_url,omitempty"`
}

func (w *Webhook) Send(ctx context.Context, m SMS) (string, error) {
	body, err := json.Marshal(webhookRequest{To: m.To, From: m.From, Message: m.Text, IdempotencyKey: m.IdempotencyKey, ReportURL: m.ReportURL})
	if err != nil {
		return "", Permanent(fmt.Errorf("webhook: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return "", Permanent(fmt.Errorf("webhook: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Idempotency-Key", m.IdempotencyKey)
	req.Header.Set(SignatureHeader, w.Sign(body))
	ans, status, err := exchange(w.client, "webhook", req, answerLimit)
	if err != nil {
		return "", err
	}
	var a struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(ans, &a); err != nil || a.ID == "" {
		return "", InDoubt(fmt.Errorf("webhook: HTTP %d without an id: %s", status, snippet(ans)))
	}
	return a.ID, nil
}
