package bankid_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"sigill/bankid"
	"sigill/bankid/bankidsim"
	"sigill/internal/testenv"
)

func TestClientQRHappyPath(t *testing.T) {
	e := startSim(t)
	a := e.auth(t, bankid.AuthRequest{UserVisibleData: "Öppna ditt säkra meddelande", ReturnURL: "https://read.example.se/m/x#nonce"})

	if got := e.collect(t, a.OrderRef); got.Status != bankid.StatusPending || got.HintCode != bankid.HintOutstandingTransaction {
		t.Fatalf("first collect = %s/%s, want pending/outstandingTransaction", got.Status, got.HintCode)
	}
	// The page shows a new code every second; the phone scans the one of
	// second 3.
	e.clock.Advance(3 * time.Second)
	res, err := e.sim.Approve(bankidsim.PhoneRequest{QR: bankid.QRData(a.QRStartToken, a.QRStartSecret, 3), PersonalNumber: pnA, Name: "Anna Maria Andersson"})
	if err != nil {
		t.Fatalf("Approve by QR: %v", err)
	}
	if res.OrderRef != a.OrderRef || res.Status != bankid.StatusComplete {
		t.Fatalf("Approve = %+v", res)
	}
	got := e.collect(t, a.OrderRef)
	if got.Status != bankid.StatusComplete || got.CompletionData == nil {
		t.Fatalf("collect after approve = %+v", got)
	}
	cd := got.CompletionData
	if cd.User.PersonalNumber != pnA {
		t.Errorf("personalNumber = %q, want %q", cd.User.PersonalNumber, pnA)
	}
	if cd.User.Name != "Anna Maria Andersson" || cd.User.GivenName != "Anna Maria" || cd.User.Surname != "Andersson" {
		t.Errorf("user = %+v", cd.User)
	}
	if cd.Device.IPAddress != "192.0.2.10" || cd.Device.UHI == "" {
		t.Errorf("device = %+v", cd.Device)
	}
	if cd.Risk != bankid.RiskLow {
		t.Errorf("risk = %q, want low (the client always sends returnRisk)", cd.Risk)
	}
	if cd.BankIDIssueDate.Date.IsZero() || cd.Signature == "" || cd.OCSPResponse == "" {
		t.Errorf("completionData incomplete: %+v", cd)
	}

	// Collecting a finished order again is an error in the RP.
	_, err = e.client.Collect(context.Background(), a.OrderRef)
	if !errors.Is(err, bankid.ErrInvalidParameters) {
		t.Fatalf("collect after complete: err = %v, want invalidParameters", err)
	}
}

func TestClientAutoStartHappyPath(t *testing.T) {
	e := startSim(t)
	a := e.auth(t, bankid.AuthRequest{})
	if _, err := e.sim.Scan(bankidsim.PhoneRequest{AutoStartToken: a.AutoStartToken}); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	for _, want := range []bankid.HintCode{bankid.HintStarted, bankid.HintUserSign, bankid.HintUserSign} {
		got := e.collect(t, a.OrderRef)
		if got.Status != bankid.StatusPending || got.HintCode != want {
			t.Fatalf("collect = %s/%s, want pending/%s", got.Status, got.HintCode, want)
		}
		e.clock.Advance(2 * time.Second)
	}
	if _, err := e.sim.Approve(bankidsim.PhoneRequest{AutoStartToken: a.AutoStartToken, PersonalNumber: pnB}); err != nil {
		t.Fatalf("Approve: %v", err)
	}
	got := e.collect(t, a.OrderRef)
	if got.Status != bankid.StatusComplete || got.CompletionData.User.PersonalNumber != pnB {
		t.Fatalf("collect = %+v", got)
	}
	if got.CompletionData.User.Name != "Test Testsson" {
		t.Errorf("default name = %q", got.CompletionData.User.Name)
	}
}

func TestClientRequirementPersonalNumber(t *testing.T) {
	e := startSim(t)
	a := e.auth(t, bankid.AuthRequest{PersonalNumber: pnC})
	if _, err := e.sim.Approve(bankidsim.PhoneRequest{AutoStartToken: a.AutoStartToken, PersonalNumber: pnA}); !errors.Is(err, bankidsim.ErrPhoneWrongPerson) {
		t.Fatalf("approve as another person: err = %v, want ErrPhoneWrongPerson", err)
	}
	if got := e.collect(t, a.OrderRef); got.Status != bankid.StatusPending {
		t.Fatalf("order after refused approval = %s, want still pending", got.Status)
	}
	// Without a number the phone is the required person's.
	if _, err := e.sim.Approve(bankidsim.PhoneRequest{AutoStartToken: a.AutoStartToken}); err != nil {
		t.Fatalf("Approve: %v", err)
	}
	if got := e.collect(t, a.OrderRef); got.CompletionData.User.PersonalNumber != pnC {
		t.Fatalf("completed as %q, want %q", got.CompletionData.User.PersonalNumber, pnC)
	}
}

