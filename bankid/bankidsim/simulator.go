package bankidsim

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"sigill/bankid"
	"sigill/internal/devpki"
)

// The simulator forgets orders this long after they were made, whether or
// not anyone collected them, so that an abandoned dev session does not grow
// it for ever.
const orderRetention = 10 * time.Minute

// Limits BankID documents for /auth that the simulator enforces.
const (
	maxUserVisibleData = 1500 // characters after base64, for /auth
	maxReturnURL       = 512
	maxRequestBytes    = 64 << 10
)

// Fault is an error the simulator answers every RP API request with while it
// is injected, to exercise the client's error handling.
type Fault string

// The faults the simulator can inject. Each JSON fault answers with that
// errorCode and its HTTP status; the HTML ones answer the way a load
// balancer in front of BankID does, with a page instead of JSON.
const (
	FaultNone                 Fault = ""
	FaultMaintenance          Fault = "maintenance"          // 503
	FaultRequestTimeout       Fault = "requestTimeout"       // 408
	FaultTooManyRequests      Fault = "tooManyRequests"      // 429
	FaultInternalError        Fault = "internalError"        // 500
	FaultUnauthorized         Fault = "unauthorized"         // 401
	FaultNotFound             Fault = "notFound"             // 404
	FaultMethodNotAllowed     Fault = "methodNotAllowed"     // 405
	FaultUnsupportedMediaType Fault = "unsupportedMediaType" // 415
	FaultInvalidParameters    Fault = "invalidParameters"    // 400
	FaultForbiddenHTML        Fault = "forbiddenHTML"        // 403, text/html
	FaultUnauthorizedHTML     Fault = "unauthorizedHTML"     // 401, text/html
)

var faultStatus = map[Fault]int{
	FaultMaintenance:          http.StatusServiceUnavailable,
	FaultRequestTimeout:       http.StatusRequestTimeout,
	FaultTooManyRequests:      http.StatusTooManyRequests,
	FaultInternalError:        http.StatusInternalServerError,
	FaultUnauthorized:         http.StatusUnauthorized,
	FaultNotFound:             http.StatusNotFound,
	FaultMethodNotAllowed:     http.StatusMethodNotAllowed,
	FaultUnsupportedMediaType: http.StatusUnsupportedMediaType,
	FaultInvalidParameters:    http.StatusBadRequest,
	FaultForbiddenHTML:        http.StatusForbidden,
	FaultUnauthorizedHTML:     http.StatusUnauthorized,
}

// Simulator plays BankID's RP API v6.0 and the user's phone. As an
// http.Handler it serves /rp/v6.0/auth, /collect and /cancel with BankID's
// rules:
//
//   - POST only (405 methodNotAllowed), Content-Type exactly
//     application/json (415 unsupportedMediaType), other paths 404 notFound;
//   - mutual TLS: a request without a verified client certificate gets 401
//     unauthorized (so the listener must verify certificates that are given
//     but not demand one; see devpki.PKI.ServerTLSConfig);
//   - orderRef and tokens are random UUIDs, statuses lowercase;
//   - 400 invalidParameters for a bad endUserIp, userVisibleData or
//     personal number, and for an unknown or finished order: the collect
//     that reports complete or failed is the last one, after it the order is
//     gone, as is an order the RP cancelled;
//   - an order the app has not picked up fails with startFailed after
//     bankid.StartTimeout, any pending order with expiredTransaction after
//     bankid.OrderTimeout, on the Now clock;
//   - BankID allows one open order per person: /auth with
//     requirement.personalNumber while a pending order is that person's (it
//     requires the same number, or the person has picked it up in the app:
//     Scan with a PersonalNumber) gets 400 alreadyInProgress, and the pending
//     order fails with hintCode cancelled: BankID aborts the order in progress
//     and creates no new one, so both are gone;
//   - the hint goes outstandingTransaction → started (opened with the
//     autostart token; the next collect moves it to userSign) or userSign
//     (QR scanned) → complete or failed.
//
// The zero value is ready to use. It is safe for concurrent use.
type Simulator struct {
	// Now is the simulator's clock; nil means time.Now. Tests set a fake
	// clock before the first request and move it to reach startFailed and
	// expiredTransaction. Set it before use, not while serving.
	Now func() time.Time

	mu          sync.Mutex
	orders      map[string]*simOrder // by orderRef
	byAutoStart map[string]*simOrder
	byQRToken   map[string]*simOrder
	fault       Fault
}

