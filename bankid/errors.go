package bankid

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"

	"sigill/addressing"
)

// ErrorCode is the errorCode of a BankID error answer. Every code BankID
// documents for RP API v6.0 is a constant here, and the type is an error, so
// that errors.Is(err, ErrMaintenance) works on what the client returns. A
// code BankID adds later arrives as an [*APIError] with that code; [Message]
// shows RFA22 for it, as BankID asks.
type ErrorCode string

func (c ErrorCode) Error() string { return "bankid: " + string(c) }

// The error codes of BankID's RP API v6.0, with what BankID says the RP must
// do about each.
const (
	// ErrAlreadyInProgress (400): an order for this personal number was
	// already in progress. BankID aborts that order and creates no new one.
	// Tell the user (RFA4).
	ErrAlreadyInProgress ErrorCode = "alreadyInProgress"
	// ErrInvalidParameters (400): a bad parameter, an unknown orderRef, or an
	// order that is already finished, collected or cancelled. An error in
	// the RP, not to be shown to the user as a BankID error.
	ErrInvalidParameters ErrorCode = "invalidParameters"
	// ErrUnauthorized (401): the RP has no access to the service.
	ErrUnauthorized ErrorCode = "unauthorized"
	// ErrNotFound (404): a wrong URL path.
	ErrNotFound ErrorCode = "notFound"
	// ErrMethodNotAllowed (405): only POST is allowed.
	ErrMethodNotAllowed ErrorCode = "methodNotAllowed"
	// ErrRequestTimeout (408): the request took too long to transmit. Do
	// not try again automatically; tell the user (RFA5).
	ErrRequestTimeout ErrorCode = "requestTimeout"
	// ErrUnsupportedMediaType (415): the Content-Type was not exactly
	// application/json (BankID refuses even a charset parameter).
	ErrUnsupportedMediaType ErrorCode = "unsupportedMediaType"
	// ErrInternalError (500): a fault inside BankID. Do not try again
	// automatically; tell the user (RFA5).
	ErrInternalError ErrorCode = "internalError"
	// ErrMaintenance (503): BankID is temporarily unavailable. The RP may try
	// again; if it keeps happening, tell the user (RFA5).
	ErrMaintenance ErrorCode = "maintenance"
	// ErrTooManyRequests (429): the RP sends too many requests.
	ErrTooManyRequests ErrorCode = "tooManyRequests"
)

// Codes this package gives to answers that carry no BankID errorCode.
const (
	// ErrAccessDenied is a 401 or 403 whose body is not a BankID error
	// (typically an HTML page from the load balancer in front of BankID):
	// the RP certificate was not accepted, or the caller is blocked.
	ErrAccessDenied ErrorCode = "accessDenied"
	// ErrUnexpectedResponse is any other answer that is neither a success
	// nor a BankID error.
	ErrUnexpectedResponse ErrorCode = "unexpectedResponse"
)

// APIError is a non-success answer from the RP API.
type APIError struct {
	Op         string    // "auth", "collect" or "cancel"
	StatusCode int       // the HTTP status
	Code       ErrorCode // errorCode from the body, or ErrAccessDenied / ErrUnexpectedResponse
	Details    string    // details from the body, or an excerpt of a non-JSON body
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("bankid: %s: %d %s", e.Op, e.StatusCode, string(e.Code))
	if e.Details != "" {
		msg += ": " + e.Details
	}
	return msg
}

// Unwrap returns the code, which makes errors.Is(err, ErrMaintenance) work.
func (e *APIError) Unwrap() error { return e.Code }

// Retryable reports whether BankID allows trying the same request again
// without involving the user: after maintenance and tooManyRequests (later,
// not at once). requestTimeout and internalError are not retryable: BankID
// asks the RP to tell the user instead.
func Retryable(err error) bool {
	return errors.Is(err, ErrMaintenance) || errors.Is(err, ErrTooManyRequests)
}

// errorBody is BankID's error answer: {"errorCode": "...", "details": "..."}.
type errorBody struct {
	ErrorCode string `json:"errorCode"`
	Details   string `json:"details"`
}

// statusCodes is what a BankID error code is sent with, for answers whose
// body is not JSON but whose status still says what happened.
var statusCodes = map[int]ErrorCode{
	http.StatusBadRequest:           ErrInvalidParameters,
	http.StatusNotFound:             ErrNotFound,
	http.StatusMethodNotAllowed:     ErrMethodNotAllowed,
	http.StatusRequestTimeout:       ErrRequestTimeout,
	http.StatusUnsupportedMediaType: ErrUnsupportedMediaType,
	http.StatusTooManyRequests:      ErrTooManyRequests,
	http.StatusInternalServerError:  ErrInternalError,
	http.StatusServiceUnavailable:   ErrMaintenance,
}

// parseError turns a non-200 answer into an *APIError. A JSON body with an
// errorCode wins; otherwise the status decides, and a 401 or 403 without a
// BankID body is ErrAccessDenied.
func parseError(op string, status int, body []byte) *APIError {
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil && eb.ErrorCode != "" {
		return &APIError{Op: op, StatusCode: status, Code: ErrorCode(eb.ErrorCode), Details: clip(eb.Details)}
	}
	e := &APIError{Op: op, StatusCode: status, Details: clip(string(body))}
	switch code, ok := statusCodes[status]; {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Code = ErrAccessDenied
	case ok:
		e.Code = code
	default:
		e.Code = ErrUnexpectedResponse
	}
	return e
}

// clip makes a body excerpt fit for an error message, which is logged: one
// line, printable, personal numbers masked (BankID's details may quote the
// request's), at most 200 characters.
func clip(s string) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }), " ")
	if r := []rune(s); len(r) > 400 {
		s = string(r[:400])
	}
	s = addressing.MaskPersonalNumbers(s)
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}
