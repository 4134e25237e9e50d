package intake

import (
	"errors"
	"strings"
	"testing"
	"unicode"

	"sigill/addressing"
)

func TestCheckSender(t *testing.T) {
	for from, want := range map[string]string{
		"anna.berg@region.se":               "",
		"o'brien+lab@region.se":             "",
		"åsa.öberg@kommun.se":               "",
		"":                                  SenderNull,
		"anna":                              SenderNoDomain,
		"anna@":                             SenderNoDomain,
		`Skatteverket: ring 0771@region.se`: SenderNotDotAtom,
		"anna\u202Eberg@region.se":          SenderNotDotAtom,
		".anna@region.se":                   SenderNotDotAtom,
		"anna@region\u202E.se":              SenderBadDomain,
		"anna@[127.0.0.1]":                  SenderBadDomain,
		"19861123-9883@example.org":         SenderPersonalNumber,
		"anna@200211242383.example.org":     SenderPersonalNumber,
	} {
		err := CheckSender(from)
		var se *SenderError
		switch {
		case want == "" && err != nil:
			t.Errorf("CheckSender(%q) = %v, want nil", from, err)
		case want != "" && (!errors.As(err, &se) || se.Why != want):
			t.Errorf("CheckSender(%q) = %v, want %q", from, err, want)
		}
	}
}

// FuzzCheckSender: whatever passes shows a reader no space, control or
// format character and no personal number.
func FuzzCheckSender(f *testing.F) {
	for _, s := range []string{"anna.berg@region.se", "a\u202Eb@c.se", "19861123-9883@x.se", `"a b"@c.se`, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, from string) {
		if CheckSender(from) != nil {
			return
		}
		if i := strings.IndexFunc(from, func(r rune) bool {
			return unicode.IsSpace(r) || unicode.IsControl(r) || unicode.In(r, unicode.Cf) || r == '"' || r == '<' || r == '\uFFFD'
		}); i >= 0 {
			t.Errorf("CheckSender took %q, which holds %U", from, []rune(from[i:])[0])
		}
		if _, found := addressing.FindPersonalNumber(from); found {
			t.Errorf("CheckSender took %q, which holds a personal number", from)
		}
	})
}
