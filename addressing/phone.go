package addressing

import (
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// isPhoneShaped reports whether a target is written as a phone number:
// an optional leading '+', then digits, '-' and spaces, with a digit first.
func isPhoneShaped(t string) bool {
	t = strings.TrimPrefix(t, "+")
	if t == "" || !isDigit(t[0]) {
		return false
	}
	for i := 0; i < len(t); i++ {
		if !isDigit(t[i]) && t[i] != '-' && t[i] != ' ' {
			return false
		}
	}
	return true
}

// phoneSeparators are what people write between digit groups. Built once: a
// Replacer builds its lookup table on first use, which per RCPT showed up in
// intake's allocation profile.
var phoneSeparators = strings.NewReplacer("-", "", " ", "")

// parsePhone reads a phone-shaped target in region and returns it in E.164,
// or a fault that names the number as written. "+" and a leading "00" mark
// the international form; a national number that is not valid in region is
// tried once more as international ("46701234567"). Only numbers an SMS
// reaches are taken: MOBILE, and FIXED_LINE_OR_MOBILE where the numbering
// plan does not tell the two apart (as in the US).
func parsePhone(target, region string) (e164, fault string) {
	digits := phoneSeparators.Replace(target)
	international := false
	switch {
	case strings.HasPrefix(digits, "+"):
		international, digits = true, digits[1:]
	case strings.HasPrefix(digits, "00"):
		international, digits = true, digits[2:]
	}
	var candidates []string
	if international {
		candidates = []string{"+" + digits}
	} else {
		candidates = []string{digits}
		if !strings.HasPrefix(digits, "0") {
			candidates = append(candidates, "+"+digits)
		}
	}
	// E.164 has at most 15 digits; a national form may carry a trunk prefix.
	if len(digits) > 17 {
		candidates = nil
	}
	landline := ""
	for _, c := range candidates {
		n, err := phonenumbers.Parse(c, region)
		if err != nil {
			continue
		}
		// A number's type is UNKNOWN exactly when it is not valid
		// (IsValidNumber is that comparison): asking both ran the type's
		// patterns twice for every RCPT.
		switch phonenumbers.GetNumberType(n) {
		case phonenumbers.UNKNOWN:
			continue
		case phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE:
			return phonenumbers.Format(n, phonenumbers.E164), ""
		}
		if landline == "" {
			landline = phonenumbers.GetRegionCodeForNumber(n)
			if landline == "" {
				landline = fmt.Sprintf("+%d", n.GetCountryCode())
			}
		}
	}
	if landline != "" {
		return "", fmt.Sprintf("%s is not a mobile number in %s; an SMS cannot reach it: write a mobile number, or name=domain for e-mail", show(target), landline)
	}
	if international {
		return "", fmt.Sprintf("%s is not a valid phone number; check the country code and the digits after it", show(target))
	}
	return "", fmt.Sprintf("%s is not a valid phone number in %s; check the digits (a number in another country needs + and its country code)", show(target), region)
}
