package addressing

import (
	"fmt"
	"slices"
)

// Channel is how a recipient is told that a message waits.
type Channel string

const (
	SMS   Channel = "sms"
	Email Channel = "email"
)

// Recipient is what one RCPT TO address means: one channel, one destination,
// and who may open the message. Its JSON form is what `sigill addr` prints.
type Recipient struct {
	Channel Channel  `json:"channel"`
	To      string   `json:"to"`     // E.164 for SMS, addr-spec for e-mail
	Logins  []string `json:"logins"` // 12-digit personal numbers, sorted, unique; never nil
	Born    []string `json:"born"`   // YYYYMMDD birth dates of login=YYYYMMDD*; sorted, unique; never nil
	Anyone  bool     `json:"anyone"` // login=*
	Lang    string   `json:"lang"`   // "sv" or "en"
	// Exp is the message's lifetime the sender asked for (exp=); zero when
	// not given, and then the gateway's vault.retention applies.
	Exp Lifetime `json:"exp,omitempty"`
	// Reply is the sender's reply= ("yes", "no"), "" when not given.
	Reply Replies `json:"reply,omitempty"`
}

// Allows reports whether the holder of personalNumber (12 digits, as BankID
// returns it) may open a message sent to r.
func (r Recipient) Allows(personalNumber string) bool {
	if r.Anyone {
		return true
	}
	if slices.Contains(r.Logins, personalNumber) {
		return true
	}
	for _, date := range r.Born {
		if len(personalNumber) == 12 && personalNumber[:8] == date {
			return true
		}
	}
	return false
}

// Refusal is a recipient the gateway will not take, with the SMTP reply that
// says why. smtpd and `sigill addr` both print it, so staff see the same words
// wherever they meet it.
type Refusal struct {
	Code     int         // SMTP reply code, e.g. 550
	Enhanced [3]int      // RFC 3463 enhanced status code, e.g. {5, 1, 3}
	Kind     RefusalKind // which fault, in a word fit for a metric's label
	Address  string      // the address as the sender wrote it
	Reason   string      // the fault and how to mend it
}

// RefusalKind sorts refusals for counting: an admin alerting on refused
// recipients wants to tell "staff forgot login=" from "not our domain"
// without reading the reply texts.
type RefusalKind string

const (
	RefusedMalformed     RefusalKind = "malformed"       // no domain at all
	RefusedNotOurDomain  RefusalKind = "not_our_domain"  // a domain the gateway does not serve
	RefusedBadRecipient  RefusalKind = "bad_recipient"   // the mobile number or name=domain part
	RefusedBadParameter  RefusalKind = "bad_parameter"   // a key=value after it
	RefusedBadLogin      RefusalKind = "bad_login"       // a login= value that is no personal number or birth date
	RefusedTooManyLogins RefusalKind = "too_many_logins" // more than addressing.max_logins
	RefusedNoLogin       RefusalKind = "no_login"        // no login= where one is required
)

// RefusalKinds is every RefusalKind, for those who count them.
var RefusalKinds = []RefusalKind{RefusedMalformed, RefusedNotOurDomain, RefusedBadRecipient, RefusedBadParameter, RefusedBadLogin, RefusedTooManyLogins, RefusedNoLogin}

// Text is the reply text without the codes: "<addr>: reason". Control
// characters and broken UTF-8 in Address are shown as '?', so the reply
// stays one line whatever the sender wrote.
func (r *Refusal) Text() string { return fmt.Sprintf("<%s>: %s", printable(r.Address), r.Reason) }

func (r *Refusal) Error() string {
	return fmt.Sprintf("%d %d.%d.%d %s", r.Code, r.Enhanced[0], r.Enhanced[1], r.Enhanced[2], r.Text())
}
