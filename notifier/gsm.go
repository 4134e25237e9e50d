package notifier

import "unicode/utf16"

// SMS segment arithmetic, per 3GPP TS 23.038 (the GSM 7-bit default
// alphabet and its extension table) and TS 23.040 (concatenated messages).
//
// A text whose every character is in the default alphabet or its extension
// table is sent in GSM-7: a basic character costs one septet, an extension
// character two (ESC and the character). One segment holds 160 septets; a
// concatenated message holds 153 per segment (the user data header takes the
// rest), and an ESC pair is never split between two segments. Any other
// character makes the whole text UCS-2: 70 UTF-16 code units in one segment,
// 67 per segment when concatenated; a character outside the BMP (an emoji)
// is a surrogate pair of two units, never split between segments.

// Encoding is how an SMS text travels.
type Encoding string

const (
	GSM7 Encoding = "GSM-7"
	UCS2 Encoding = "UCS-2"
)

// gsmBasic is the GSM 7-bit default alphabet, in table order (0x1B, the
// escape to the extension table, is left out).
const gsmBasic = "@£$¥èéùìòÇ\nØø\rÅå" +
	"Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ" +
	" !\"#¤%&'()*+,-./" +
	"0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNO" +
	"PQRSTUVWXYZÄÖÑÜ§" +
	"¿abcdefghijklmno" +
	"pqrstuvwxyzäöñüà"

// gsmExtension is the default alphabet's extension table: two septets each.
const gsmExtension = "\f^{}\\[~]|€"

var gsmCost = func() map[rune]int {
	m := make(map[rune]int, 140)
	for _, r := range gsmBasic {
		m[r] = 1
	}
	for _, r := range gsmExtension {
		m[r] = 2
	}
	return m
}()

// IsGSM7 reports whether s can be sent in the GSM 7-bit alphabet.
func IsGSM7(s string) bool {
	for _, r := range s {
		if gsmCost[r] == 0 {
			return false
		}
	}
	return true
}

// Segments tells how s travels as an SMS: its encoding, how many segments
// it takes, and its length in units of that encoding (septets for GSM-7,
// UTF-16 code units for UCS-2).
func Segments(s string) (enc Encoding, segments, units int) {
	single, multi := 160, 153
	cost := func(r rune) int { return gsmCost[r] }
	enc = GSM7
	if !IsGSM7(s) {
		enc, single, multi = UCS2, 70, 67
		cost = func(r rune) int { return max(utf16.RuneLen(r), 1) }
	}
	for _, r := range s {
		units += cost(r)
	}
	if units <= single {
		return enc, 1, units
	}
	// Concatenated: fill each segment, never splitting an ESC pair or a
	// surrogate pair.
	segments, used := 1, 0
	for _, r := range s {
		c := cost(r)
		if used+c > multi {
			segments++
			used = 0
		}
		used += c
	}
	return enc, segments, units
}