// New returns a simulator on the real clock.
func New() *Simulator { return &Simulator{} }

type simOrder struct {
	ref, autoStartToken, qrStartToken, qrStartSecret string
	created                                          time.Time
	endUserIP                                        string
	requiredPN                                       string // requirement.personalNumber
	person                                           string // whose order it is: requiredPN, or who picked it up
	requireMRTD                                      bool
	returnRisk                                       bool
	visibleText                                      string // userVisibleData, decoded

	status     bankid.Status
	hint       bankid.HintCode
	opened     bool // the app picked the order up
	completion *bankid.CompletionData
}

func (s *Simulator) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// InjectFault makes every RP API request fail with f until it is called
// again with FaultNone. Faults are checked after the client certificate.
func (s *Simulator) InjectFault(f Fault) error {
	if _, ok := faultStatus[f]; !ok && f != FaultNone {
		return fmt.Errorf("bankid simulator: unknown fault %q", f)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
	return nil
}

// ServeHTTP serves the RP API; see Simulator.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		writeAPIError(w, http.StatusUnauthorized, bankid.ErrUnauthorized, "A client certificate is required (mutual TLS)")
		return
	}
	s.mu.Lock()
	fault := s.fault
	s.mu.Unlock()
	if fault != FaultNone {
		writeFault(w, fault)
		return
	}
	op, ok := strings.CutPrefix(r.URL.Path, "/rp/v6.0/")
	if !ok || (op != "auth" && op != "collect" && op != "cancel") {
		writeAPIError(w, http.StatusNotFound, bankid.ErrNotFound, "No such method: "+r.URL.Path)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeAPIError(w, http.StatusMethodNotAllowed, bankid.ErrMethodNotAllowed, "Only POST is allowed")
		return
	}
	// BankID takes application/json and nothing else, not even a charset.
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" || len(params) > 0 {
		writeAPIError(w, http.StatusUnsupportedMediaType, bankid.ErrUnsupportedMediaType, "Content-Type must be application/json without parameters")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, bankid.ErrInvalidParameters, "Request body is too large or unreadable")
		return
	}
	switch op {
	case "auth":
		s.serveAuth(w, body)
	case "collect":
		s.serveCollect(w, body)
	case "cancel":
		s.serveCancel(w, body)
	}
}

