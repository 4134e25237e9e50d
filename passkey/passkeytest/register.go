package passkeytest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"sigill/passkey"
	"sigill/vault"
)

// Register gives account a passkey named name on a vault opened with
// passkey.Hook(), through the package's real ceremony, as a test's
// setup: the relying party is "localhost" at http://localhost:8090. It
// returns the authenticator and the service, whose Remove takes the
// passkey away again.
func Register(v *vault.Vault, account, name string) (*Authenticator, *passkey.Service, passkey.Passkey, error) {
	const rpID, origin = "localhost", "http://localhost:8090"
	svc, err := passkey.New(v, rpID, "sigill", []string{origin})
	if err != nil {
		return nil, nil, passkey.Passkey{}, err
	}
	ctx := context.Background()
	options, ceremony, err := svc.BeginRegistration(ctx, account)
	if err != nil {
		return nil, nil, passkey.Passkey{}, err
	}
	a := New(rpID, origin)
	answer, err := a.Create(options)
	if err != nil {
		return nil, nil, passkey.Passkey{}, err
	}
	r := httptest.NewRequest(http.MethodPost, origin+"/", bytes.NewReader(answer))
	pk, err := svc.FinishRegistration(ctx, account, ceremony, name, r)
	if err != nil {
		return nil, nil, passkey.Passkey{}, fmt.Errorf("passkeytest: register: %w", err)
	}
	return a, svc, pk, nil
}
