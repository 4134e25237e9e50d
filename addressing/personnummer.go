package addressing

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// ParsePersonalNumber reads a Swedish personal identity number (personnummer)
// or coordination number (samordningsnummer) in any form of addressing.md —
// YYYYMMDDNNNC, YYYYMMDD-NNNC, YYMMDDNNNC, YYMMDD-NNNC, YYMMDD+NNNC — and
// returns its 12-digit form YYYYMMDDNNNC, the form BankID returns.
//
// A 10-digit form takes the most recent century that does not put the birth
// date after now, one century earlier for '+'. The date must exist (the day
// of a samordningsnummer is the birth day + 60; month 00 and day 60 mean
// "not known"), must not be after now, and the last digit must be the Luhn
// check digit of the 10-digit form.
//
// The error text begins with s as written and then names the fault and how
// to mend it, e.g. "199908072392 has a wrong check digit (expected 1); ...".
func ParsePersonalNumber(s string, now time.Time) (string, error) {
	date, serial, plus, err := splitPersonalNumber(s)
	if err != nil {
		return "", err
	}
	year, fault := resolveDate(date, plus, now)
	if fault != "" {
		return "", fmt.Errorf("%s is not a valid personal number: %s", show(s), fault)
	}
	ten := date[len(date)-6:] + serial
	if want := luhnCheckDigit(ten[:9]); ten[9] != want {
		return "", fmt.Errorf("%s has a wrong check digit (expected %c); a digit is probably mistyped: check the whole number with the recipient", show(s), want)
	}
	return fmt.Sprintf("%04d", year) + ten[2:], nil
}

// parseBirthDate reads the date of login=YYYYMMDD* or login=YYMMDD* (without
// the '*') and returns YYYYMMDD. The date is checked like a personal
// number's, and a 6-digit date gets its century by the same rule.
func parseBirthDate(s string, now time.Time) (string, error) {
	for _, c := range s {
		if c < '0' || c > '9' {
			return "", fmt.Errorf("%s* is not a birth date: write the date as YYYYMMDD* or YYMMDD* (digits only), e.g. login=19990807*", show(s))
		}
	}
	if len(s) != 8 && len(s) != 6 {
		return "", fmt.Errorf("%s* is not a birth date: it has %d digits; write YYYYMMDD* (8 digits) or YYMMDD* (6 digits)", show(s), len(s))
	}
	year, fault := resolveDate(s, false, now)
	if fault != "" {
		return "", fmt.Errorf("%s* is not a valid birth date: %s", s, fault)
	}
	return fmt.Sprintf("%04d", year) + s[len(s)-4:], nil
}

// splitPersonalNumber checks the shape of s and returns the date digits (8 or
// 6), the four last digits, and whether the separator was '+'.
func splitPersonalNumber(s string) (date, serial string, plus bool, err error) {
	const forms = "write YYYYMMDDNNNN (12 digits) or YYMMDD-NNNN"
	if s == "" {
		return "", "", false, errors.New("the personal number is empty; " + forms)
	}
	digits, seps, sepAt := 0, 0, -1
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '-' || c == '+':
			seps++
			sepAt = i
		case c == ',' || c == ';' || c == ' ' || c == '/':
			return "", "", false, fmt.Errorf("%s holds %q, which is not part of a personal number; give each number its own login= (&login=A&login=B&)", show(s), c)
		default:
			if c == utf8.RuneError {
				return "", "", false, fmt.Errorf("%s is not a personal number: it holds a byte that is not text; %s", show(s), forms)
			}
			return "", "", false, fmt.Errorf("%s is not a personal number: %q is not a digit; %s", show(s), c, forms)
		}
	}
	if seps > 1 {
		return "", "", false, fmt.Errorf("%s has more than one '-' or '+'; %s", show(s), forms)
	}
	if digits != 12 && digits != 10 {
		return "", "", false, fmt.Errorf("%s has %d digits, not 12 or 10; %s", show(s), digits, forms)
	}
	if seps == 0 {
		return s[:digits-4], s[digits-4:], false, nil
	}
	sep := s[sepAt]
	if sepAt != digits-4 {
		return "", "", false, fmt.Errorf("%s has the '%c' in the wrong place: it goes before the last four digits; %s", show(s), sep, forms)
	}
	if sep == '+' && digits == 12 {
		return "", "", false, fmt.Errorf("%s: '+' belongs only to the 10-digit form (YYMMDD+NNNN, a person aged 100 or more); with the century written, use '-' or no separator", show(s))
	}
	return s[:sepAt], s[sepAt+1:], sep == '+', nil
}

