package bankid

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Status is the status of a collect answer.
type Status string

// The three statuses of RP API v6.0. Anything else is refused by
// [DecodeCollect].
const (
	StatusPending  Status = "pending"
	StatusFailed   Status = "failed"
	StatusComplete Status = "complete"
)

// HintCode says more about a pending or failed order. BankID may add codes
// without notice; they are kept as they arrive, and [Message] maps them to
// RFA21 (pending) or RFA22 (failed).
type HintCode string

// Hint codes documented for RP API v6.0.
const (
	// Pending.
	HintOutstandingTransaction HintCode = "outstandingTransaction" // the app has not yet picked up the order
	HintNoClient               HintCode = "noClient"               // the app has not yet picked up the order
	HintStarted                HintCode = "started"                // the app was started with the autostart token, no usable BankID found yet
	HintUserMrtd               HintCode = "userMrtd"               // the user is asked to scan an ID document (step-up)
	HintUserCallConfirm        HintCode = "userCallConfirm"        // phone authentication only
	HintUserSign               HintCode = "userSign"               // the app shows the order; the user is to enter the security code
	HintProcessing             HintCode = "processing"             // the order is being processed

	// Failed.
	HintExpiredTransaction     HintCode = "expiredTransaction"     // not completed within 3 minutes
	HintCertificateErr         HintCode = "certificateErr"         // the user's BankID is blocked, too old or unusable
	HintUserCancel             HintCode = "userCancel"             // the user cancelled in the app
	HintCancelled              HintCode = "cancelled"              // a new order for the same user replaced this one
	HintStartFailed            HintCode = "startFailed"            // the app was not started / the QR code not scanned in time
	HintUserDeclinedCall       HintCode = "userDeclinedCall"       // phone authentication only
	HintNotSupportedByUserApp  HintCode = "notSupportedByUserApp"  // the user's app is too old for the order
	HintTransactionRiskBlocked HintCode = "transactionRiskBlocked" // BankID blocked the order for its risk
)

// BankID's time limits for an order, as BankID documents them.
const (
	// StartTimeout is how long an order waits for the app to pick it up
	// (QR scanned or autostart opened) before it fails with startFailed.
	StartTimeout = 30 * time.Second
	// OrderTimeout is how long an order may stay pending at all before it
	// fails with expiredTransaction.
	OrderTimeout = 3 * time.Minute
)

// Risk is BankID's risk assessment of a completed order, present when the
// order was started with returnRisk (this client always asks for it).
// Callers refuse RiskHigh; an unknown value is kept as it is.
type Risk string

// Risk levels.
const (
	RiskLow      Risk = "low"
	RiskModerate Risk = "moderate"
	RiskHigh     Risk = "high"
)

// AuthRequest is what sigill asks BankID for. The client turns it into the
// /auth body: endUserIp, userVisibleData (base64 of UserVisibleData),
// userVisibleDataFormat, returnRisk: true, returnUrl and
// requirement.personalNumber, leaving out what is empty.
type AuthRequest struct {
	// EndUserIP is the address of the person's device as the reader page
	// saw it (through trusted proxies only). Required.
	EndUserIP string
	// UserVisibleData is the plain text the app shows; never message content.
	UserVisibleData string
	// UserVisibleDataFormat is "" (plain text) or "simpleMarkdownV1".
	UserVisibleDataFormat string
	// PersonalNumber, when set (12 digits), lets only that person's BankID
	// take the order.
	PersonalNumber string
	// ReturnURL is where the app returns after a same-device order. It only
	// wakes the page; it proves nothing.
	ReturnURL string
}

// authBody is the /auth request as BankID reads it.
type authBody struct {
	EndUserIP             string       `json:"endUserIp"`
	UserVisibleData       string       `json:"userVisibleData,omitempty"`
	UserVisibleDataFormat string       `json:"userVisibleDataFormat,omitempty"`
	ReturnRisk            bool         `json:"returnRisk,omitempty"`
	ReturnURL             string       `json:"returnUrl,omitempty"`
	Requirement           *requirement `json:"requirement,omitempty"`
}

type requirement struct {
	PersonalNumber string `json:"personalNumber,omitempty"`
}

type orderRefBody struct {
	OrderRef string `json:"orderRef"`
}

// AuthResponse is BankID's answer to /auth. QRStartSecret must stay on the
// server: only [QRData]'s output may reach the browser.
type AuthResponse struct {
	OrderRef       string `json:"orderRef"`
	AutoStartToken string `json:"autoStartToken"`
	QRStartToken   string `json:"qrStartToken"`
	QRStartSecret  string `json:"qrStartSecret"`
}

// CollectResponse is BankID's answer to /collect. HintCode is set while
// pending and when failed; CompletionData only when complete.
type CollectResponse struct {
	OrderRef       string          `json:"orderRef"`
	Status         Status          `json:"status"`
	HintCode       HintCode        `json:"hintCode,omitempty"`
	CompletionData *CompletionData `json:"completionData,omitempty"`
}

// CompletionData is what a complete order tells about the person and the
// signature. Callers compare User.PersonalNumber, never a number the user
// typed, and refuse Risk == RiskHigh.
type CompletionData struct {
	User            User      `json:"user"`
	Device          Device    `json:"device"`
	StepUp          *StepUp   `json:"stepUp,omitempty"`
	BankIDIssueDate IssueDate `json:"bankIdIssueDate"`
	Signature       string    `json:"signature"`    // base64 XML signature
	OCSPResponse    string    `json:"ocspResponse"` // base64 OCSP response
	Risk            Risk      `json:"risk,omitempty"`
}

