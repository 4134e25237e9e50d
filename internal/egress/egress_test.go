package egress

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

func TestCheckIP(t *testing.T) {
	g, err := New([]string{"10.20.0.0/16", "192.0.2.7"}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ip      string
		refused bool
	}{
		{"127.0.0.1", true}, {"::1", true}, {"::ffff:127.0.0.1", true},
		{"10.0.0.1", true}, {"172.16.5.5", true}, {"192.168.1.1", true}, {"fd00::1", true},
		{"100.64.0.1", true}, {"169.254.169.254", true}, {"fe80::1", true},
		{"0.0.0.0", true}, {"::", true}, {"224.0.0.1", true},
		{"64:ff9b::a9fe:a9fe", true}, {"64:ff9b::7f00:1", true}, {"64:ff9b::a00:1", true}, // NAT64 of internal IPv4
		{"64:ff9b::5db8:d70e", false},              // NAT64 of 93.184.215.14
		{"10.20.3.4", false}, {"192.0.2.7", false}, // allowed
		{"93.184.215.14", false}, {"2606:4700::1111", false},
	} {
		err := g.CheckIP(netip.MustParseAddr(c.ip))
		if (err != nil) != c.refused || (err != nil && !errors.Is(err, ErrRefused)) {
			t.Errorf("%s: %v, want refused %v", c.ip, err, c.refused)
		}
	}
	dev, _ := New(nil, true)
	if err := dev.CheckIP(netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Errorf("dev refuses loopback: %v", err)
	}
	if err := dev.CheckIP(netip.MustParseAddr("10.0.0.1")); err == nil {
		t.Error("dev lets a private address through")
	}
}

func TestAllowList(t *testing.T) {
	for _, bad := range []string{"", "http://x", "a..b", "*", "*.", "10.0.0.0/33", "-a.example"} {
		if CheckAllow([]string{bad}) == nil {
			t.Errorf("%q was taken", bad)
		}
	}
	g, err := New([]string{"hooks.internal.example", "*.svc.example", "fd00::/8"}, false)
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"hooks.internal.example": true, "HOOKS.internal.example.": true, "a.svc.example": true,
		"svc.example": false, "evil-hooks.internal.example": false, "internal.example": false,
		"fd12::1": true, "fe80::1": false,
	} {
		if g.HostAllowed(host) != want {
			t.Errorf("HostAllowed(%q) = %v", host, !want)
		}
	}
}

func TestCheckURL(t *testing.T) {
	g, _ := New(nil, false)
	for _, raw := range []string{"https://127.0.0.1/h", "https://[::1]:8443/h", "http://10.1.2.3/", "https://169.254.169.254/latest/meta-data/", "https://localhost/x"} {
		u, _ := url.Parse(raw)
		if err := g.CheckURL(context.Background(), u); !errors.Is(err, ErrRefused) {
			t.Errorf("%s: %v", raw, err)
		}
	}
	u, _ := url.Parse("https://93.184.215.14/h")
	if err := g.CheckURL(context.Background(), u); err != nil {
		t.Errorf("a public address: %v", err)
	}
}

// The check is made on the address the socket connects to: a client of a
// guard without loopback cannot reach a server on 127.0.0.1 by any name,
// one of sigill dev's can, and one whose allow list names the address can.
func TestClientChecksAtConnect(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		w.WriteHeader(204)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	serve, _ := New(nil, false)
	for _, u := range []string{srv.URL, "http://localhost:" + port + "/"} {
		_, err := serve.Client(5 * time.Second).Get(u)
		if !errors.Is(err, ErrRefused) {
			t.Errorf("serve's guard, %s: %v", u, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the server was reached %d times through a refusing guard", n)
	}
	for _, allow := range []*Guard{must(New(nil, true)), must(New([]string{"127.0.0.0/8"}, false)), must(New([]string{"localhost"}, false))} {
		resp, err := allow.Client(5 * time.Second).Get("http://localhost:" + port + "/redirect")
		if err != nil {
			t.Fatalf("an allowing guard: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			t.Errorf("a redirect was followed: %d", resp.StatusCode)
		}
	}
}

func must(g *Guard, err error) *Guard {
	if err != nil {
		panic(err)
	}
	return g
}
