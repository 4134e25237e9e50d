package addressing

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
)

// fuzzSeeds are the Examples and Errors of addressing.md and the awkward
// cases of the table tests, as local parts.
var fuzzSeeds = []string{
	// Examples
	"0701234567&login=199908072391&",
	"0701234567&login=199908072391&login=8611239883&",
	"0701234567?login=199908072391",
	"+46701234567&login=*&",
	"anna.svensson=example.com&login=199908072391&",
	"anna%example.com&LOGIN=199908072391",
	"0701234567&login=19990807-2391&lang=en&",
	"0701234567&login=990807*&",
	"0701234567&login=199908072391&exp=7d&reply=no&",
	`"anna.s@example.com&login=*&"`,
	"anna.s@example.com&login=*&",
	// Errors
	"&login=199908072391&",
	"login=199908072391&",
	"08123456&login=199908072391&",
	"0701234567&login=199908072392&",
	"0701234567&login=19991307-2391&",
	"0701234567&",
	"0701234567&login=199908072391&logni=199908072391&",
	"0701234567&" + manyBorn(21),
	"0701234567&login=199908072391&exp=banana&",
	"0701234567&login=199908072391&exp=400d&",
	"0701234567&login=199908072391&exp=7d&exp=1d&",
	// Others
	"0701234567&login=*&exp=2160h&reply=YES",
	"0701234567&login=*&EXP=9999m?reply=no&reply=no&exp=9999m",
	"0701234567&login=*&exp=3M",
	"0701234567&login=*&exp=0000w",
	"exp=1m&login=*",
	"0046701234567&login=031204+9802&login=260161-2381&login=191500722390&login=171160+2399&lang=EN",
	"46701234567 & login = 200211242383 && lang = sv ?",
	"anna=b%exämple.se&login=000229*&login=*",
	"anna=secure.test&login=*",
	"0701234567&199908072391",
	"0701234567&login=199908072391,198611239883",
	"+447911123456&login=*",
	"+12015550123&login=*",
}

// FuzzParse: Parse and ParseLocal never panic; every error is a *Refusal
// with code 550 naming the address as given; every Recipient is well formed
// (an exp= within the policy's limit, whose text reads back as itself; a
// reply= of yes, no or none) and reads back from its LocalPart as an equal
// Recipient.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
		f.Add(s + "@secure.test")
	}
	f.Add("0701234567&login=199908072391&@example.com")
	f.Add("x@y@secure.test")
	p := testPolicy()
	f.Fuzz(func(t *testing.T, s string) {
		r, err := p.ParseLocal(s)
		check(t, p, s, r, err)
		r, err = p.Parse(s)
		check(t, p, s, r, err)
		if err == nil {
			full, err := p.Parse(r.LocalPart() + "@secure.test")
			if err != nil || !reflect.DeepEqual(full, r) {
				t.Fatalf("Parse(%q) = %+v, %v; want %+v", r.LocalPart()+"@secure.test", full, err, r)
			}
		}
	})
}

func check(t *testing.T, p Policy, s string, r Recipient, err error) {
	t.Helper()
	if err != nil {
		var ref *Refusal
		if !errors.As(err, &ref) {
			t.Fatalf("%q: error %T %v is not a *Refusal", s, err, err)
		}
		if ref.Code != 550 || (ref.Enhanced != badAddress && ref.Enhanced != relayDenied) || ref.Address != s || ref.Reason == "" {
			t.Fatalf("%q: refusal %#v", s, ref)
		}
		if strings.ContainsAny(ref.Error(), "\r\n\x00") {
			t.Fatalf("%q: reply %q holds a control character", s, ref.Error())
		}
		return
	}
	if r.Channel != SMS && r.Channel != Email || r.To == "" || r.Logins == nil || r.Born == nil || r.Lang != "sv" && r.Lang != "en" {
		t.Fatalf("%q: malformed %#v", s, r)
	}
	if r.Exp < 0 || r.Exp.Duration() > p.maxLifetime() || r.Exp.Duration()%time.Minute != 0 {
		t.Fatalf("%q: exp %v outside (0, %v]", s, r.Exp.Duration(), p.maxLifetime())
	}
	if r.Reply != RepliesDefault && r.Reply != RepliesYes && r.Reply != RepliesNo {
		t.Fatalf("%q: reply %q", s, r.Reply)
	}
	if r.Exp != 0 {
		if back, err := ParseLifetime(r.Exp.String()); err != nil || back != r.Exp {
			t.Fatalf("%q: exp %v writes as %q, which reads as %v, %v", s, r.Exp.Duration(), r.Exp.String(), back, err)
		}
	}
	if !r.Anyone && len(r.Logins) == 0 && len(r.Born) == 0 {
		t.Fatalf("%q: no one may open %#v", s, r)
	}
	if len(r.Logins)+len(r.Born) > p.maxLogins() || !slices.IsSorted(r.Logins) || !slices.IsSorted(r.Born) ||
		len(slices.Compact(slices.Clone(r.Logins))) != len(r.Logins) || len(slices.Compact(slices.Clone(r.Born))) != len(r.Born) {
		t.Fatalf("%q: logins %v born %v", s, r.Logins, r.Born)
	}
	for _, n := range r.Logins {
		if again, err := ParsePersonalNumber(n, today); err != nil || again != n {
			t.Fatalf("%q: login %q reads as %q, %v", s, n, again, err)
		}
		if !r.Allows(n) {
			t.Fatalf("%q: does not allow its own login %q", s, n)
		}
	}
	local := r.LocalPart()
	again, err := p.ParseLocal(local)
	if err != nil || !reflect.DeepEqual(again, r) {
		t.Fatalf("%q: ParseLocal(LocalPart() = %q) = %#v, %v; want %#v", s, local, again, err, r)
	}
}