// User is the person who completed the order.
type User struct {
	PersonalNumber string `json:"personalNumber"`
	Name           string `json:"name"`
	GivenName      string `json:"givenName"`
	Surname        string `json:"surname"`
}

// Device is the device the order was completed on.
type Device struct {
	IPAddress string `json:"ipAddress"`
	UHI       string `json:"uhi,omitempty"` // unique hardware identifier
}

// StepUp tells which extra checks were part of the order. It is an object;
// a stepUp of any other shape is ignored by [DecodeCollect] rather than
// failing the answer it came with.
type StepUp struct {
	// MRTD is true when an ID document was checked and passed.
	MRTD bool `json:"mrtd"`
}

// IssueDate is completionData.bankIdIssueDate, the day the person's BankID
// was issued. BankID writes it as an xsd:date, with or without a zone:
// "2023-08-09", "2023-08-09Z" or "2023-08-09+02:00". A value that is none of
// these is kept in Raw with a zero Date, because the issue date is
// information, not a reason to refuse a login.
type IssueDate struct {
	Date time.Time // midnight of that day, in the given zone (UTC without one)
	Raw  string    // as BankID sent it
}

// issueDateLayouts are tried in order. A full timestamp is accepted too, in
// case BankID ever sends one.
var issueDateLayouts = []string{"2006-01-02Z07:00", "2006-01-02", time.RFC3339Nano}

// UnmarshalJSON reads a date string; see IssueDate.
func (d *IssueDate) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*d = IssueDate{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("bankIdIssueDate: %w", err)
	}
	*d = ParseIssueDate(s)
	return nil
}

// MarshalJSON writes the date back as it came, or as "2006-01-02Z" when it
// was made in Go.
func (d IssueDate) MarshalJSON() ([]byte, error) {
	if d.Raw != "" {
		return json.Marshal(d.Raw)
	}
	if d.Date.IsZero() {
		return []byte(`""`), nil
	}
	return json.Marshal(d.Date.Format("2006-01-02Z07:00"))
}

// IsZero reports whether no date was given.
func (d IssueDate) IsZero() bool { return d.Raw == "" && d.Date.IsZero() }

// ParseIssueDate reads a bankIdIssueDate; see IssueDate.
func ParseIssueDate(s string) IssueDate {
	for _, layout := range issueDateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return IssueDate{Date: t, Raw: s}
		}
	}
	return IssueDate{Raw: s}
}

// maxAnswerBytes bounds what a single decoded answer may hold, so that a
// broken or hostile answer cannot make the gateway store megabytes per login.
const maxAnswerBytes = 1 << 20

// DecodeCollect decodes a /collect answer body and checks what a caller
// relies on: an orderRef, a status that is one of the three, and on
// complete a completionData with a personal number. Unknown fields are
// ignored and unknown hint codes kept.
func DecodeCollect(body []byte) (*CollectResponse, error) {
	if len(body) > maxAnswerBytes {
		return nil, fmt.Errorf("collect answer is %d bytes, more than %d", len(body), maxAnswerBytes)
	}
	var wire struct {
		OrderRef       string          `json:"orderRef"`
		Status         Status          `json:"status"`
		HintCode       HintCode        `json:"hintCode"`
		CompletionData json.RawMessage `json:"completionData"`
	}
	if err := json.Unmarshal(body, &wire); err != nil {
		return nil, fmt.Errorf("collect answer is not the expected JSON: %w", err)
	}
	r := &CollectResponse{OrderRef: wire.OrderRef, Status: wire.Status, HintCode: wire.HintCode}
	if r.OrderRef == "" {
		return nil, errors.New("collect answer has no orderRef")
	}
	switch r.Status {
	case StatusPending, StatusFailed:
		return r, nil
	case StatusComplete:
	default:
		return nil, fmt.Errorf("collect answer has status %q, not pending, failed or complete", r.Status)
	}
	cd, err := decodeCompletionData(wire.CompletionData)
	if err != nil {
		return nil, err
	}
	r.CompletionData = cd
	return r, nil
}

// decodeCompletionData reads completionData field by field, so that one odd
// optional field (a stepUp that is not an object, an issue date in a new
// shape) does not throw away the user it came with.
func decodeCompletionData(raw json.RawMessage) (*CompletionData, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, errors.New("collect answer is complete but has no completionData")
	}
	var fields struct {
		User            User            `json:"user"`
		Device          Device          `json:"device"`
		StepUp          json.RawMessage `json:"stepUp"`
		BankIDIssueDate IssueDate       `json:"bankIdIssueDate"`
		Signature       string          `json:"signature"`
		OCSPResponse    string          `json:"ocspResponse"`
		Risk            Risk            `json:"risk"`
	}
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("completionData is not the expected JSON: %w", err)
	}
	cd := &CompletionData{
		User:            fields.User,
		Device:          fields.Device,
		BankIDIssueDate: fields.BankIDIssueDate,
		Signature:       fields.Signature,
		OCSPResponse:    fields.OCSPResponse,
		Risk:            fields.Risk,
	}
	if len(fields.StepUp) > 0 && fields.StepUp[0] == '{' {
		var s StepUp
		if json.Unmarshal(fields.StepUp, &s) == nil {
			cd.StepUp = &s
		}
	}
	if cd.User.PersonalNumber == "" {
		return nil, errors.New("collect answer is complete but completionData.user.personalNumber is empty")
	}
	return cd, nil
}
