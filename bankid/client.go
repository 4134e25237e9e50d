package bankid

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"sigill/config"
)

// Environment selects BankID's base URL and the root the client pins.
type Environment string

// BankID's two environments.
const (
	Test       Environment = "test"
	Production Environment = "production"
)

// Base URLs of the RP API v6.0.
const (
	TestBaseURL       = "https://appapi2.test.bankid.com/rp/v6.0/"
	ProductionBaseURL = "https://appapi2.bankid.com/rp/v6.0/"
)

// DefaultTimeout bounds one request, connection and TLS handshake included.
// BankID answers in well under a second; a collect loop that polls every
// 2 s must not pile up requests behind a stuck one.
const DefaultTimeout = 10 * time.Second

// Config is what a Client is made from.
type Config struct {
	// Environment is Test or Production. It picks the pinned root and,
	// unless BaseURL is set, the base URL.
	Environment Environment
	// BaseURL overrides the environment's base URL, e.g. the simulator's
	// https://127.0.0.1:8081/rp/v6.0/. It must be https.
	BaseURL string
	// P12 is the RP certificate with its key and chain (PKCS#12, as BankID
	// delivers it), P12Password its password.
	P12         []byte
	P12Password string
	// CAFile or CAPEM, when set, replace the pinned BankID root: PEM
	// certificates the server's chain must lead to. `sigill dev` passes the
	// simulator's throwaway CA here. At most one of them may be set.
	CAFile string
	CAPEM  []byte
	// Timeout bounds each request; zero means DefaultTimeout.
	Timeout time.Duration
}

// Client talks to BankID's RP API v6.0 with mutual TLS. It is safe for
// concurrent use.
type Client struct {
	base *url.URL
	http *http.Client
	tls  *tls.Config // the transport's: RP certificate and pinned root
	cert *x509.Certificate
}

// NewClient checks the configuration and makes a client. It reads the
// PKCS#12 file, refuses an expired RP certificate, and builds a TLS
// configuration that trusts only the pinned root (or the configured CA).
func NewClient(cfg Config) (*Client, error) {
	base := cfg.BaseURL
	switch {
	case base != "":
	case cfg.Environment == Test:
		base = TestBaseURL
	case cfg.Environment == Production:
		base = ProductionBaseURL
	default:
		return nil, fmt.Errorf("bankid: environment is %q, want %q or %q", cfg.Environment, Test, Production)
	}
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("bankid: base URL %q is not an https URL", base)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}

	roots, err := clientRoots(cfg)
	if err != nil {
		return nil, err
	}
	cert, err := ParseP12(cfg.P12, cfg.P12Password)
	if err != nil {
		return nil, err
	}
	if now := time.Now(); now.After(cert.Leaf.NotAfter) {
		return nil, fmt.Errorf("bankid: RP certificate %q expired on %s", cert.Leaf.Subject.CommonName, cert.Leaf.NotAfter.Format(time.DateOnly))
	}

	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tlsConfig := &tls.Config{
		RootCAs:      roots,
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
	}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		TLSClientConfig:       tlsConfig,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   16,
	}
	return &Client{
		base: u,
		http: &http.Client{Transport: transport, Timeout: timeout},
		tls:  tlsConfig,
		cert: cert.Leaf,
	}, nil
}

// clientRoots is the pool the server's certificate must chain to.
func clientRoots(cfg Config) (*x509.CertPool, error) {
	pemData := cfg.CAPEM
	source := "CAPEM"
	if cfg.CAFile != "" {
		if len(cfg.CAPEM) > 0 {
			return nil, errors.New("bankid: set CAFile or CAPEM, not both")
		}
		data, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("bankid: CA file: %w", err)
		}
		pemData, source = data, cfg.CAFile
	}
	if len(pemData) == 0 {
		return rootPool(cfg.Environment)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, fmt.Errorf("bankid: %s holds no PEM certificate", source)
	}
	return pool, nil
}