// resolveDate gives the full year of an 8- or 6-digit date as written in a
// personal number (day + 60 for a samordningsnummer) and checks that the date
// exists and is not after now. fault is "" when it is valid, otherwise it
// names the fault, e.g. "1999-13-07 is not a date (there is no month 13)".
func resolveDate(date string, plus bool, now time.Time) (year int, fault string) {
	month := atoi(date[len(date)-4 : len(date)-2])
	dayWritten := atoi(date[len(date)-2:])
	ty, tm, td := now.Date()
	if len(date) == 8 {
		year = atoi(date[:4])
	} else {
		year = ty/100*100 + atoi(date[:2])
		if after(year, month, realDay(dayWritten), ty, int(tm), td) {
			year -= 100
		}
		if plus {
			year -= 100
		}
	}
	shown := fmt.Sprintf("%04d-%s-%s", year, date[len(date)-4:len(date)-2], date[len(date)-2:])
	if fault := dateFault(year, month, dayWritten); fault != "" {
		return 0, shown + " is not a date (" + fault + ")"
	}
	if year < 1800 {
		return 0, fmt.Sprintf("%s is not a birth date: the year of a personal number begins with 18, 19 or 20", shown)
	}
	if after(year, month, realDay(dayWritten), ty, int(tm), td) {
		return 0, fmt.Sprintf("%s is a birth date in the future; check the year", shown)
	}
	return year, ""
}

// realDay is the birth day of a day as written: a samordningsnummer's day
// (61-91, or 60 for "day not known" = 0) less 60.
func realDay(written int) int {
	if written >= 60 {
		return written - 60
	}
	return written
}

// after reports whether the date y-m-d (m or d 0 = not known) is after the
// date ty-tm-td. Unknown parts never count as after.
func after(y, m, d, ty, tm, td int) bool {
	if y != ty {
		return y > ty
	}
	if m == 0 || m == tm {
		return m != 0 && d != 0 && d > td
	}
	return m > tm
}

// dateFault says why year-month-dayWritten is not the date of a personal
// number, or "" when it is one.
func dateFault(year, month, dayWritten int) string {
	samordning := dayWritten >= 60
	day := realDay(dayWritten)
	switch {
	case month > 12:
		return fmt.Sprintf("there is no month %02d", month)
	case month == 0 && !samordning:
		return "there is no month 00; only a samordningsnummer (day + 60) may have month 00"
	case dayWritten == 0:
		return "there is no day 00"
	case dayWritten > 31 && dayWritten < 60:
		return fmt.Sprintf("there is no day %02d; a day is 01-31, or 61-91 in a samordningsnummer", dayWritten)
	case dayWritten > 91:
		return fmt.Sprintf("a samordningsnummer's day is the birth day + 60, and %02d - 60 = %d is no day", dayWritten, day)
	case month == 0 || day == 0:
		return "" // samordningsnummer with month or day not known
	}
	if n := daysIn(year, month); day > n {
		what := fmt.Sprintf("%s has %d days", time.Month(month), n)
		if month == 2 && day == 29 {
			what = fmt.Sprintf("%d is not a leap year", year)
		}
		if samordning {
			return fmt.Sprintf("a samordningsnummer's day is the birth day + 60, so the birth day is %d, and %s", day, what)
		}
		return what
	}
	return ""
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// luhnCheckDigit is the check digit for the first nine digits of the
// 10-digit form.
func luhnCheckDigit(nine string) byte {
	sum := 0
	for i := 0; i < len(nine); i++ {
		d := int(nine[i] - '0')
		if i%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10)
}

// atoi reads a short run of ASCII digits that the caller has checked.
func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// Mask writes a personal number for logs, keeping the date and hiding the
// last four digits: "199908072391" and "19990807-2391" become
// "19990807-****", "990807-2391" becomes "990807-****" and "990807+2391"
// "990807+****" (and "19990807+2391" "19990807-****"). Anything else has every digit replaced by '*', so Mask
// never lets a whole number through.
func Mask(personalNumber string) string {
	s := personalNumber
	switch {
	case len(s) == 12 && allDigits(s):
		return s[:8] + "-****"
	case len(s) == 13 && (s[8] == '-' || s[8] == '+') && allDigits(s[:8]) && allDigits(s[9:]):
		return s[:8] + "-****"
	case len(s) == 10 && allDigits(s):
		return s[:6] + "-****"
	case len(s) == 11 && (s[6] == '-' || s[6] == '+') && allDigits(s[:6]) && allDigits(s[7:]):
		return s[:7] + "****"
	}
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return '*'
		}
		return r
	}, s)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// FindPersonalNumber reports whether text (an e-mail Subject, which travels
