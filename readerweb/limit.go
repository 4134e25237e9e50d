package readerweb

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiterSet is one token bucket per key (a client IP, a token's hash).
// A bucket that has been idle long enough to be full again is forgotten:
// a new one starts full too, so forgetting it changes nothing. The number of
// keys is capped; past the cap, idle buckets go first and then arbitrary
// ones (a flood of new keys cannot grow memory without bound).
type limiterSet struct {
	limit rate.Limit
	burst int
	max   int
	idle  time.Duration // time to refill from empty

	mu sync.Mutex
	m  map[string]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiterSet(limit rate.Limit, burst, max int) *limiterSet {
	return &limiterSet{
		limit: limit,
		burst: burst,
		max:   max,
		idle:  time.Duration(float64(burst) / float64(limit) * float64(time.Second)),
		m:     make(map[string]*bucket),
	}
}

// allow takes n tokens from key's bucket at now.
func (l *limiterSet) allow(key string, now time.Time, n int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[key]
	if b == nil {
		if len(l.m) >= l.max {
			l.evictLocked(now, true)
		}
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.m[key] = b
	}
	b.seen = now
	return b.lim.AllowN(now, n)
}

// sweep forgets idle buckets.
func (l *limiterSet) sweep(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evictLocked(now, false)
}

func (l *limiterSet) evictLocked(now time.Time, full bool) {
	for k, b := range l.m {
		if now.Sub(b.seen) >= l.idle {
			delete(l.m, k)
		}
	}
	if !full {
		return
	}
	// Still at the cap: drop arbitrary buckets (map order is random) to 90 %.
	for k := range l.m {
		if len(l.m) < l.max*9/10 {
			break
		}
		delete(l.m, k)
	}
}

func (l *limiterSet) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// limits are the reader's rate limits; see the package documentation. The
// token and tokenOrders sets are keyed by linkClientKey, link and
// linkOrders by tokenKey.
type limits struct {
	ip, ipOrders, token, tokenOrders, link, linkOrders *limiterSet
	replies                                            *limiterSet // by tokenKey
}

const maxLimiterKeys = 100_000

func defaultLimits() *limits {
	return &limits{
		ip:          newLimiterSet(20, 100, maxLimiterKeys),
		ipOrders:    newLimiterSet(1, 20, maxLimiterKeys),
		token:       newLimiterSet(5, 30, maxLimiterKeys),
		tokenOrders: newLimiterSet(rate.Every(10*time.Second), 5, maxLimiterKeys),
		link:        newLimiterSet(50, 300, maxLimiterKeys),
		linkOrders:  newLimiterSet(1, 20, maxLimiterKeys),
		replies:     newLimiterSet(rate.Every(20*time.Second), 5, maxLimiterKeys),
	}
}

// linkClientKey is the key of one client's budget on one link.
func linkClientKey(tokenKey, ipKey string) string { return tokenKey + "\x00" + ipKey }

// allowLink takes one request (or, with orders, one order start) from the
// client's budget on the link and from the link's total.
func (l *limits) allowLink(tokenKey, ipKey string, now time.Time, orders bool) bool {
	client, total := l.token, l.link
	if orders {
		client, total = l.tokenOrders, l.linkOrders
	}
	return client.allow(linkClientKey(tokenKey, ipKey), now, 1) && total.allow(tokenKey, now, 1)
}

func (l *limits) sweep(now time.Time) {
	for _, s := range []*limiterSet{l.ip, l.ipOrders, l.token, l.tokenOrders, l.link, l.linkOrders, l.replies} {
		s.sweep(now)
	}
}
