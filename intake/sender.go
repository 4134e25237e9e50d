package intake

import (
	"strings"
	"unicode"

	"sigill/addressing"
)

// SenderError is an envelope sender the gateway will not vouch for: the
// sender is shown to recipients (in the SMS and on the reader page), so it
// must be an address a person reads as one. Why names the fault; Masked is
// a personal number found in it, as it may be repeated (19990807-****).
type SenderError struct {
	Why    string
	Masked string
}

func (e *SenderError) Error() string { return "unacceptable sender: " + e.Why }

// The faults CheckSender names.
const (
	SenderNull           = "the null sender <> names nobody"
	SenderNoDomain       = "the address has no domain"
	SenderNotDotAtom     = "the local part is not a plain address (a quoted string, spaces, or characters other than letters, digits and !#$%&'*+-/=?^_`{|}~ between single dots)"
	SenderBadDomain      = "the domain holds characters other than letters, digits, dots and hyphens"
	SenderPersonalNumber = "the address holds a personal identity number"
)

// CheckSender refuses an envelope sender that is not plain enough to show
// a recipient as the gateway's word: a null sender, a local part that is
// not a dot-atom (RFC 5322 §3.4.1; with SMTPUTF8, letters, digits and
// marks of any script too, but never spaces, control or format characters
// such as the bidi override U+202E), a domain with anything but letters,
// digits, dots and hyphens, or a personal number anywhere in it.
func CheckSender(from string) error {
	if from == "" {
		return &SenderError{Why: SenderNull}
	}
	at := strings.LastIndexByte(from, '@')
	if at < 0 || at == len(from)-1 {
		return &SenderError{Why: SenderNoDomain}
	}
	local, domain := from[:at], from[at+1:]
	if !isDotAtom(local, isAtext) {
		return &SenderError{Why: SenderNotDotAtom}
	}
	if !isDotAtom(domain, isDomainChar) {
		return &SenderError{Why: SenderBadDomain}
	}
	if masked, found := addressing.FindPersonalNumber(from); found {
		return &SenderError{Why: SenderPersonalNumber, Masked: masked}
	}
	return nil
}

// isDotAtom: runs of ok characters joined by single dots.
func isDotAtom(s string, ok func(rune) bool) bool {
	for _, atom := range strings.Split(s, ".") {
		if atom == "" || strings.IndexFunc(atom, func(r rune) bool { return !ok(r) }) >= 0 {
			return false
		}
	}
	return true
}

// isAtext is RFC 5322's atext, and, for internationalised addresses (RFC
// 6532), letters, digits and combining marks beyond ASCII: no symbol,
// space, control or format character of another script.
func isAtext(r rune) bool {
	if r < 0x80 {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' ||
			strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)
	}
	return unicode.In(r, unicode.L, unicode.M, unicode.Nd)
}

// isDomainChar: LDH labels, in ASCII or as U-labels.
func isDomainChar(r rune) bool {
	if r < 0x80 {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-'
	}
	return unicode.In(r, unicode.L, unicode.M, unicode.Nd)
}
