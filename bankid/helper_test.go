package bankid_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"testing"
	"time"

	"sigill/bankid"
	"sigill/bankid/bankidsim"
	"sigill/internal/devpki"
	"sigill/internal/testenv"
)

// The only personal numbers tests use: Skatteverket's test numbers (the
// package's own tests, in package bankid, have them in decode_test.go).
const (
	pnA = "199908072391"
	pnB = "198611239883"
	pnC = "200211242383"
)

// simEnv is a simulator serving TLS on 127.0.0.1 and a client for it.
type simEnv struct {
	sim    *bankidsim.Simulator
	clock  *testenv.Clock
	pki    *devpki.PKI
	base   string // https://127.0.0.1:port/rp/v6.0/
	client *bankid.Client
}

func startSim(t testing.TB) *simEnv {
	t.Helper()
	pki := testenv.DevPKI(t)
	clock := testenv.NewClock(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	sim := &bankidsim.Simulator{Now: clock.Now}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := sim.Server(pki)
	// TestClientPinsBankIDRoot fails handshakes on purpose.
	srv.ErrorLog = log.New(io.Discard, "", 0)
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("simulator server: %v", err)
		}
	})
	base := "https://" + ln.Addr().String() + "/rp/v6.0/"
	client, err := bankid.NewClient(bankidsim.ClientConfig(pki, base))
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(client.Close)
	return &simEnv{sim: sim, clock: clock, pki: pki, base: base, client: client}
}

func (e *simEnv) auth(t testing.TB, req bankid.AuthRequest) *bankid.AuthResponse {
	t.Helper()
	if req.EndUserIP == "" {
		req.EndUserIP = "192.0.2.10"
	}
	r, err := e.client.Auth(context.Background(), req)
	if err != nil {
		t.Fatalf("Auth: %v", err)
	}
	return r
}

func (e *simEnv) collect(t testing.TB, orderRef string) *bankid.CollectResponse {
	t.Helper()
	r, err := e.client.Collect(context.Background(), orderRef)
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	return r
}
