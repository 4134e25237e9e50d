// Package egress owns the guard on connections sigill opens to addresses
// an outside party chose (a REST API client's webhook URL): without it a
// client could make the gateway call its own admin listener, a database on
// the internal network, or a cloud's metadata service (server-side request
// forgery).
//
// The guard refuses loopback, private (RFC 1918, fc00::/7), shared
// (100.64.0.0/10), link-local, multicast and unspecified addresses unless
// the configuration allows them (api.webhook_allow: host names, "*.suffix"
// patterns, IP addresses and CIDR prefixes); sigill dev allows loopback.
// The address is checked when the connection is made — in the dialer's
// Control function, on the very IP the socket connects to — so a name
// that resolved to a public address when it was registered and to
// 127.0.0.1 at delivery (DNS rebinding) is still refused. The client it
// makes follows no redirect and uses no proxy, so neither can carry a
// request past the check.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"
)

// ErrRefused is the guard's refusal of an address; errors.Is finds it
// through the http.Client's wrapping.
var ErrRefused = errors.New("address refused by the SSRF guard (api.webhook_allow)")

// Guard decides which addresses outgoing connections may reach.
type Guard struct {
	hosts    []string       // exact host names, lower case
	suffixes []string       // ".example.org" from "*.example.org"
	nets     []netip.Prefix // allowed addresses
	loopback bool           // sigill dev
}

// New reads the allow list (api.webhook_allow); allowLoopback lets
// 127.0.0.0/8 and ::1 through as well (sigill dev).
func New(allow []string, allowLoopback bool) (*Guard, error) {
	g := &Guard{loopback: allowLoopback}
	for _, a := range allow {
		if err := g.add(a); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// CheckAllow reports whether every entry of an allow list is one the
// guard reads: configuration validation calls it.
func CheckAllow(allow []string) error {
	_, err := New(allow, false)
	return err
}

func (g *Guard) add(a string) error {
	a = strings.TrimSpace(a)
	if p, err := netip.ParsePrefix(a); err == nil {
		g.nets = append(g.nets, p.Masked())
		return nil
	}
	if ip, err := netip.ParseAddr(a); err == nil {
		g.nets = append(g.nets, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
		return nil
	}
	name := strings.ToLower(a)
	wild := strings.HasPrefix(name, "*.")
	name = strings.TrimPrefix(name, "*.")
	if !validHostName(name) {
		return fmt.Errorf("%q is neither a host name, a *.domain pattern, an IP address nor a CIDR prefix", a)
	}
	if wild {
		g.suffixes = append(g.suffixes, "."+name)
	} else {
		g.hosts = append(g.hosts, name)
	}
	return nil
}

func validHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// HostAllowed reports whether host (from a URL) is on the allow list: a
// name listed (then any address it resolves to may be reached), or an IP
// address within an allowed prefix.
func (g *Guard) HostAllowed(host string) bool {
	if ip, err := netip.ParseAddr(host); err == nil {
		return slices.ContainsFunc(g.nets, func(p netip.Prefix) bool { return p.Contains(ip.Unmap()) })
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, h := range g.hosts {
		if host == h {
			return true
		}
	}
	for _, s := range g.suffixes {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

// shared is RFC 6598's carrier-grade NAT space, as internal as RFC 1918's.
var shared = netip.MustParsePrefix("100.64.0.0/10")

// nat64 is RFC 6052's well-known NAT64 prefix: on an IPv6-only network
// with a NAT64 gateway, 64:ff9b::a9fe:a9fe reaches 169.254.169.254, so
// an address in it is checked as the IPv4 address it carries.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// CheckIP refuses an address that is not public, unless allowed.
func (g *Guard) CheckIP(ip netip.Addr) error {
	ip = ip.Unmap()
	if nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte(b[12:]))
	}
	for _, p := range g.nets {
		if p.Contains(ip) {
			return nil
		}
	}
	if ip.IsLoopback() && g.loopback {
		return nil
	}
	var kind string
	switch {
	case !ip.IsValid():
		kind = "no"
	case ip.IsLoopback():
		kind = "a loopback"
	case ip.IsPrivate() || shared.Contains(ip):
		kind = "a private"
	case ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast():
		kind = "a link-local"
	case ip.IsUnspecified(), ip.IsMulticast(), !ip.IsGlobalUnicast():
		kind = "a non-unicast"
	default:
		return nil
	}
	return fmt.Errorf("%s is %s address: %w", ip, kind, ErrRefused)
}

// CheckURL refuses a URL the guard would not connect to, before anything
// is stored: an IP literal is checked, and a name that resolves is
// checked on every address it resolves to now (a name that does not
// resolve is left to the check at connect time, which is what counts).
func (g *Guard) CheckURL(ctx context.Context, u *url.URL) error {
	host := u.Hostname()
	if g.HostAllowed(host) {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return g.CheckIP(ip)
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return g.CheckIP(netip.IPv6Loopback())
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if err := g.CheckIP(a); err != nil {
			return fmt.Errorf("%s resolves to %w", host, err)
		}
	}
	return nil
}

// DialContext connects as net.Dialer does, refusing in its Control
// function, on the resolved address the socket is about to connect to,
// whatever CheckIP refuses, unless the host name is allowed.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	byName := g.HostAllowed(host)
	d := net.Dialer{
		Timeout: 10 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			if byName {
				return nil
			}
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%s: %w", address, ErrRefused)
			}
			return g.CheckIP(ap.Addr())
		},
	}
	return d.DialContext(ctx, network, addr)
}

// Client is an HTTP client whose every connection passes the guard; it
// follows no redirect (the 3xx is the answer) and uses no proxy.
func (g *Guard) Client(timeout time.Duration) *http.Client {
	t := &http.Transport{
		Proxy:                 nil,
		DialContext:           g.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{
		Transport:     t,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
