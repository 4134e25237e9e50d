package bankid_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"sigill/bankid"
	"sigill/bankid/bankidsim"
)

// Ping is a TLS handshake with the RP API and nothing more: it succeeds
// against a server the pinned root vouches for, and fails against a closed
// port or a server another CA vouches for.
func TestPing(t *testing.T) {
	e := startSim(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.client.Ping(ctx); err != nil {
		t.Fatalf("Ping the simulator: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	dead, err := bankid.NewClient(bankidsim.ClientConfig(e.pki, "https://"+closed+"/rp/v6.0/"))
	if err != nil {
		t.Fatal(err)
	}
	if err := dead.Ping(ctx); err == nil || !strings.Contains(err.Error(), closed) {
		t.Errorf("Ping a closed port: %v; want an error naming %s", err, closed)
	}

	pinned, err := bankid.NewClient(bankid.Config{Environment: bankid.Test, BaseURL: e.base, P12: e.pki.RPP12, P12Password: e.pki.RPPassword})
	if err != nil {
		t.Fatal(err)
	}
	if err := pinned.Ping(ctx); err == nil {
		t.Error("Ping trusted the simulator's CA with BankID's test root pinned")
	}
}
