package notifier

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"sigill/vault"
)

// maxReportBytes bounds a delivery report's body.
const maxReportBytes = 16 << 10

// ReportHandler answers POST /hooks/sms, where the SMS provider posts
// delivery reports. The provider parses its own (ReportParser): 46elks a
// form with the key Elks put in whendelivered, the webhook signed JSON (see
// Elks.ParseReport, Webhook.ParseReport); a report it does not vouch for is
// 403, one of another media type 415, a malformed one 400, and a provider
// that takes no reports (the dev log) 404. Reports are recorded under the
// name the provider declares.
//
// "delivered" and "failed" become events once per notification; "sent",
// repeats and anything after the first final report change nothing. An id
// the vault does not know gets 200 (a provider would only retry) and a log
// line, as does an unknown status. A vault fault is 503, so the provider
// tries again later.
func (n *Notifier) ReportHandler() http.Handler {
	return http.HandlerFunc(n.serveReport)
}

func (n *Notifier) serveReport(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	parser, ok := capability[ReportParser](n.sms)
	if !ok {
		http.Error(w, "the SMS provider posts no delivery reports", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxReportBytes))
	if err != nil {
		http.Error(w, "report too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	rep, err := parser.ParseReport(r, body)
	switch {
	case errors.Is(err, ErrReportForbidden):
		n.log.Warn("notifier: delivery report refused", "err", err, "remote", r.RemoteAddr)
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	case errors.Is(err, ErrReportMediaType):
		http.Error(w, "not a report of the provider's media type", http.StatusUnsupportedMediaType)
		return
	case err != nil:
		http.Error(w, "malformed report", http.StatusBadRequest)
		return
	}
	if rep.ID == "" || len(rep.ID) > 200 {
		http.Error(w, "no id", http.StatusBadRequest)
		return
	}
	provider := parser.Name()
	log := n.log.With("provider", provider, "provider_id", rep.ID, "status", snippet([]byte(rep.Word)))
	if rep.Status == StatusUnknown {
		log.Warn("notifier: delivery report with an unknown status ignored")
		w.WriteHeader(http.StatusOK)
		return
	}
	kind, err := n.recordDelivery(provider, rep.ID, rep.Status, rep.At)
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
