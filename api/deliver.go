package api

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigill/apikey"
	"sigill/internal/egress"
	"sigill/vault"
)

// Deliverer makes one attempt at a webhook job (JobWebhook) as Standard
// Webhooks 1.0 has it: the event as JSON, POSTed with webhook-id (the same
// for every attempt at one event and endpoint, by which a receiver drops a
// delivery it already has), webhook-timestamp (this attempt's, Unix
// seconds) and webhook-signature ("v1," and the base64 HMAC-SHA256 of
// id.timestamp.body under each live secret, space-separated, the newest
// first). Every connection passes the SSRF guard. cmd wires Deliver into
// the notifier (notifier.Options.Webhook), which schedules the retries.
type Deliverer struct {
	v      *vault.Vault
	client *http.Client
	log    *slog.Logger
}

// NewDeliverer makes the Deliverer; guard is the one the API registers
// endpoints under.
func NewDeliverer(v *vault.Vault, guard *egress.Guard, log *slog.Logger) *Deliverer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Deliverer{v: v, client: guard.Client(30 * time.Second), log: log}
}

// webhookPayload is a delivery's body.
type webhookPayload struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      feedEvent `json:"data"`
}

// webhookID is a delivery's webhook-id: one per endpoint and event.
func webhookID(endpointID string, seq uint64) string { return endpointID + "_" + eventCursor(seq) }

// signWebhook is webhook-signature's value for id, timestamp and body.
func signWebhook(keys [][]byte, id, timestamp string, body []byte) string {
	sigs := make([]string, 0, len(keys))
	for _, k := range keys {
		mac := hmac.New(sha256.New, k)
		mac.Write([]byte(id + "." + timestamp + "."))
		mac.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(sigs, " ")
}

// Deliver makes one attempt at j. An error wrapping vault.ErrNotFound
// (the endpoint was deleted, its account disabled or gone, the event
// purged) drops the job; any other is retried.
func (d *Deliverer) Deliver(ctx context.Context, j vault.Job) error {
	var (
		ep   endpoint
		body []byte
		now  time.Time
	)
	err := d.v.View(slices.Concat(tables, apikey.Tables), func(tx vault.Tx) error {
		now = tx.Now()
		l, err := tx.Letter(j.MessageID, j.Recipient)
		if err != nil {
			return err
		}
		raw, err := tx.Table(tableWebhooks).Get(endpointKey(l.Owner(), j.To))
		if err != nil {
			return err
		}
		if raw == nil {
			return fmt.Errorf("webhook %s was deleted: %w", j.To, vault.ErrNotFound)
		}
		if err := json.Unmarshal(raw, &ep); err != nil {
			return err
		}
		if live, err := endpointLive(tx, ep); err != nil || !live {
			return errors.Join(err, fmt.Errorf("webhook %s: its account is disabled or gone: %w", ep.ID, vault.ErrNotFound))
		}
		if ended, err := apikey.Ended(tx, ep.Key); err != nil || ended {
			return errors.Join(err, fmt.Errorf("webhook %s: the API key that made it is revoked: %w", ep.ID, vault.ErrNotFound))
		}
		ev, err := tx.Event(j.Event)
		if err != nil {
			return err
		}
		ref, err := referenceOf(tx, ev.MessageID)
		if err != nil {
			return err
		}
		body, err = json.Marshal(webhookPayload{Type: webhookTypes[ev.Kind], Timestamp: ev.At.UTC(), Data: feedEventOf(ev, ref, !ep.Audit)})
		return err
	})
	if err != nil {
		return err
	}
	id := webhookID(ep.ID, j.Event)
	ts := strconv.FormatInt(now.Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %s: %w", ep.ID, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sigill-webhooks/1")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", signWebhook(ep.live(now), id, ts, body))
	resp, err := d.client.Do(req)
	if err != nil {
		outcome := attemptUnreachable
		if errors.Is(err, egress.ErrRefused) {
			outcome = attemptRefused
		}
		webhookAttempts.WithLabelValues(outcome).Inc()
		// Without the URL, which may carry the receiver's own token.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("webhook %s: %w", ep.ID, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		webhookAttempts.WithLabelValues(attemptHTTPError).Inc()
		return fmt.Errorf("webhook %s: HTTP %d", ep.ID, resp.StatusCode)
	}
	webhookAttempts.WithLabelValues(attemptDelivered).Inc()
	return nil
}
