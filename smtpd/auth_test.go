package smtpd

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// An IPv6 client picks its addresses from a whole /64: a new address in
// the same /64 must not bring new tries.
func TestAuthGateCountsIPv6ByPrefix(t *testing.T) {
	g := newAuthGate()
	var wg sync.WaitGroup
	for i := range authFailureBurst {
		wg.Go(func() { g.failed(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)})) })
	}
	wg.Wait()
	if g.open(netip.MustParseAddr("2001:db8::ff")) {
		t.Error("another address in the same /64 may try again after the burst")
	}
	if !g.open(netip.MustParseAddr("2001:db8:0:1::1")) {
		t.Error("another /64 is refused")
	}
	if !g.open(netip.MustParseAddr("192.0.2.1")) {
		t.Error("an IPv4 address with no failures is refused")
	}
}

// A password typed into the login field must not reach the log.
func TestFailedAuthLogsNoPassword(t *testing.T) {
	var log lockedBuffer
	g := startGateway(t, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&log, nil)) })
	const typo = "Sommar2026!"
	_, err := submit(t, g.submission, sasl.NewPlainClient("", typo, typo), staff, []string{goodRcpt}, "")
	wantCode(t, err, 535, smtp.EnhancedCode{5, 7, 8}, "wrong login or password")
	if out := log.String(); strings.Contains(out, typo) || !strings.Contains(out, "auth failed") {
		t.Errorf("log:\n%s", out)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