func TestClientRiskHighIsReported(t *testing.T) {
	e := startSim(t)
	a := e.auth(t, bankid.AuthRequest{})
	if _, err := e.sim.Approve(bankidsim.PhoneRequest{QRStartToken: a.QRStartToken, PersonalNumber: pnA, Risk: "high"}); err != nil {
		t.Fatalf("Approve: %v", err)
	}
	if got := e.collect(t, a.OrderRef); got.CompletionData.Risk != bankid.RiskHigh {
		t.Fatalf("risk = %q, want high", got.CompletionData.Risk)
	}
}

func TestClientFailedHintCodes(t *testing.T) {
	e := startSim(t)
	for _, hint := range []bankid.HintCode{
		bankid.HintUserCancel, bankid.HintCertificateErr, bankid.HintStartFailed, bankid.HintExpiredTransaction,
		bankid.HintCancelled, bankid.HintUserDeclinedCall, bankid.HintNotSupportedByUserApp, bankid.HintTransactionRiskBlocked,
		"someHintBankIDAddsLater",
	} {
		t.Run(string(hint), func(t *testing.T) {
			a := e.auth(t, bankid.AuthRequest{})
			res, err := e.sim.Approve(bankidsim.PhoneRequest{AutoStartToken: a.AutoStartToken, HintCode: string(hint)})
			if err != nil || res.Status != bankid.StatusFailed || res.HintCode != hint {
				t.Fatalf("Approve = %+v, %v", res, err)
			}
			got := e.collect(t, a.OrderRef)
			if got.Status != bankid.StatusFailed || got.HintCode != hint {
				t.Fatalf("collect = %s/%s, want failed/%s", got.Status, got.HintCode, hint)
			}
			if bankid.Message(string(got.Status), string(got.HintCode), "sv", false) == "" {
				t.Errorf("no message for failed/%s", hint)
			}
			if _, err := e.client.Collect(context.Background(), a.OrderRef); !errors.Is(err, bankid.ErrInvalidParameters) {
				t.Errorf("collect after failed: err = %v, want invalidParameters", err)
			}
		})
	}
	t.Run("userCancel via Cancel", func(t *testing.T) {
		a := e.auth(t, bankid.AuthRequest{})
		if _, err := e.sim.Cancel(bankidsim.PhoneRequest{QRStartToken: a.QRStartToken}); err != nil {
			t.Fatal(err)
		}
		if got := e.collect(t, a.OrderRef); got.Status != bankid.StatusFailed || got.HintCode != bankid.HintUserCancel {
			t.Fatalf("collect = %s/%s", got.Status, got.HintCode)
		}
	})
}

