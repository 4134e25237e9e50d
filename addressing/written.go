package addressing

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// searchForm is text as FindPersonalNumber reads it: what a person would
// read as the same number must look the same to the check. NFKC turns
// fullwidth ("１９９９"), circled-free compatibility forms and odd spaces into
// their plain selves; then every decimal digit of any script (Arabic-Indic,
// Devanagari, ...) becomes its ASCII digit, every dash and the minus sign
// '-', and every white space and control character ' ' (TAB, VT, NEL...:
// the SMS shows each as a space). What shows nothing between two digits
// goes (see invisible).
func searchForm(text string) string {
	text = norm.NFKC.String(text)
	return strings.Map(func(r rune) rune {
		switch {
		case r >= '0' && r <= '9':
			return r
		case unicode.IsSpace(r) || unicode.IsControl(r):
			return ' '
		case r < utf8.RuneSelf:
			return r
		case unicode.Is(unicode.Nd, r):
			return '0' + digitValue(r)
		case unicode.Is(unicode.Pd, r) || r == '\u2212':
			return '-'
		case invisible(r):
			return -1
		}
		return r
	}, text)
}

// invisible reports whether r shows nothing of its own between two digits,
// so that searchForm drops it: format characters (zero-width space, joiners,
// soft hyphen, direction marks), marks that sit on the digit before
// (combining accents, variation selectors, the enclosing keycap U+20E3) and
// the other default-ignorable code points, among them the Hangul fillers
// U+3164 and U+FFA0, which are letters that draw as blank.
func invisible(r rune) bool {
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf,
		unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector)
}

// digitValue is the value of a decimal digit (unicode.Nd). Unicode encodes
// every script's decimal digits as a contiguous run from 0 to 9, so within
// the table's ranges (which join adjacent runs) the value is the distance
// from the range's start, modulo 10.
func digitValue(r rune) rune {
	for _, rg := range unicode.Nd.R16 {
		if r >= rune(rg.Lo) && r <= rune(rg.Hi) {
			return (r - rune(rg.Lo)) % 10
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if r >= rune(rg.Lo) && r <= rune(rg.Hi) {
			return (r - rune(rg.Lo)) % 10
		}
	}
	return 0
}

// maxSeparator is the longest run of spaces and punctuation that still joins
// two digit groups into one written number ("2391", " - ", " / ").
const maxSeparator = 3

// digitGroup is a run of ASCII digits in searchForm's text.
type digitGroup struct{ start, end int }

// findWritten finds a personal number written in digit groups parted by
// spaces and punctuation: "1999 08 07 2391", "1999-08-07-2391",
// "99.08.07/2391". Such text is often a date, a time or a phone number, so it
// counts only when the groups part the digits where a personal number's
// parts meet (after the year, month and day: 4, 6, 8 of 12 digits and 2, 4,
// 6 of 10), the date exists and the check digit is right. That keeps
// "2024-05-12 10:30" (parted after 10 digits) and "070-123 45 67" (after 3)
// out.
func findWritten(text string) (masked string, found bool) {
	for i := 0; i < len(text); {
		if !isDigit(text[i]) {
			i++
			continue
		}
		chain, next := digitChain(text, i)
		if masked, ok := writtenNumber(text, chain); ok {
			return masked, true
		}
		i = next
	}
	return "", false
}

// digitChain reads the digit groups from i on, as long as each is parted from
// the last by at most maxSeparator spaces or punctuation characters, and
// returns them with the position after the last.
func digitChain(text string, i int) ([]digitGroup, int) {
	var chain []digitGroup
	for {
		j := i
		for j < len(text) && isDigit(text[j]) {
			j++
		}
		chain = append(chain, digitGroup{i, j})
		k, seps := j, 0
		for k < len(text) && seps < maxSeparator {
			r, size := utf8.DecodeRuneInString(text[k:])
			if !(r == ' ' || unicode.IsPunct(r) || unicode.IsSymbol(r)) {
				break
			}
			k += size
			seps++
		}
		if seps == 0 || k >= len(text) || !isDigit(text[k]) {
			return chain, j
		}
		i = k
	}
}

// writtenNumber looks in a chain for consecutive groups (two or more) that
// make a personal number as findWritten describes.
func writtenNumber(text string, chain []digitGroup) (string, bool) {
	for a := range chain {
		digits := text[chain[a].start:chain[a].end]
		cuts := []int{}
		for b := a + 1; b < len(chain) && len(digits) < 12; b++ {
			cuts = append(cuts, len(digits))
			digits += text[chain[b].start:chain[b].end]
			if len(digits) != 10 && len(digits) != 12 {
				continue
			}
			date := digits[:len(digits)-4]
			if !cutsAtParts(cuts, len(digits)) || !shapedDate(date) ||
				luhnCheckDigit(digits[len(digits)-10:len(digits)-1]) != digits[len(digits)-1] {
				continue
			}
			return Mask(date + "-" + digits[len(digits)-4:]), true
		}
	}
	return "", false
}

// cutsAtParts reports whether every cut of an n-digit number falls where its
// parts meet: YYYY|MM|DD|NNNN or YY|MM|DD|NNNN.
func cutsAtParts(cuts []int, n int) bool {
	for _, c := range cuts {
		if c != n-4 && c != n-6 && c != n-8 {
			return false
		}
	}
	return true
}