func (s *Simulator) serveAuth(w http.ResponseWriter, body []byte) {
	var req struct {
		EndUserIP             string `json:"endUserIp"`
		UserVisibleData       string `json:"userVisibleData"`
		UserVisibleDataFormat string `json:"userVisibleDataFormat"`
		ReturnRisk            bool   `json:"returnRisk"`
		ReturnURL             string `json:"returnUrl"`
		Requirement           struct {
			PersonalNumber string `json:"personalNumber"`
			MRTD           bool   `json:"mrtd"`
		} `json:"requirement"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeAPIError(w, http.StatusBadRequest, bankid.ErrInvalidParameters, "Invalid JSON")
		return
	}
	if _, err := netip.ParseAddr(req.EndUserIP); err != nil {
		writeAPIError(w, http.StatusBadRequest, bankid.ErrInvalidParameters, "Invalid endUserIp")
		return
	}
	var visible string
	if req.UserVisibleData != "" {
		text, err := base64.StdEncoding.DecodeString(req.UserVisibleData)
		if err != nil || len(req.UserVisibleData) > maxUserVisibleData {
			writeAPIError(w, http.StatusBadRequest, bankid.ErrInvalidParameters, "Invalid userVisibleData")
			return
		}
		visible = string(text)
	}
	switch req.UserVisibleDataFormat {
	case "", "simpleMarkdownV1":
	default:
		writeAPIError(w, http.StatusBadRequest, bankid.ErrInvalidParameters, "Invalid userVisibleDataFormat")
		return
	}
	if req.ReturnURL != "" {
		u, err := url.Parse(req.ReturnURL)
		if err != nil || !u.IsAbs() || len(req.ReturnURL) > maxReturnURL {
			writeAPIError(w, http.StatusBadRequest, bankid.ErrInvalidParameters, "Invalid returnUrl")
			return
		}
	}
	pn := req.Requirement.PersonalNumber
	if pn != "" && !validPersonalNumber(pn) {
		writeAPIError(w, http.StatusBadRequest, bankid.ErrInvalidParameters, "Invalid personalNumber")
		return
	}

	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetOld(now)
	if pn != "" {
		for _, o := range s.orders {
			s.expire(o, now)
			if o.status == bankid.StatusPending && o.person == pn {
				o.status, o.hint = bankid.StatusFailed, bankid.HintCancelled
				writeAPIError(w, http.StatusBadRequest, bankid.ErrAlreadyInProgress, "Order already in progress for pno")
				return
			}
		}
	}
	o := &simOrder{
		ref:            newUUID(),
		autoStartToken: newUUID(),
		qrStartToken:   newUUID(),
		qrStartSecret:  newUUID(),
		created:        now,
		endUserIP:      req.EndUserIP,
		requiredPN:     pn,
		person:         pn,
		requireMRTD:    req.Requirement.MRTD,
		returnRisk:     req.ReturnRisk,
		visibleText:    visible,
		status:         bankid.StatusPending,
		hint:           bankid.HintOutstandingTransaction,
	}
	s.add(o)
	writeJSON(w, http.StatusOK, bankid.AuthResponse{
		OrderRef:       o.ref,
		AutoStartToken: o.autoStartToken,
		QRStartToken:   o.qrStartToken,
		QRStartSecret:  o.qrStartSecret,
	})
}

func (s *Simulator) serveCollect(w http.ResponseWriter, body []byte) {
	var req orderRefBody
	if err := json.Unmarshal(body, &req); err != nil || req.OrderRef == "" {
		writeAPIError(w, http.StatusBadRequest, bankid.ErrInvalidParameters, "Invalid orderRef")
		return
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[req.OrderRef]
	if !ok {
		writeAPIError(w, http.StatusBadRequest, bankid.ErrInvalidParameters, "No such order")
		return
	}
	s.expire(o, now)
	resp := bankid.CollectResponse{OrderRef: o.ref, Status: o.status}
	switch o.status {
	case bankid.StatusPending:
		resp.HintCode = o.hint
		// The app that was started with the autostart token finds the
		// person's BankID and asks for the security code.
		if o.hint == bankid.HintStarted {
			o.hint = bankid.HintUserSign
		}
	case bankid.StatusFailed:
		resp.HintCode = o.hint
		s.remove(o)
	case bankid.StatusComplete:
		resp.CompletionData = o.completion
		s.remove(o)
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Simulator) serveCancel(w http.ResponseWriter, body []byte) {
	var req orderRefBody
	if err := json.Unmarshal(body, &req); err != nil || req.OrderRef == "" {
		writeAPIError(w, http.StatusBadRequest, bankid.ErrInvalidParameters, "Invalid orderRef")
		return
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[req.OrderRef]
	if ok {
		s.expire(o, now)
	}
	if !ok || o.status != bankid.StatusPending {
		writeAPIError(w, http.StatusBadRequest, bankid.ErrInvalidParameters, "No such order")
		return
	}
	s.remove(o)
	writeJSON(w, http.StatusOK, struct{}{})
}

// expire fails a pending order whose time is up. Called with s.mu held.
func (s *Simulator) expire(o *simOrder, now time.Time) {
	if o.status != bankid.StatusPending {
		return
	}
	age := now.Sub(o.created)
	switch {
	case !o.opened && age >= bankid.StartTimeout:
		o.status, o.hint = bankid.StatusFailed, bankid.HintStartFailed
	case age >= bankid.OrderTimeout:
		o.status, o.hint = bankid.StatusFailed, bankid.HintExpiredTransaction
	}
}

func (s *Simulator) add(o *simOrder) {
	if s.orders == nil {
		s.orders = make(map[string]*simOrder)
		s.byAutoStart = make(map[string]*simOrder)
		s.byQRToken = make(map[string]*simOrder)
	}
	s.orders[o.ref] = o
	s.byAutoStart[o.autoStartToken] = o
	s.byQRToken[o.qrStartToken] = o
}

func (s *Simulator) remove(o *simOrder) {
	delete(s.orders, o.ref)
	delete(s.byAutoStart, o.autoStartToken)
	delete(s.byQRToken, o.qrStartToken)
}

// forgetOld drops orders made more than orderRetention ago.
func (s *Simulator) forgetOld(now time.Time) {
	for _, o := range s.orders {
		if now.Sub(o.created) > orderRetention {
			s.remove(o)
		}
	}
}

// errorBody is BankID's error answer, as the simulator writes it.
type errorBody struct {
	ErrorCode string `json:"errorCode"`
	Details   string `json:"details"`
}

// orderRefBody is the request of /collect and /cancel, as the simulator
// reads it.
type orderRefBody struct {
	OrderRef string `json:"orderRef"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeAPIError(w http.ResponseWriter, status int, code bankid.ErrorCode, details string) {
	writeJSON(w, status, errorBody{ErrorCode: string(code), Details: details})
}

// writeFault answers with an injected fault. The HTML pages are what nginx
// in front of BankID sends, not BankID itself.
func writeFault(w http.ResponseWriter, f Fault) {
	status := faultStatus[f]
	switch f {
	case FaultForbiddenHTML, FaultUnauthorizedHTML:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		text := fmt.Sprintf("%d %s", status, http.StatusText(status))
		fmt.Fprintf(w, "<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n<center><h1>%s</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n", text, text)
	default:
		writeAPIError(w, status, bankid.ErrorCode(f), "Injected by the simulator")
	}
}

// newUUID returns a random (version 4) UUID, the form of BankID's orderRef
// and tokens.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("bankid simulator: no randomness: " + err.Error())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// validPersonalNumber reports whether s has BankID's form of a personal
// identity number: 12 digits, YYYYMMDDNNNC.
func validPersonalNumber(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// maskPersonalNumber writes a personal number the way sigill may show or
// log it: the date of birth and four stars, 19990807-****.
func maskPersonalNumber(pn string) string {
	if len(pn) < 8 {
		return "****"
	}
	return pn[:8] + "-****"
}

// Server returns an http.Server for the simulator's RP API over TLS with
// pki's certificates. Serve it with srv.ServeTLS(ln, "", "") on a listener
// such as 127.0.0.1:8081, and stop it with srv.Shutdown. The phone pages are
// not part of it: mount PhoneHandler on the reader's listener.
func (s *Simulator) Server(pki *devpki.PKI) *http.Server {
	return &http.Server{
		Handler:           s,
		TLSConfig:         pki.ServerTLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
}

// ClientConfig is the Config of a bankid.Client that talks to the simulator
// at baseURL (e.g. "https://127.0.0.1:8081/rp/v6.0/") with pki's RP
// certificate, trusting pki's CA instead of BankID's root.
func ClientConfig(pki *devpki.PKI, baseURL string) bankid.Config {
	return bankid.Config{
		Environment: bankid.Test,
		BaseURL:     baseURL,
		P12:         pki.RPP12,
		P12Password: pki.RPPassword,
		CAPEM:       pki.CAPEM,
	}
}