func TestClientTimeoutsOnTheClock(t *testing.T) {
	e := startSim(t)
	unscanned := e.auth(t, bankid.AuthRequest{})
	scanned := e.auth(t, bankid.AuthRequest{})
	if _, err := e.sim.Scan(bankidsim.PhoneRequest{QRStartToken: scanned.QRStartToken}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(bankid.StartTimeout)
	if got := e.collect(t, unscanned.OrderRef); got.Status != bankid.StatusFailed || got.HintCode != bankid.HintStartFailed {
		t.Fatalf("unscanned after 30 s = %s/%s, want failed/startFailed", got.Status, got.HintCode)
	}
	if got := e.collect(t, scanned.OrderRef); got.Status != bankid.StatusPending || got.HintCode != bankid.HintUserSign {
		t.Fatalf("scanned after 30 s = %s/%s, want pending/userSign", got.Status, got.HintCode)
	}
	e.clock.Advance(bankid.OrderTimeout - bankid.StartTimeout)
	if got := e.collect(t, scanned.OrderRef); got.Status != bankid.StatusFailed || got.HintCode != bankid.HintExpiredTransaction {
		t.Fatalf("scanned after 3 min = %s/%s, want failed/expiredTransaction", got.Status, got.HintCode)
	}
}

func TestClientCancel(t *testing.T) {
	e := startSim(t)
	ctx := context.Background()
	a := e.auth(t, bankid.AuthRequest{})
	if err := e.client.Cancel(ctx, a.OrderRef); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if _, err := e.client.Collect(ctx, a.OrderRef); !errors.Is(err, bankid.ErrInvalidParameters) {
		t.Fatalf("collect after cancel: err = %v, want invalidParameters", err)
	}
	if err := e.client.Cancel(ctx, a.OrderRef); !errors.Is(err, bankid.ErrInvalidParameters) {
		t.Fatalf("second cancel: err = %v, want invalidParameters", err)
	}
	if _, err := e.sim.Approve(bankidsim.PhoneRequest{AutoStartToken: a.AutoStartToken, PersonalNumber: pnA}); !errors.Is(err, bankidsim.ErrPhoneNoOrder) {
		t.Fatalf("approve after cancel: err = %v, want ErrPhoneNoOrder", err)
	}
}

func TestClientAlreadyInProgress(t *testing.T) {
	e := startSim(t)
	first := e.auth(t, bankid.AuthRequest{PersonalNumber: pnA})
	_, err := e.client.Auth(context.Background(), bankid.AuthRequest{EndUserIP: "192.0.2.10", PersonalNumber: pnA})
	var apiErr *bankid.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != bankid.ErrAlreadyInProgress || apiErr.StatusCode != http.StatusBadRequest {
		t.Fatalf("second auth: err = %v, want 400 alreadyInProgress", err)
	}
	if bankid.ErrorMessageCode(err) != bankid.RFA4 {
		t.Errorf("message for alreadyInProgress = %s, want RFA4", bankid.ErrorMessageCode(err))
	}
	// BankID aborts the order in progress too.
	if got := e.collect(t, first.OrderRef); got.Status != bankid.StatusFailed || got.HintCode != bankid.HintCancelled {
		t.Fatalf("first order = %s/%s, want failed/cancelled", got.Status, got.HintCode)
	}
	// Nothing is in progress now.
	e.auth(t, bankid.AuthRequest{PersonalNumber: pnA})
}

func TestClientErrorCodes(t *testing.T) {
	e := startSim(t)
	ctx := context.Background()
	req := bankid.AuthRequest{EndUserIP: "192.0.2.10"}
	cases := []struct {
		fault     bankidsim.Fault
		code      bankid.ErrorCode
		status    int
		retryable bool
	}{
		{bankidsim.FaultMaintenance, bankid.ErrMaintenance, 503, true},
		{bankidsim.FaultTooManyRequests, bankid.ErrTooManyRequests, 429, true},
		{bankidsim.FaultRequestTimeout, bankid.ErrRequestTimeout, 408, false},
		{bankidsim.FaultInternalError, bankid.ErrInternalError, 500, false},
		{bankidsim.FaultUnauthorized, bankid.ErrUnauthorized, 401, false},
		{bankidsim.FaultNotFound, bankid.ErrNotFound, 404, false},
		{bankidsim.FaultMethodNotAllowed, bankid.ErrMethodNotAllowed, 405, false},
		{bankidsim.FaultUnsupportedMediaType, bankid.ErrUnsupportedMediaType, 415, false},
		{bankidsim.FaultInvalidParameters, bankid.ErrInvalidParameters, 400, false},
		{bankidsim.FaultForbiddenHTML, bankid.ErrAccessDenied, 403, false},
		{bankidsim.FaultUnauthorizedHTML, bankid.ErrAccessDenied, 401, false},
	}
	for _, c := range cases {
		t.Run(string(c.fault), func(t *testing.T) {
			if err := e.sim.InjectFault(c.fault); err != nil {
				t.Fatal(err)
			}
			defer e.sim.InjectFault(bankidsim.FaultNone)
			for op, call := range map[string]func() error{
				"auth":    func() error { _, err := e.client.Auth(ctx, req); return err },
				"collect": func() error { _, err := e.client.Collect(ctx, "131daac9-16c6-4618-beb0-365768f37288"); return err },
				"cancel":  func() error { return e.client.Cancel(ctx, "131daac9-16c6-4618-beb0-365768f37288") },
			} {
				err := call()
				var apiErr *bankid.APIError
				if !errors.As(err, &apiErr) {
					t.Fatalf("%s: err = %v, want *APIError", op, err)
				}
				if !errors.Is(err, c.code) || apiErr.StatusCode != c.status || apiErr.Op != op {
					t.Errorf("%s: err = %v (status %d, op %s), want %s with %d", op, err, apiErr.StatusCode, apiErr.Op, c.code, c.status)
				}
				if bankid.Retryable(err) != c.retryable {
					t.Errorf("%s: Retryable = %v", op, !c.retryable)
				}
				if bankid.ErrorMessage(err, "en") == "" {
					t.Errorf("%s: no user message", op)
				}
			}
		})
	}
	if e.auth(t, req).OrderRef == "" {
		t.Fatal("auth after clearing the fault failed")
	}

	t.Run("non-JSON 403 body", func(t *testing.T) {
		e.sim.InjectFault(bankidsim.FaultForbiddenHTML)
		defer e.sim.InjectFault(bankidsim.FaultNone)
		_, err := e.client.Auth(ctx, req)
		var apiErr *bankid.APIError
		if !errors.As(err, &apiErr) || !strings.Contains(apiErr.Details, "403 Forbidden") {
			t.Fatalf("err = %v, want the page's text in Details", err)
		}
	})
	t.Run("invalidParameters for a bad endUserIp", func(t *testing.T) {
		_, err := e.client.Auth(ctx, bankid.AuthRequest{EndUserIP: "not an address"})
		if !errors.Is(err, bankid.ErrInvalidParameters) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("invalidParameters for an unknown order", func(t *testing.T) {
		_, err := e.client.Collect(ctx, "131daac9-16c6-4618-beb0-365768f37288")
		if !errors.Is(err, bankid.ErrInvalidParameters) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("notFound for another API version", func(t *testing.T) {
		c, err := bankid.NewClient(bankidsim.ClientConfig(e.pki, strings.Replace(e.base, "v6.0", "v5.1", 1)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Auth(ctx, req); !errors.Is(err, bankid.ErrNotFound) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unauthorized without a client certificate", func(t *testing.T) {
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.pki.CAPool}}}
		defer hc.CloseIdleConnections()
		resp, err := hc.Post(e.base+"auth", "application/json", strings.NewReader(`{"endUserIp":"192.0.2.10"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		apiErr := bankid.ParseError("auth", resp.StatusCode, body)
		if resp.StatusCode != http.StatusUnauthorized || apiErr.Code != bankid.ErrUnauthorized {
			t.Fatalf("answer %d %s, want 401 unauthorized", resp.StatusCode, body)
		}
	})
}

func TestClientPinsBankIDRoot(t *testing.T) {
	e := startSim(t)
	for _, env := range []bankid.Environment{bankid.Test, bankid.Production} {
		cfg := bankidsim.ClientConfig(e.pki, e.base)
		cfg.Environment, cfg.CAPEM = env, nil
		c, err := bankid.NewClient(cfg)
		if err != nil {
			t.Fatalf("%s: NewClient: %v", env, err)
		}
		_, err = c.Auth(context.Background(), bankid.AuthRequest{EndUserIP: "192.0.2.10"})
		c.Close()
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Errorf("%s: a server outside BankID's root was accepted or failed otherwise: %v", env, err)
		}
	}
}

func TestClientSendsBankIDsRequestShape(t *testing.T) {
	pki := testenv.DevPKI(t)
	type seen struct {
		path, contentType string
		body              map[string]any
		clientCert        bool
	}
	got := make(chan seen, 1)
	fixture, err := os.ReadFile("testdata/auth.json")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{TLSConfig: pki.ServerTLSConfig(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		got <- seen{r.URL.Path, r.Header.Get("Content-Type"), body, r.TLS != nil && len(r.TLS.PeerCertificates) > 0}
		w.Header().Set("Content-Type", "application/json")
		w.Write(fixture)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeTLS(ln, "", "")
	defer srv.Close()

	c, err := bankid.NewClient(bankidsim.ClientConfig(pki, "https://"+ln.Addr().String()+"/rp/v6.0"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a, err := c.Auth(context.Background(), bankid.AuthRequest{
		EndUserIP:             "2001:db8::7",
		UserVisibleData:       "Läs ditt meddelande",
		UserVisibleDataFormat: "simpleMarkdownV1",
		PersonalNumber:        pnA,
		ReturnURL:             "https://read.example.se/m/abc?n=1",
	})
	if err != nil {
		t.Fatalf("Auth: %v", err)
	}
	if a.QRStartToken != "67df3917-fa0d-44e5-b327-edcc928297f8" || a.QRStartSecret != "d28db9a7-4cde-429e-a983-359be676944c" {
		t.Errorf("decoded %+v", a)
	}
	s := <-got
	if s.path != "/rp/v6.0/auth" || s.contentType != "application/json" || !s.clientCert {
		t.Errorf("request: path %q, Content-Type %q, client certificate %v", s.path, s.contentType, s.clientCert)
	}
	want := map[string]any{
		"endUserIp":             "2001:db8::7",
		"userVisibleData":       base64.StdEncoding.EncodeToString([]byte("Läs ditt meddelande")),
		"userVisibleDataFormat": "simpleMarkdownV1",
		"returnRisk":            true,
		"returnUrl":             "https://read.example.se/m/abc?n=1",
		"requirement":           map[string]any{"personalNumber": pnA},
	}
	gotJSON, _ := json.Marshal(s.body)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("body\n got %s\nwant %s", gotJSON, wantJSON)
	}
}

func TestClientTimeout(t *testing.T) {
	pki := testenv.DevPKI(t)
	release := make(chan struct{})
	srv := &http.Server{TLSConfig: pki.ServerTLSConfig(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeTLS(ln, "", "")
	defer srv.Close()
	defer close(release)

	cfg := bankidsim.ClientConfig(pki, "https://"+ln.Addr().String()+"/rp/v6.0/")
	cfg.Timeout = 200 * time.Millisecond
	c, err := bankid.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Collect(context.Background(), "131daac9-16c6-4618-beb0-365768f37288")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if bankid.ErrorMessageCode(err) != bankid.RFA5 {
		t.Errorf("message for a timeout = %s, want RFA5", bankid.ErrorMessageCode(err))
	}

	// The caller's context bounds a request too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Collect(ctx, "131daac9-16c6-4618-beb0-365768f37288"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: err = %v", err)
	}
}

func TestNewClientRefusesBadConfig(t *testing.T) {
	pki := testenv.DevPKI(t)
	good := bankidsim.ClientConfig(pki, "https://127.0.0.1:8081/rp/v6.0/")
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pki.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	junkFile := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junkFile, []byte("no certificate here"), 0o600); err != nil {
		t.Fatal(err)
	}
	expiredP12, expiredPassword := expiredP12(t)

	cases := map[string]func(c *bankid.Config){
		"unknown environment":  func(c *bankid.Config) { c.Environment, c.BaseURL = "staging", "" },
		"http base URL":        func(c *bankid.Config) { c.BaseURL = "http://127.0.0.1:8081/rp/v6.0/" },
		"no certificate":       func(c *bankid.Config) { c.P12 = nil },
		"wrong password":       func(c *bankid.Config) { c.P12Password = "qwerty123" },
		"not PKCS#12":          func(c *bankid.Config) { c.P12 = []byte("not a p12") },
		"CAFile and CAPEM":     func(c *bankid.Config) { c.CAFile = caFile },
		"CA file missing":      func(c *bankid.Config) { c.CAPEM, c.CAFile = nil, filepath.Join(dir, "missing.pem") },
		"CA file without cert": func(c *bankid.Config) { c.CAPEM, c.CAFile = nil, junkFile },
		"expired certificate":  func(c *bankid.Config) { c.P12, c.P12Password = expiredP12, expiredPassword },
	}
	for name, change := range cases {
		cfg := good
		change(&cfg)
		if c, err := bankid.NewClient(cfg); err == nil {
			c.Close()
			t.Errorf("%s: NewClient accepted it", name)
		}
	}

	withFile := good
	withFile.CAPEM, withFile.CAFile = nil, caFile
	c, err := bankid.NewClient(withFile)
	if err != nil {
		t.Fatalf("CAFile: %v", err)
	}
	if c.Certificate().Subject.CommonName != "sigill dev RP" {
		t.Errorf("Certificate() = %q", c.Certificate().Subject.CommonName)
	}
	c.Close()

	for _, env := range []bankid.Environment{bankid.Test, bankid.Production} {
		c, err := bankid.NewClient(bankid.Config{Environment: env, P12: good.P12, P12Password: good.P12Password})
		if err != nil {
			t.Fatalf("%s with the pinned root: %v", env, err)
		}
		if bankid.BaseURL(c) != map[bankid.Environment]string{bankid.Test: bankid.TestBaseURL, bankid.Production: bankid.ProductionBaseURL}[env] {
			t.Errorf("%s base URL = %s", env, bankid.BaseURL(c))
		}
		c.Close()
	}
}

// expiredP12 makes an RP certificate that expired yesterday.
func expiredP12(t *testing.T) ([]byte, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		Subject:   pkix.Name{CommonName: "expired RP"},
		NotBefore: time.Now().Add(-48 * time.Hour),
		NotAfter:  time.Now().Add(-24 * time.Hour),
	}
	tmpl.SerialNumber = big.NewInt(1)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p12, err := pkcs12.Modern.Encode(key, cert, nil, "secret")
	if err != nil {
		t.Fatal(err)
	}
	return p12, "secret"
}
