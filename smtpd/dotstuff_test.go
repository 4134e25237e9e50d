package smtpd

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"
)

// FuzzDataTransparency sends a body through a real relay connection, DATA
// and all, and checks that the vault keeps exactly what RFC 5321's
// transparency (4.5.2) makes of it as go-smtp has always read it (the
// reference below is its byte-by-byte state machine, which sigill's copy
// now reads a line's run of bytes at a time): dots at the start of a line
// taken off, CRs and LFs where they fall, across the reader's 4 KiB
// buffer's edges. The body is made to have no end-of-data line of its own
// and no line longer than the server takes.
//
//	go test -run='^$' -fuzz=FuzzDataTransparency -fuzztime=60s -fuzzminimizetime=50x ./smtpd
func FuzzDataTransparency(f *testing.F) {
	for _, seed := range []string{
		"plain\r\nlines\r\n",
		"..leading dot\r\n.\r.x\r\n..\r\n.a\r\n",
		"bare\rCR and bare\nLF\r\r\n\n\r\r.\r\n",
		"no CRLF at the end",
		strings.Repeat("x", 1500) + "\r\n" + strings.Repeat(".y\r", 400) + "\r\n",
	} {
		f.Add([]byte(seed), uint64(0))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 6 {
		f.Add(randomBody(r, 3000+r.IntN(20000)), r.Uint64())
	}
	g := startFuzzGateway(f)
	f.Fuzz(func(t *testing.T, body []byte, split uint64) {
		wire := append([]byte("Subject: transparency\r\n\r\n"), shortLines(body)...)
		for bytes.Contains(wire, []byte("\n.\r\n")) { // an end-of-data line of its own
			wire = bytes.ReplaceAll(wire, []byte("\n.\r\n"), []byte("\n.x\r\n"))
		}
		wire = append(wire, "\r\n.\r\n"...)
		want, rest, ended := unstuffReference(wire)
		if len(rest) > 0 {
			t.Skip("the body holds an end-of-data line of its own")
		}
		if !ended {
			// A CR just before the end line's CRLF ("\r\r\n.\r\n") hides
			// it: go-smtp reads so, as net/textproto does, and waits for
			// more.
			t.Skip("the end line is not seen after a bare CR")
		}
		id, err := sendWire(g.relay, wire, int(split%4096)+1)
		if err != nil {
			t.Fatal(err)
		}
		_, plain, err := g.vault.Decrypt(jobFor(t, g, id).Token)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(plain, want) {
			t.Fatalf("the vault keeps %d bytes, %q…; the transparency rule makes %d, %q…", len(plain), head(plain), len(want), head(want))
		}
	})
}

func head(b []byte) []byte { return b[:min(len(b), 60)] }

// randomBody is lines of letters, dots, CRs and LFs in the proportions
// that make the state machine's every edge likely.
func randomBody(r *rand.Rand, n int) []byte {
	pieces := []string{"a", "abcdefgh", strings.Repeat("z", 300), ".", "..", "\r", "\n", "\r\n", ".\r", ".\r\n"}
	var b []byte
	for len(b) < n {
		b = append(b, pieces[r.IntN(len(pieces))]...)
	}
	return b
}

// shortLines breaks every line longer than 900 bytes (the server refuses
// lines over 2000).
func shortLines(body []byte) []byte {
	var out []byte
	line := 0
	for _, c := range body {
		if line >= 900 {
			out = append(out, '\r', '\n')
			line = 0
		}
		out = append(out, c)
		line++
		if c == '\n' {
			line = 0
		}
	}
	return out
}

// unstuffReference is go-smtp's DATA reader before sigill's change, byte by
// byte: what it keeps of wire, what follows the end-of-data line, and
// whether it saw that line.
func unstuffReference(wire []byte) (kept, rest []byte, ended bool) {
	const (
		beginLine = iota
		dot
		dotCR
		cr
		data
	)
	state := beginLine
	for i, c := range wire {
		switch state {
		case beginLine:
			if c == '.' {
				state = dot
				continue
			}
			if c == '\r' {
				state = cr
				break
			}
			state = data
		case dot:
			if c == '\r' {
				state = dotCR
				continue
			}
			state = data
		case dotCR:
			if c == '\n' {
				return kept, wire[i+1:], true
			}
			state = data
		case cr:
			if c == '\n' {
				state = beginLine
				break
			}
			state = data
		case data:
			if c == '\r' {
				state = cr
			}
		}
		kept = append(kept, c)
	}
	return kept, nil, false
}

// sendWire sends one message over the relay, the DATA bytes as they are
// (already dot-stuffed, with their end line) in writes of split bytes, and
// returns the message's id from the 250.
func sendWire(addr string, wire []byte, split int) (string, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	reply := func() (string, error) {
		for {
			line, err := r.ReadString('\n')
			if err != nil || len(line) < 4 || line[3] != '-' {
				return line, err
			}
		}
	}
	if _, err := reply(); err != nil {
		return "", err
	}
	for _, cmd := range []string{"EHLO client.test", "MAIL FROM:<mta@example.se>", "RCPT TO:<" + goodRcpt + ">", "DATA"} {
		io.WriteString(c, cmd+"\r\n")
		if line, err := reply(); err != nil || (line[0] != '2' && line[0] != '3') {
			return "", fmt.Errorf("%s: %q %v", cmd, line, err)
		}
	}
	for rest := wire; len(rest) > 0; {
		n := min(split, len(rest))
		if _, err := c.Write(rest[:n]); err != nil {
			return "", err
		}
		rest = rest[n:]
	}
	line, err := reply()
	if err != nil || !strings.HasPrefix(line, "250 ") {
		return "", fmt.Errorf("after DATA: %q %v", line, err)
	}
	id, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "250 2.0.0 "), " ")
	return id, nil
}
