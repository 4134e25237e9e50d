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