// in clear by SMS) holds something shaped like a personal number, and
// returns the first one masked (see Mask) for the reply.
//
// Shaped means one of the accepted forms — YYYYMMDDNNNN, YYYYMMDD-NNNN,
// YYMMDDNNNN, YYMMDD-NNNN, YYMMDD+NNNN, and also YYYYMMDD+NNNN and the forms
// with spaces after the separator or instead of it, which
// ParsePersonalNumber refuses but which point at a person just the same —
// not part of a longer run of digits, whose date exists (samordningsnummer day + 60, month 00 and day 60
// included; a 12-digit year begins with 18, 19 or 20). The check digit is not
// required: a mistyped number still points at a person. One exception keeps
// phone numbers out: a bare 10-digit run that is a valid Swedish phone number
// in national form (0701234567) counts only when its check digit is right.
//
// The text is first read as a person sees it (see searchForm): fullwidth and
// other compatibility forms, every script's decimal digits, any dash and any
// space, control character included, count as their ASCII selves, and what
// shows nothing between digits (format characters, combining marks,
// variation selectors, Hangul fillers) as nothing. Digit groups parted by
// other spaces and punctuation, such as "1999 08 07 2391" or
// "1999.08.07/2391", count when they part the number only where its date and
// serial part (see findWritten), the date exists and the check digit is
// right.
func FindPersonalNumber(text string) (masked string, found bool) {
	text = searchForm(text)
	if masked, found := findShaped(text); found {
		return masked, true
	}
	return findWritten(text)
}

// findShaped is FindPersonalNumber for the forms written without other
// punctuation, in searchForm's text.
func findShaped(text string) (masked string, found bool) {
	for i := 0; i < len(text); {
		if !isDigit(text[i]) {
			i++
			continue
		}
		j := i
		for j < len(text) && isDigit(text[j]) {
			j++
		}
		run := text[i:j]
		// The separated forms: 8 or 6 digits, a separator, exactly 4 digits.
		// The separator is "-" or "+", either possibly followed by spaces
		// (a Subject folded after the hyphen unfolds to "19990807- 2391"), or
		// spaces alone ("19990807 2391"): then only with the right check
		// digit, since a date and a time ("20241128 1030") look the same.
		var sep byte
		var tail string
		if k := j; k < len(text) && (text[k] == '-' || text[k] == '+' || text[k] == ' ') {
			if text[k] != ' ' {
				sep = text[k]
				k++
			}
			spaces := k
			for k < len(text) && text[k] == ' ' {
				k++
			}
			start := k
			for k < len(text) && isDigit(text[k]) {
				k++
			}
			tail = text[start:k]
			if sep == 0 && k > spaces && start > spaces {
				sep = ' '
			}
			if sep == ' ' && len(tail) == 4 && len(run) >= 6 && luhnCheckDigit(run[len(run)-6:]+tail[:3]) != tail[3] {
				sep, tail = 0, ""
			}
		}
		switch {
		case len(run) == 12 && shapedDate(run[:8]):
			return Mask(run), true
		case len(run) == 10 && shapedDate(run[:6]) && !phoneNotPersonalNumber(run):
			return Mask(run), true
		case len(run) == 8 && sep != 0 && len(tail) == 4 && shapedDate(run):
			return Mask(run + "-" + tail), true
		case len(run) == 6 && sep == '+' && len(tail) == 4 && shapedDate(run):
			return Mask(run + "+" + tail), true
		case len(run) == 6 && sep != 0 && len(tail) == 4 && shapedDate(run):
			return Mask(run + "-" + tail), true
		}
		i = j
	}
	return "", false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// shapedDate reports whether the 8- or 6-digit date of a personal number
// exists; a 6-digit date exists when it does in one of the centuries 1900 and
// 2000 (which differ only on 29 February of year 00).
func shapedDate(date string) bool {
	month, day := atoi(date[len(date)-4:len(date)-2]), atoi(date[len(date)-2:])
	if len(date) == 8 {
		year := atoi(date[:4])
		return year >= 1800 && year < 2100 && dateFault(year, month, day) == ""
	}
	yy := atoi(date[:2])
	return dateFault(1900+yy, month, day) == "" || dateFault(2000+yy, month, day) == ""
}

// phoneNotPersonalNumber reports whether a bare 10-digit run is better read
// as a Swedish phone number than as a personal number: it is a valid national
// number and its last digit is not the check digit.
func phoneNotPersonalNumber(run string) bool {
	if run[0] != '0' || luhnCheckDigit(run[:9]) == run[9] {
		return false
	}
	n, err := phonenumbers.Parse(run, "SE")
	return err == nil && phonenumbers.IsValidNumber(n)
}
