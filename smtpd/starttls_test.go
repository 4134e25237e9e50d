package smtpd

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// Commands sent in clear behind STARTTLS, in the same packet, are dropped
// with the clear connection's buffer (the STARTTLS command injection of
// CVE-2011-0411): the first reply over TLS is the EHLO's. Guards go-smtp's pooled line buffers (third_party/go-smtp's
// SIGILL.md): a buffer given back at STARTTLS keeps nothing for the next.
func TestStartTLSDropsWhatCameInClear(t *testing.T) {
	g := startGateway(t)
	for range 3 { // the pools' buffers go round
		c, err := net.Dial("tcp", g.relay)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		reply := func() string {
			t.Helper()
			var last string
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				if last = line; len(line) < 4 || line[3] != '-' {
					return last
				}
			}
		}
		reply() // 220
		io.WriteString(c, "EHLO client.test\r\n")
		reply()
		io.WriteString(c, "STARTTLS\r\nMAIL FROM:<sender@kommun.example.se>\r\n")
		if got := reply(); !strings.HasPrefix(got, "220") {
			t.Fatalf("STARTTLS: %q", got)
		}
		tc := tls.Client(c, clientTLS)
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		tr := bufio.NewReader(tc)
		io.WriteString(tc, "EHLO client.test\r\n")
		// The first reply over TLS is EHLO's; an injected MAIL's
		// "250 2.1.0 Sender <…> ok" would come first.
		first, err := tr.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(first, "250-") || strings.Contains(first, "Sender <") {
			t.Errorf("the first reply after STARTTLS is %q; want EHLO's, with nothing sent in clear taken", first)
		}
		c.Close()
	}
}
