package authgate

import (
	"net/netip"
	"sync"
	"testing"
)

// An IPv6 client picks its addresses from a whole /64: a new address in
// the same /64 must not bring new tries.
func TestIPv6CountsByPrefix(t *testing.T) {
	g := New()
	g.Delay = 0
	var wg sync.WaitGroup
	for i := range Burst {
		wg.Go(func() { g.Failed(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)})) })
	}
	wg.Wait()
	if g.Open(netip.MustParseAddr("2001:db8::ff")) {
		t.Error("another address in the same /64 may try again after the burst")
	}
	if !g.Open(netip.MustParseAddr("2001:db8:0:1::1")) {
		t.Error("another /64 is refused")
	}
	if !g.Open(netip.MustParseAddr("192.0.2.1")) {
		t.Error("an IPv4 address with no failures is refused")
	}
}

func TestBurstThenRefused(t *testing.T) {
	g := New()
	g.Delay = 0
	ip := netip.MustParseAddr("192.0.2.7")
	for range Burst {
		if !g.Open(ip) {
			t.Fatal("refused before the burst was used")
		}
		g.Failed(ip)
	}
	if g.Open(ip) {
		t.Error("still open after the burst of failures")
	}
	if !g.Open(netip.MustParseAddr("192.0.2.8")) {
		t.Error("a neighbour is refused")
	}
}
