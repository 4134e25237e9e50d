package main

import (
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"
)

// A client that fails its TLS handshake (a scanner, a plain-text probe)
// gets a line in serve's JSON log, not a bare "http: TLS handshake error"
// among the JSON: every line on standard error parses as JSON.
func TestFailedHandshakesLogOnlyJSON(t *testing.T) {
	path, ports := servedConfig(t)
	log := startServe(t, path, ports["127.0.0.1:9090"])
	for _, addr := range []string{ports["0.0.0.0:443"], ports["0.0.0.0:993"], ports["0.0.0.0:465"]} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		c.Read(make([]byte, 512))
		c.Close()
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(log.String(), "TLS handshake error") {
		if time.Now().After(deadline) {
			t.Fatalf("the reader's failed handshake was not logged:\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, line := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Errorf("not a JSON line on stderr: %q", line)
		} else if strings.Contains(line, "TLS handshake error") && entry["service"] != "reader" {
			t.Errorf("the handshake line names no service: %s", line)
		}
	}
}
