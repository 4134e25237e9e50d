package addressing

import (
	"fmt"
	"slices"
	"strings"
	"sync"

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
	if !international {
		if e164, ok := nationalMobile(digits, region); ok {
			return e164, ""
		}
	}
	return parsePhoneDigits(target, digits, international, region)
}

// parsePhoneDigits is parsePhone the long way, through phonenumbers.Parse,
// for target's digits (without "+" or "00" when international).
func parsePhoneDigits(target, digits string, international bool, region string) (e164, fault string) {
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

// nationalMobile is parsePhone's short way for the form nearly every RCPT
// has: a mobile number written nationally, "0" and the national
// significant number (070-123 45 67), in a region whose trunk prefix is a
// plain "0" and whose international prefix is "00". phonenumbers.Parse
// reads such a number as the region's country code and the digits after
// the "0" (no country code and no "00" can begin "0[1-9]"; it strips the
// "0" when what is left is a number of the region), but only after a
// dozen regular expressions over the raw text, a fifth of a RCPT's CPU.
// Here the library's own metadata and type patterns decide. Only a mobile
// answer is taken: anything else goes the long way, so every refusal is
// the library's. TestNationalMobileIsParse and FuzzNationalMobile hold the
// two ways to the same answer.
func nationalMobile(digits, region string) (string, bool) {
	if len(digits) < 3 || len(digits) > 17 || digits[0] != '0' || digits[1] == '0' {
		return "", false
	}
	var nsn uint64
	for i := 1; i < len(digits); i++ {
		if !isDigit(digits[i]) {
			return "", false
		}
		nsn = nsn*10 + uint64(digits[i]-'0')
	}
	code, ok := trunkZeroRegion(region)
	if !ok {
		return "", false
	}
	n := &phonenumbers.PhoneNumber{CountryCode: &code, NationalNumber: &nsn}
	switch phonenumbers.GetNumberType(n) {
	case phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE:
		return phonenumbers.Format(n, phonenumbers.E164), true
	}
	return "", false
}

// trunkZeroRegions: region → its country code, for the regions
// nationalMobile may read: the only region of its country code (so the
// number's region is region), national prefix "0" stripped as it is (no
// carrier codes, no transform), international prefix "00".
var trunkZeroRegions = sync.OnceValue(func() map[string]int32 {
	regions := map[string]int32{}
	all, err := phonenumbers.MetadataCollection()
	if err != nil {
		return regions
	}
	for _, md := range all.GetMetadata() {
		code := md.GetCountryCode()
		if md.GetNationalPrefix() == "0" && md.GetNationalPrefixForParsing() == "0" &&
			md.GetNationalPrefixTransformRule() == "" && md.GetInternationalPrefix() == "00" &&
			slices.Equal(phonenumbers.GetRegionCodesForCountryCode(int(code)), []string{md.GetId()}) {
			regions[md.GetId()] = code
		}
	}
	return regions
})

func trunkZeroRegion(region string) (int32, bool) {
	code, ok := trunkZeroRegions()[region]
	return code, ok
}