// FuzzPersonalNumber: whatever ParsePersonalNumber accepts is 12 digits
// that read back as themselves, and FindPersonalNumber finds it, masked.
func FuzzPersonalNumber(f *testing.F) {
	for _, s := range []string{"199908072391", "19990807-2391", "9908072391", "990807-2391", "031204+9802",
		"260161-2381", "191500722390", "171160+2399", "199908072392", "19991307-2391", "990229-2391", "0701234567"} {
		f.Add(s)
	}
	for _, s := range []string{"１９９９０８０７２３９１", "1999 08 07 2391", "99.08.07/2391", "Tid 2024-05-12 kl 10",
		"Ring 070-123 45 67", "١٩٩٩٠٨٠٧٢٣٩١", "1999​0807–2391", "Svar 19990807\t2391", "1999\v08\v07\v2391",
		"Svar 1\ufe0f9\ufe0f9\ufe0f9\ufe0f0\ufe0f8\ufe0f0\ufe0f7\ufe0f2\ufe0f3\ufe0f9\ufe0f1", "1999\u31640807\u31642391", "Tid 2024-05-12\t10:30"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		masked, found := FindPersonalNumber(s)
		if found && (len(masked) != 11 && len(masked) != 13 || !strings.HasSuffix(masked, "****")) {
			t.Fatalf("FindPersonalNumber(%q) = %q", s, masked)
		}
		// Written another way, the same text tells the same.
		for _, w := range []struct{ name, text string }{
			{"fullwidth", fullwidth(s)},
			{"Arabic-Indic digits", arabicIndic(s)},
			{"tabs for spaces", strings.ReplaceAll(s, " ", "\t")},
			{"vertical tabs for spaces", strings.ReplaceAll(s, " ", "\v")},
			{"U+001F for spaces", strings.ReplaceAll(s, " ", "\x1f")},
			{"U+FE0F after each digit", afterDigits(s, "\ufe0f")},
			{"U+034F after each digit", afterDigits(s, "\u034f")},
			{"keycap after each digit", afterDigits(s, "\u20e3")},
			{"Hangul filler after each digit", afterDigits(s, "\u3164")},
		} {
			if m, f := FindPersonalNumber(w.text); f != found || m != masked {
				t.Fatalf("FindPersonalNumber(%q) = %q, %v; in %s (%q) %q, %v", s, masked, found, w.name, w.text, m, f)
			}
		}
		pn, err := ParsePersonalNumber(s, today)
		if err != nil {
			if !strings.HasPrefix(err.Error(), show(s)) && s != "" {
				t.Fatalf("ParsePersonalNumber(%q): %q does not begin with the number", s, err)
			}
			return
		}
		if len(pn) != 12 || !allDigits(pn) {
			t.Fatalf("ParsePersonalNumber(%q) = %q", s, pn)
		}
		if again, err := ParsePersonalNumber(pn, today); err != nil || again != pn {
			t.Fatalf("ParsePersonalNumber(%q) = %q, %v", pn, again, err)
		}
		if !found {
			t.Fatalf("FindPersonalNumber(%q) finds nothing, but it is %s", s, pn)
		}
		if Mask(pn) != pn[:8]+"-****" {
			t.Fatalf("Mask(%q) = %q", pn, Mask(pn))
		}
		for _, w := range []string{
			pn[:4] + " " + pn[4:6] + " " + pn[6:8] + " " + pn[8:],
			pn[:4] + "-" + pn[4:6] + "-" + pn[6:8] + "-" + pn[8:],
			pn[2:4] + "." + pn[4:6] + "." + pn[6:8] + " / " + pn[8:],
			"Ang. " + fullwidth(pn[:8]) + "\u3000" + fullwidth(pn[8:]),
		} {
			if m, ok := FindPersonalNumber(w); !ok || !strings.HasSuffix(m, "-****") {
				t.Fatalf("FindPersonalNumber(%q) = %q, %v; but it is %s written in groups", w, m, ok, pn)
			}
		}
		// Any white space or control character parts groups as a space does;
		// marks and fillers between the digits are not there at all.
		for _, c := range []string{"\t", "\v", "\f", "\r", "\x00", "\x1f", "\x7f", "\u0085", "\u2028"} {
			for _, w := range []string{
				"Svar " + pn[:8] + c + pn[8:],
				pn[:4] + c + pn[4:6] + c + pn[6:8] + c + pn[8:],
				pn[2:8] + "-" + c + pn[8:],
			} {
				if m, ok := FindPersonalNumber(w); !ok || !strings.HasSuffix(m, "-****") {
					t.Fatalf("FindPersonalNumber(%q) = %q, %v; but it is %s parted by %U", w, m, ok, pn, []rune(c)[0])
				}
			}
		}
		for _, x := range []string{"\ufe0f", "\ufe00", "\U000E0100", "\u034f", "\u20e3", "\u0301", "\u3164", "\uffa0", "\u200b", "\u2060"} {
			w := "Svar " + strings.Join(strings.Split(pn, ""), x)
			if m, ok := FindPersonalNumber(w); !ok || m != Mask(pn) {
				t.Fatalf("FindPersonalNumber(%q) = %q, %v; but it is %s with %U between the digits", w, m, ok, pn, []rune(x)[0])
			}
		}
	})
}

