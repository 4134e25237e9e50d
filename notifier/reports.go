package notifier

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"sigill/vault"
)

// maxReportBytes bounds a delivery report's body.
const maxReportBytes = 16 << 10

// ReportHandler answers POST /hooks/sms, where providers post delivery
// reports:
//
//   - 46elks: a form (application/x-www-form-urlencoded) of id, status
//     ("sent", "delivered" or "failed") and delivered (UTC time). When the
//     provider is Elks, the URL must carry the key Elks put in whendelivered
//     (403 otherwise).
//   - webhook: JSON {"id","status","delivered"} with SignatureHeader over
//     the body; without a Webhook provider, or with a bad signature, 403.
//
// "delivered" and "failed" become events once per notification; "sent",
// repeats and anything after the first final report change nothing. An id
// the vault does not know gets 200 (a provider would only retry) and a log
// line, as does an unknown status. A vault fault is 503, so the provider
// tries again later.
func (n *Notifier) ReportHandler() http.Handler {
	return http.HandlerFunc(n.serveReport)
}

type webhookReport struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	Delivered string `json:"delivered"`
}

func (n *Notifier) serveReport(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxReportBytes))
	if err != nil {
		http.Error(w, "report too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var provider, id, status, delivered string
	switch ctype {
	case "application/x-www-form-urlencoded":
		if e, ok := n.sms.(*Elks); ok && !e.checkReportKey(r) {
			n.log.Warn("notifier: delivery report without the right key refused", "remote", r.RemoteAddr)
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			http.Error(w, "malformed form", http.StatusBadRequest)
			return
		}
		provider, id, status, delivered = "46elks", form.Get("id"), form.Get("status"), form.Get("delivered")
	case "application/json":
		wh, ok := n.sms.(*Webhook)
		if !ok || !wh.Verify(body, r.Header.Get(SignatureHeader)) {
			n.log.Warn("notifier: webhook delivery report with a bad or no signature refused", "remote", r.RemoteAddr)
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		var rep webhookReport
		if err := json.Unmarshal(body, &rep); err != nil {
			http.Error(w, "malformed JSON", http.StatusBadRequest)
			return
		}
		provider, id, status, delivered = "webhook", rep.ID, rep.Status, rep.Delivered
	default:
		http.Error(w, "form or JSON only", http.StatusUnsupportedMediaType)
		return
	}
	if id == "" || len(id) > 200 {
		http.Error(w, "no id", http.StatusBadRequest)
		return
	}
	log := n.log.With("provider", provider, "provider_id", id, "status", status)
	switch status {
	case vault.StatusSent, vault.StatusDelivered, vault.StatusFailed:
	default:
		log.Warn("notifier: delivery report with an unknown status ignored")
		w.WriteHeader(http.StatusOK)
		return
	}
	kind, err := n.v.ReportDelivery(provider, id, status, parseReportTime(delivered))
	switch {
	case errors.Is(err, vault.ErrNotFound):
		log.Info("notifier: delivery report for an unknown id ignored")
	case err != nil:
		log.Error("notifier: cannot record a delivery report", "err", err)
		http.Error(w, "try again later", http.StatusServiceUnavailable)
		return
	case kind != "":
		log.Info("notifier: delivery reported", "event", string(kind))
	default:
		log.Debug("notifier: delivery report changes nothing")
	}
	w.WriteHeader(http.StatusOK)
}

// parseReportTime reads a provider's delivery time: RFC 3339, or 46elks'
// UTC time without a zone ("2026-03-02T09:30:05.123456"). Zero when absent
// or unreadable: the vault then uses its own clock.
func parseReportTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t
		}
	}
	return time.Time{}
}
