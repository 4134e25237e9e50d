package testenv

import (
	"net"
	"testing"
)

// LoopbackSource is the i-th loopback client address, 127.0.0.(i+2): on
// Linux the whole 127.0.0.0/8 is loopback, so a test can play many clients
// from many addresses against a server on 127.0.0.1 (i from 0 to 253).
func LoopbackSource(i int) net.IP { return net.IPv4(127, 0, 0, byte(i+2)) }

// DialFrom connects to addr (a TCP address on 127.0.0.1) from the source
// address from; the connection is closed when the test ends.
func DialFrom(t testing.TB, from net.IP, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: from}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, from, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