// ParseP12 reads an RP certificate from PKCS#12 data with config.ParseP12,
// the same reading `sigill check-config` judges the file by.
func ParseP12(data []byte, password string) (tls.Certificate, error) {
	cert, err := config.ParseP12(data, password)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("bankid: %w", err)
	}
	return cert, nil
}

// Ping completes a TLS handshake with the RP API, as the client's requests
// do (the pinned root, the RP certificate), and sends nothing: the readiness
// check of `sigill serve`'s /readyz. A proxy from the environment is not
// used here.
func (c *Client) Ping(ctx context.Context) error {
	addr := c.base.Host
	if c.base.Port() == "" {
		addr = net.JoinHostPort(c.base.Hostname(), "443")
	}
	d := tls.Dialer{Config: c.tls.Clone()}
	d.Config.ServerName = c.base.Hostname()
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("bankid: TLS handshake with %s: %w", addr, err)
	}
	return conn.Close()
}

// Certificate returns the RP certificate the client presents.
func (c *Client) Certificate() *x509.Certificate { return c.cert }

// Close closes idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Auth starts an authentication order. It always asks for the risk
// assessment (returnRisk), so that CompletionData.Risk can be checked.
func (c *Client) Auth(ctx context.Context, req AuthRequest) (*AuthResponse, error) {
	body := authBody{
		EndUserIP:             req.EndUserIP,
		UserVisibleDataFormat: req.UserVisibleDataFormat,
		ReturnRisk:            true,
		ReturnURL:             req.ReturnURL,
	}
	if req.UserVisibleData != "" {
		body.UserVisibleData = base64.StdEncoding.EncodeToString([]byte(req.UserVisibleData))
	}
	if req.PersonalNumber != "" {
		body.Requirement = &requirement{PersonalNumber: req.PersonalNumber}
	}
	raw, err := c.post(ctx, "auth", body)
	if err != nil {
		return nil, err
	}
	var r AuthResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("bankid: auth: answer is not the expected JSON: %w", err)
	}
	if r.OrderRef == "" || r.AutoStartToken == "" || r.QRStartToken == "" || r.QRStartSecret == "" {
		return nil, errors.New("bankid: auth: answer lacks orderRef, autoStartToken, qrStartToken or qrStartSecret")
	}
	return &r, nil
}

// Collect asks for the state of an order. Call it every 2 s while the status
// is pending, and never again after complete or failed: BankID answers a
// finished order with invalidParameters.
func (c *Client) Collect(ctx context.Context, orderRef string) (*CollectResponse, error) {
	raw, err := c.post(ctx, "collect", orderRefBody{OrderRef: orderRef})
	if err != nil {
		return nil, err
	}
	r, err := DecodeCollect(raw)
	if err != nil {
		return nil, fmt.Errorf("bankid: collect: %w", err)
	}
	if r.OrderRef != orderRef {
		return nil, fmt.Errorf("bankid: collect: answer is for order %q, asked for %q", r.OrderRef, orderRef)
	}
	return r, nil
}

// Cancel cancels a pending order, e.g. one the reader abandoned.
func (c *Client) Cancel(ctx context.Context, orderRef string) error {
	_, err := c.post(ctx, "cancel", orderRefBody{OrderRef: orderRef})
	return err
}

// post sends one JSON request and returns the body of a 200 answer, or an
// *APIError for any other status.
func (c *Client) post(ctx context.Context, op string, body any) ([]byte, error) {
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("bankid: %s: %w", op, err)
	}
	endpoint := c.base.JoinPath(op).String()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("bankid: %s: %w", op, err)
	}
	// Exactly this: BankID answers 415 to "application/json; charset=UTF-8".
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bankid: %s: %w", op, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return nil, fmt.Errorf("bankid: %s: reading answer: %w", op, err)
	}
	if len(raw) > maxAnswerBytes {
		return nil, fmt.Errorf("bankid: %s: answer is larger than %d bytes", op, maxAnswerBytes)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, parseError(op, resp.StatusCode, raw)
	}
	return raw, nil
}
