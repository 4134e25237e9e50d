package testenv

import (
	"sync"
	"testing"

	"sigill/internal/devpki"
)

// sharedPKI is made once per test binary: key generation and PKCS#12
// encoding are the slow part of a test, and the certificates carry no state.
var sharedPKI = sync.OnceValues(func() (*devpki.PKI, error) { return devpki.New("") })

// DevPKI returns the test binary's throwaway PKI (written nowhere): the CA,
// the server certificate for 127.0.0.1 and the RP client certificate that
// the BankID simulator and its clients use in tests.
func DevPKI(t testing.TB) *devpki.PKI {
	t.Helper()
	pki, err := sharedPKI()
	if err != nil {
		t.Fatalf("devpki.New: %v", err)
	}
	return pki
}
