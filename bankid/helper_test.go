package bankid

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"sigill/internal/testenv"
)

// The only personal numbers tests use: Skatteverket's test numbers.
const (
	pnA = "199908072391"
	pnB = "198611239883"
	pnC = "200211242383"
)

func newFakeClock() *testenv.Clock {
	return testenv.NewClock(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
}

// testPKI is made once: key generation and PKCS#12 encoding are the slow
// part of a test, and the certificates carry no state.
var testPKI = sync.OnceValues(func() (*DevPKI, error) { return NewDevPKI("") })

func devPKI(t testing.TB) *DevPKI {
	t.Helper()
	pki, err := testPKI()
	if err != nil {
		t.Fatalf("NewDevPKI: %v", err)
	}
	return pki
}

// simEnv is a simulator serving TLS on 127.0.0.1 and a client for it.
type simEnv struct {
	sim    *Simulator
	clock  *testenv.Clock
	pki    *DevPKI
	base   string // https://127.0.0.1:port/rp/v6.0/
	client *Client
}

func startSim(t testing.TB) *simEnv {
	t.Helper()
	pki := devPKI(t)
	clock := newFakeClock()
	sim := &Simulator{Now: clock.Now}
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
	client, err := NewClient(pki.ClientConfig(base))
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(client.Close)
	return &simEnv{sim: sim, clock: clock, pki: pki, base: base, client: client}
}

func (e *simEnv) auth(t testing.TB, req AuthRequest) *AuthResponse {
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

func (e *simEnv) collect(t testing.TB, orderRef string) *CollectResponse {
	t.Helper()
	r, err := e.client.Collect(context.Background(), orderRef)
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	return r
}
