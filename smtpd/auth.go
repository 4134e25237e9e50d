package smtpd

import (
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"golang.org/x/time/rate"
)

// authGate slows down and then stops password guessing, per client address
// (an IPv6 client by its /64, which one subscriber usually holds whole and
// can pick addresses from at will). Each failed login costs one token; an
// address with no token left is refused before its password is even
// checked, until a token comes back.
type authGate struct {
	mu       sync.Mutex
	failures map[netip.Prefix]*gateEntry
	swept    time.Time // when idle entries were last forgotten
}

type gateEntry struct {
	limiter *rate.Limiter
	seen    time.Time
}

const (
	authFailureBurst = 5                // failed logins an address may make at once
	authFailureEvery = time.Minute      // and then one more per this interval
	authFailureDelay = time.Second      // each failure answers this late
	authGateForget   = 15 * time.Minute // entries idle this long are dropped
)

func newAuthGate() *authGate { return &authGate{failures: map[netip.Prefix]*gateEntry{}} }

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

// open reports whether ip may try a password now.
func (g *authGate) open(ip netip.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	e, ok := g.failures[gateKey(ip)]
	return !ok || e.limiter.Tokens() >= 1
}

// failed records a failed login from ip.
func (g *authGate) failed(ip netip.Addr) {
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
				if now.Sub(old.seen) > authGateForget {
					delete(g.failures, addr)
				}
			}
		}
		e = &gateEntry{limiter: rate.NewLimiter(rate.Every(authFailureEvery), authFailureBurst)}
		g.failures[key] = e
	}
	e.seen = now
	e.limiter.AllowN(now, 1)
	g.mu.Unlock()
	time.Sleep(authFailureDelay)
}

// loginServer is the LOGIN mechanism, which go-sasl has only as a client.
// Outlook offers nothing else on many setups. It is not a standard (an
// expired draft, draft-murchison-sasl-login), but the exchange is fixed:
// "Username:" and "Password:" challenges, each answered in base64.
type loginServer struct {
	username     string
	haveUsername bool
	authenticate func(username, password string) error
}

var errLoginCancelled = errors.New("LOGIN: unexpected response")

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch {
	case !l.haveUsername && response == nil:
		return []byte("Username:"), false, nil
	case !l.haveUsername:
		l.username, l.haveUsername = string(response), true
		return []byte("Password:"), false, nil
	case response == nil:
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.authenticate(l.username, string(response))
	}
}

var _ sasl.Server = (*loginServer)(nil)
