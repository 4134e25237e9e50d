package notifier

import (
	"math"
	"time"
)

// The retry schedule: base·2^(attempt−1), at most backoffCap.
const (
	backoffBase = 30 * time.Second
	backoffCap  = time.Hour
)

// Backoff is the wait after the attempt-th failed attempt (1 for the
// first): exponential, d = 30 s · 2^(attempt−1) capped at one hour, with
// equal jitter — uniform in [d/2, d] for r uniform in [0, 1] — so that jobs
// that failed together (a provider outage) do not all come back at once, yet
// none comes back at once either. It is computed in float seconds (no
// integer truncation of the jitter, no overflow for large attempts) and is
// never negative; r outside [0, 1] is clamped.
func Backoff(attempt int, r float64) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if !(r >= 0) { // also NaN
		r = 0
	}
	if r > 1 {
		r = 1
	}
	d := math.Min(backoffBase.Seconds()*math.Pow(2, float64(attempt-1)), backoffCap.Seconds())
	secs := d/2 + r*d/2
	return time.Duration(secs * float64(time.Second))
}

// Webhooks (the REST API's, kind "webhook") keep their own schedule, the
// one Standard Webhooks 1.0 suggests: a retry after 5 s, 5 min, 30 min,
// 2 h, 5 h, then every 10 h, until WebhookMaxAge after the event, when
// the last attempt is made and the job is dropped. It does not follow
// notifier.max_age: a client's endpoint may be down for a day, and the
// contract (api.md) promises 24 hours at the least.
var webhookSchedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour}

// WebhookMaxAge is how long a webhook delivery is retried.
const WebhookMaxAge = 26 * time.Hour

// webhookProvider names webhook deliveries in sigill_notifier_sends_total.
const webhookProvider = "api_webhook"

// WebhookBackoff is the wait after the attempt-th failed delivery of a
// webhook: the schedule's step, with equal jitter as Backoff has.
func WebhookBackoff(attempt int, r float64) time.Duration {
	attempt = min(max(attempt, 1), len(webhookSchedule))
	if !(r >= 0) {
		r = 0
	}
	r = min(r, 1)
	d := webhookSchedule[attempt-1].Seconds()
	return time.Duration((d/2 + r*d/2) * float64(time.Second))
}
