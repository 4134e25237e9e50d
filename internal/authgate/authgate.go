// Package authgate slows down and then stops password guessing, per client
// address, for every protocol that takes a staff password: one gate is shared
// by SMTP submission and IMAP, so a guesser gains nothing by switching.
package authgate

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Gate slows down and then stops password guessing, per client address
// (an IPv6 client by its /64, which one subscriber usually holds whole and
// can pick addresses from at will). Each failed login costs one token; an
// address with no token left is refused before its password is even
// checked, until a token comes back.
type Gate struct {
	// Delay is how late each failure is answered; New sets DefaultDelay.
	Delay time.Duration

	mu       sync.Mutex
	failures map[netip.Prefix]*gateEntry
	swept    time.Time // when idle entries were last forgotten
}

type gateEntry struct {
	limiter *rate.Limiter
	seen    time.Time
}

const (
	Burst        = 5                // failed logins an address may make at once
	Every        = time.Minute      // and then one more per this interval
	DefaultDelay = time.Second      // each failure answers this late
	forget       = 15 * time.Minute // entries idle this long are dropped
)

func New() *Gate { return &Gate{Delay: DefaultDelay, failures: map[netip.Prefix]*gateEntry{}} }

// gateKey is the part of ip the gate counts by: an IPv4 address as is, an
// IPv6 address by its /64.
func gateKey(ip netip.Addr) netip.Prefix {
	bits := ip.BitLen()
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// Open reports whether ip may try a password now.
func (g *Gate) Open(ip netip.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	e, ok := g.failures[gateKey(ip)]
	return !ok || e.limiter.Tokens() >= 1
}

// Failed records a failed login from ip, and returns after Delay.
func (g *Gate) Failed(ip netip.Addr) {
	g.mu.Lock()
	now := time.Now()
	key := gateKey(ip)
	e, ok := g.failures[key]
	if !ok {
		// Forget idle addresses now and then, not on every failure: a flood
		// from many addresses must not make each new one scan the map.
		if now.Sub(g.swept) > time.Minute {
			g.swept = now
			for addr, old := range g.failures {
				if now.Sub(old.seen) > forget {
					delete(g.failures, addr)
				}
			}
		}
		e = &gateEntry{limiter: rate.NewLimiter(rate.Every(Every), Burst)}
		g.failures[key] = e
	}
	e.seen = now
	e.limiter.AllowN(now, 1)
	g.mu.Unlock()
	time.Sleep(g.Delay)
}