// fullwidth writes printable ASCII in its fullwidth form (U+FF01–U+FF5E).
func fullwidth(s string) string {
	return strings.Map(func(r rune) rune {
		if r > ' ' && r <= '~' {
			return r - '!' + '\uff01'
		}
		return r
	}, s)
}

// afterDigits writes mark after every ASCII digit of s.
func afterDigits(s, mark string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if isDigit(s[i]) {
			b.WriteString(mark)
		}
	}
	return b.String()
}

// arabicIndic writes ASCII digits as Arabic-Indic ones (U+0660–U+0669).
func arabicIndic(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r - '0' + '\u0660'
		}
		return r
	}, s)
}

// Every decimal digit's value is found: Unicode's runs of ten, from 0.
func TestDigitValue(t *testing.T) {
	for _, rt := range []*unicode.RangeTable{unicode.Nd} {
		for _, rg := range rt.R16 {
			if rg.Stride != 1 || (rg.Hi-rg.Lo+1)%10 != 0 {
				t.Fatalf("Nd range %U-%U is not runs of ten", rg.Lo, rg.Hi)
			}
		}
		for _, rg := range rt.R32 {
			if rg.Stride != 1 || (rg.Hi-rg.Lo+1)%10 != 0 {
				t.Fatalf("Nd range %U-%U is not runs of ten", rg.Lo, rg.Hi)
			}
		}
	}
	for r, want := range map[rune]rune{'7': 7, '７': 7, '٧': 7, '۷': 7, '७': 7, '৭': 7, '𝟕': 7, '𝟿': 9, '𝟎': 0, '߇': 7} {
		if got := searchForm(string(r)); got != string('0'+want) {
			t.Errorf("searchForm(%q) = %q, want %d", r, got, want)
		}
	}
}

// FuzzLifetime: ParseLifetime never panics; what it takes is a positive
// whole number of minutes whose text reads back as itself; what it refuses
// it says why in one line that begins with the value.
func FuzzLifetime(f *testing.F) {
	for _, s := range []string{"1m", "7d", "0007D", "2w", "2160h", "9999m", "3M", "0m", "banana", "7", "10000m", "7d\n", "１d", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLifetime(s)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r\n\x00") || l != 0 {
				t.Fatalf("ParseLifetime(%q) = %v, %q", s, l, err)
			}
			if s != "" && !strings.HasPrefix(err.Error(), show(s)) {
				t.Fatalf("ParseLifetime(%q): %q does not begin with the value", s, err)
			}
			return
		}
		if l <= 0 || l.Duration()%time.Minute != 0 {
			t.Fatalf("ParseLifetime(%q) = %v", s, l.Duration())
		}
		if back, err := ParseLifetime(l.String()); err != nil || back != l {
			t.Fatalf("ParseLifetime(%q) = %v, written %q, reads back as %v, %v", s, l.Duration(), l.String(), back, err)
		}
	})
}

// FuzzParseExpiry: whatever a person types, ParseExpiry gives a lifetime
// or an instant, never both, or an error on one line naming the value.
func FuzzParseExpiry(f *testing.F) {
	for _, s := range []string{"7d", "36h", "2026-12-24T12:00:00+01:00", "2026-12-24 12:00", "2026-12-24T12:00", "0001-01-01T00:00:00Z", "tomorrow", "3M", ""} {
		f.Add(s)
	}
	loc, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		loc = time.UTC
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, at, err := ParseExpiry(s, loc)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r\n\x00") || l != 0 || !at.IsZero() {
				t.Fatalf("ParseExpiry(%q) = %v, %v, %q", s, l, at, err)
			}
			return
		}
		if (l > 0) == !at.IsZero() {
			t.Fatalf("ParseExpiry(%q) = %v and %v: one of the two", s, l, at)
		}
	})
}
