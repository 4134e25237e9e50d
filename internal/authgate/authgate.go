// Package authgate slows down and then stops password guessing, for every
// protocol that takes a staff password: one gate is shared by SMTP
// submission and IMAP (and the staff web), so a guesser gains nothing by
// switching.
//
// # What it counts
//
// Every try costs a token before its password is checked, and gets it back
// only when the password was right: tries still in flight count, so forty
// simultaneous guesses are forty tries, not forty passes of a gate that has
// seen no failure yet. Tokens are kept in two kinds of bucket, each holding
// Limits.Burst tokens and getting one back per Limits.Window:
//
//   - per client address (an IPv6 client by its /64, which one subscriber
//     usually holds whole and can pick addresses from at will), always;
//   - per account name, for tries from an address that is not known-good for
//     that account. An address is known-good for an account for
//     KnownGoodFor after a successful login as that account from it.
//
// So a guesser with many addresses gets Burst tries at one account, then one
// per Window, however many addresses it has; while the owner, from an
// address they logged in from lately (their office, their phone's network),
// still gets in, since a guesser cannot drain that address's bucket from
// elsewhere. Only a new address of the owner's waits with the guessers until
// the account's bucket refills. The gate lives in memory: a restart forgets
// tries and known-good addresses alike.
//
// A refused try is answered with the protocol's temporary refusal (SMTP 454
// 4.7.0, IMAP NO [UNAVAILABLE]) without the password being looked at; a
// failed one is answered Delay late.
package authgate

