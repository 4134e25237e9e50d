package authgate

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"sigill/internal/testenv"
)

const account = "anna@staff.test"

func newTestGate(t *testing.T, limits Limits) (*Gate, *testenv.Clock) {
	t.Helper()
	g := New(limits)
	g.Delay = 0
	clock := testenv.NewClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	g.now = clock.Now
	return g, clock
}

func addr(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}) }

// tryAll makes n tries at once, none ended, and returns those let through.
func tryAll(g *Gate, n int, ip func(i int) netip.Addr, account string) []*Try {
	var (
		mu     sync.Mutex
		passed []*Try
		wg     sync.WaitGroup
	)
	for i := range n {
		wg.Go(func() {
			if tr := g.Try(ip(i), account); tr != nil {
				mu.Lock()
				passed = append(passed, tr)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return passed
}

// Tries in flight count: forty at once from one address, none of them
// finished, let through only the burst.
func TestTriesInFlightCount(t *testing.T) {
	g, _ := newTestGate(t, Limits{})
	passed := tryAll(g, 40, func(int) netip.Addr { return addr(7) }, account)
	if len(passed) != DefaultBurst {
		t.Fatalf("%d of 40 simultaneous tries let through; want the burst, %d", len(passed), DefaultBurst)
	}
	for _, tr := range passed {
		tr.Failed()
	}
	if g.Try(addr(7), account) != nil {
		t.Error("a try let through after the burst failed")
	}
	if g.Try(addr(8), "bo@staff.test") == nil {
		t.Error("another address, at another account, is refused")
	}
}

// Forty addresses against one account get no more than one address would.
func TestAccountLimitAcrossAddresses(t *testing.T) {
	g, _ := newTestGate(t, Limits{})
	passed := tryAll(g, 40, addr, account)
	if len(passed) != DefaultBurst {
		t.Fatalf("%d of 40 tries from 40 addresses at one account let through; want %d", len(passed), DefaultBurst)
	}
	for _, tr := range passed {
		tr.Failed()
	}
	if g.Try(addr(100), "ANNA@staff.test") != nil {
		t.Error("the same account in other case is let through")
	}
	if g.Try(addr(100), "bo@staff.test") == nil {
		t.Error("another account is refused")
	}
}

// An address the owner logged in from lately still gets in while guessers
// from elsewhere have used up the account's tries; a new address waits.
func TestKnownGoodAddressGetsIn(t *testing.T) {
	g, clock := newTestGate(t, Limits{})
	office := addr(200)
	g.Try(office, account).Succeeded()
	clock.Advance(time.Hour)
	for _, tr := range tryAll(g, 40, addr, account) {
		tr.Failed()
	}
	if g.Try(addr(201), account) != nil {
		t.Fatal("a new address is let through while the account is under attack")
	}
	tr := g.Try(office, account)
	if tr == nil {
		t.Fatal("the owner's known-good address is refused while others guess at the account")
	}
	tr.Succeeded()
	// Known-good does not outlive KnownGoodFor (unless it logs in again).
	clock.Advance(KnownGoodFor)
	for _, tr := range tryAll(g, 40, addr, account) {
		tr.Failed()
	}
	if g.Try(office, account) != nil {
		t.Error("an address still known-good after KnownGoodFor without a login")
	}
}

// A known-good address is still limited as an address.
func TestKnownGoodAddressStillLimited(t *testing.T) {
	g, _ := newTestGate(t, Limits{})
	g.Try(addr(1), account).Succeeded()
	if passed := tryAll(g, 40, func(int) netip.Addr { return addr(1) }, account); len(passed) != DefaultBurst {
		t.Errorf("%d of 40 tries from a known-good address let through; want %d", len(passed), DefaultBurst)
	}
}

// A right password gives its tokens back; so does a check that could not
// be made. A wrong one does not.
func TestSuccessGivesTheTryBack(t *testing.T) {
	g, _ := newTestGate(t, Limits{Burst: 2})
	for i := range 10 {
		tr := g.Try(addr(1), account)
		if tr == nil {
			t.Fatalf("try %d refused though every earlier one succeeded or was abandoned", i+1)
		}
		if i%2 == 0 {
			tr.Succeeded()
		} else {
			tr.Abandoned()
		}
	}
	g.Try(addr(1), account).Failed()
	g.Try(addr(1), account).Failed()
	if g.Try(addr(1), account) != nil {
		t.Error("let through after two failures with Burst 2")
	}
}

func TestWindowRefills(t *testing.T) {
	g, clock := newTestGate(t, Limits{Burst: 3, Window: 10 * time.Second})
	if got := g.Limits(); got.Burst != 3 || got.Window != 10*time.Second {
		t.Fatalf("Limits() = %+v", got)
	}
	for range 3 {
		g.Try(addr(1), account).Failed()
	}
	if g.Try(addr(1), account) != nil {
		t.Fatal("let through after the burst")
	}
	clock.Advance(9 * time.Second)
	if g.Try(addr(1), account) != nil {
		t.Fatal("let through before a window passed")
	}
	clock.Advance(time.Second)
	tr := g.Try(addr(1), account)
	if tr == nil {
		t.Fatal("refused after a window")
	}
	tr.Failed()
	if g.Try(addr(1), account) != nil {
		t.Error("a window brought more than one try")
	}
}

// An IPv6 client picks its addresses from a whole /64: a new address in
// the same /64 must not bring new tries.
func TestIPv6CountsByPrefix(t *testing.T) {
	g, _ := newTestGate(t, Limits{})
	v6 := func(i int) netip.Addr { return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)}) }
	for i := range DefaultBurst {
		g.Try(v6(i), fmt.Sprintf("user%d@staff.test", i)).Failed()
	}
	if g.Try(netip.MustParseAddr("2001:db8::ff"), "other@staff.test") != nil {
		t.Error("another address in the same /64 may try again after the burst")
	}
	if g.Try(netip.MustParseAddr("2001:db8:0:1::1"), "other@staff.test") == nil {
		t.Error("another /64 is refused")
	}
	if g.Try(netip.MustParseAddr("192.0.2.1"), "other@staff.test") == nil {
		t.Error("an IPv4 address with no failures is refused")
	}
}

// Idle entries are forgotten once full again, and forgetting changes no
// answer.
func TestSweepForgetsOnlyFullBuckets(t *testing.T) {
	g, clock := newTestGate(t, Limits{Burst: 2, Window: time.Hour})
	for range 2 {
		g.Try(addr(1), account).Failed()
	}
	clock.Advance(2 * sweepEvery)
	if g.Try(addr(1), account) != nil {
		t.Fatal("a sweep gave an address its tries back early")
	}
	clock.Advance(2 * time.Hour)
	g.Try(addr(2), "bo@staff.test").Succeeded() // sweeps
	g.mu.Lock()
	_, kept := g.addresses[gateKey(addr(1))]
	g.mu.Unlock()
	if kept {
		t.Error("a full bucket was not forgotten")
	}
}