import (
	"crypto/sha256"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Limits are a gate's bucket sizes; a zero field takes its default.
type Limits struct {
	Burst  int           // tries an address (or an account) may make at once
	Window time.Duration // and then one more per this interval
}

const (
	DefaultBurst  = 5           // Limits.Burst when zero
	DefaultWindow = time.Minute // Limits.Window when zero
	DefaultDelay  = time.Second // each failure answers this late

	// KnownGoodFor is how long a successful login keeps its address
	// known-good for the account.
	KnownGoodFor = 30 * 24 * time.Hour
	// knownGoodPerAccount bounds the addresses remembered per account; the
	// oldest goes first.
	knownGoodPerAccount = 32
	// sweepEvery is how often idle entries are forgotten: now and then, not
	// on every try, so a flood from many addresses does not make each new
	// one scan the maps.
	sweepEvery = time.Minute
)

// Gate slows down and then stops password guessing. Its zero value is not
// usable; make one with New.
type Gate struct {
	// Delay is how late each failure is answered; New sets DefaultDelay.
	Delay time.Duration

	limits Limits
	now    func() time.Time

	mu        sync.Mutex
	addresses map[netip.Prefix]*bucket
	accounts  map[accountKey]*bucket
	knownGood map[accountKey]map[netip.Prefix]time.Time // when each address last logged in
	swept     time.Time
}

// accountKey is an account name as the gate keeps it: hashed, so that a
// guesser's long names cost the gate 32 bytes each.
type accountKey [sha256.Size]byte

func keyOf(account string) accountKey { return sha256.Sum256([]byte(strings.ToLower(account))) }

// New makes a gate with limits (a zero field takes its default).
func New(limits Limits) *Gate {
	if limits.Burst <= 0 {
		limits.Burst = DefaultBurst
	}
	if limits.Window <= 0 {
		limits.Window = DefaultWindow
	}
	return &Gate{
		Delay:     DefaultDelay,
		limits:    limits,
		now:       time.Now,
		addresses: map[netip.Prefix]*bucket{},
		accounts:  map[accountKey]*bucket{},
		knownGood: map[accountKey]map[netip.Prefix]time.Time{},
	}
}

// Limits are the gate's bucket sizes, defaults filled in.
func (g *Gate) Limits() Limits { return g.limits }

// gateKey is the part of ip the gate counts by: an IPv4 address as is, an
// IPv6 address by its /64.
func gateKey(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap()
	bits := ip.BitLen()
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// bucket is a token bucket: tokens as of at.
type bucket struct {
	tokens float64
	at     time.Time
}

func (g *Gate) fill(b *bucket, now time.Time) {
	if now.After(b.at) {
		b.tokens = min(float64(g.limits.Burst), b.tokens+float64(now.Sub(b.at))/float64(g.limits.Window))
		b.at = now
	}
}

// full reports whether b has every token back by now, so that forgetting it
// changes nothing.
func (g *Gate) full(b *bucket, now time.Time) bool {
	g.fill(b, now)
	return b.tokens >= float64(g.limits.Burst)
}

// take spends one of b's tokens, if it has one.
func (g *Gate) take(b *bucket, now time.Time) bool {
	g.fill(b, now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (g *Gate) giveBack(b *bucket, now time.Time) {
	g.fill(b, now)
	b.tokens = min(float64(g.limits.Burst), b.tokens+1)
}

// bucketOf returns m[k], a full bucket when m has none.
func bucketOf[K comparable](g *Gate, m map[K]*bucket, k K, now time.Time) *bucket {
	b, ok := m[k]
	if !ok {
		b = &bucket{tokens: float64(g.limits.Burst), at: now}
		m[k] = b
	}
	return b
}

// Try is one login try: made by Gate.Try, ended by exactly one of
// Succeeded, Failed or Abandoned.
type Try struct {
	g       *Gate
	address *bucket
	account *bucket // nil when the address is known-good for the account
	ip      netip.Prefix
	name    accountKey
	done    bool
}

// Try asks whether ip may try a password for account now. If so it spends
// the try's tokens and returns the Try, which the caller must end once the
// password is checked; if not it returns nil, and the caller refuses
// without checking the password.
func (g *Gate) Try(ip netip.Addr, account string) *Try {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	g.sweep(now)
	t := &Try{g: g, ip: gateKey(ip), name: keyOf(account)}
	t.address = bucketOf(g, g.addresses, t.ip, now)
	if !g.take(t.address, now) {
		return nil
	}
	if g.isKnownGood(t.name, t.ip, now) {
		return t
	}
	t.account = bucketOf(g, g.accounts, t.name, now)
	if !g.take(t.account, now) {
		g.giveBack(t.address, now)
		t.account = nil
		return nil
	}
	return t
}

func (g *Gate) isKnownGood(name accountKey, ip netip.Prefix, now time.Time) bool {
	at, ok := g.knownGood[name][ip]
	return ok && now.Sub(at) < KnownGoodFor
}

// Succeeded ends a try whose password was right: its tokens come back, and
// its address is known-good for the account from now on.
func (t *Try) Succeeded() {
	g := t.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if !t.end() {
		return
	}
	now := g.now()
	t.giveBack(now)
	good := g.knownGood[t.name]
	if good == nil {
		good = map[netip.Prefix]time.Time{}
		g.knownGood[t.name] = good
	}
	good[t.ip] = now
	if len(good) > knownGoodPerAccount {
		oldest, first := netip.Prefix{}, true
		for p, at := range good {
			if first || at.Before(good[oldest]) {
				oldest, first = p, false
			}
		}
		delete(good, oldest)
	}
}

// Abandoned ends a try whose password could not be checked (the store
// failed): its tokens come back, since the client guessed nothing.
func (t *Try) Abandoned() {
	t.g.mu.Lock()
	defer t.g.mu.Unlock()
	if t.end() {
		t.giveBack(t.g.now())
	}
}

// Failed ends a try whose password was wrong: its tokens stay spent. It
// returns after the gate's Delay.
func (t *Try) Failed() {
	t.g.mu.Lock()
	t.end()
	t.g.mu.Unlock()
	time.Sleep(t.g.Delay)
}

// end marks t ended and reports whether it was still open.
func (t *Try) end() bool {
	if t.done {
		return false
	}
	t.done = true
	return true
}

func (t *Try) giveBack(now time.Time) {
	t.g.giveBack(t.address, now)
	if t.account != nil {
		t.g.giveBack(t.account, now)
	}
}

// sweep forgets full buckets and expired known-good addresses, at most once
// per sweepEvery.
func (g *Gate) sweep(now time.Time) {
	if now.Sub(g.swept) < sweepEvery {
		return
	}
	g.swept = now
	for k, b := range g.addresses {
		if g.full(b, now) {
			delete(g.addresses, k)
		}
	}
	for k, b := range g.accounts {
		if g.full(b, now) {
			delete(g.accounts, k)
		}
	}
	for name, good := range g.knownGood {
		for p, at := range good {
			if now.Sub(at) >= KnownGoodFor {
				delete(good, p)
			}
		}
		if len(good) == 0 {
			delete(g.knownGood, name)
		}
	}
}
