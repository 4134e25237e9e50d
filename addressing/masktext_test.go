package addressing

import "testing"

func TestMaskPersonalNumbers(t *testing.T) {
	cases := []struct{ in, want string }{
		{"199908072391@staff.test", "19990807-****@staff.test"},
		{"my@secret-pw-9", "my@secret-pw-9"},
		{"550 5.1.1 <19990807-2391@example.com>: user unknown", "550 5.1.1 <19990807-****@example.com>: user unknown"},
		{"invalid personalNumber 9908072391, try again", "invalid personalNumber 990807-****, try again"},
		{"two: 199908072391 198611239883", "two: 19990807-**** 19861123-****"},
		{"written 1999 08 07 2391 here", "written 19990807-**** here"},
		{"fullwidth １９９９０８０７２３９１!", "fullwidth 19990807-****!"},
		{"no number here 2026-03-02 10:30", "no number here 2026-03-02 10:30"},
		{"call 0701234567", "call 0701234567"},
		{"tab 19990807\t2391 end", "tab 19990807-**** end"},
		{"vt 1999\x0b08\x0b07\x0b2391", "vt 19990807-****"},
		{"vs 1\ufe0f9\ufe0f9\ufe0f9\ufe0f0\ufe0f8\ufe0f0\ufe0f7\ufe0f2\ufe0f3\ufe0f9\ufe0f1 end", "vs 19990807-**** end"},
		{"filler 1999\u31640807\u31642391 end", "filler 19990807-**** end"},
		{"keycap 1\u20e3999\u20e30807-2391", "keycap 19990807-****"},
		{"", ""},
	}
	for _, c := range cases {
		if got := MaskPersonalNumbers(c.in); got != c.want {
			t.Errorf("MaskPersonalNumbers(%q) = %q; want %q", c.in, got, c.want)
		}
	}
}

// FuzzMaskPersonalNumbers: nothing FindPersonalNumber would find is left
// in the masked text, and text without a number is left alone.
func FuzzMaskPersonalNumbers(f *testing.F) {
	for _, s := range []string{"199908072391@staff.test", "550 5.1.1 <19990807-2391@example.com>", "a 19990807-     2391 b",
		"x9908072391y200211242383", "2026-03-02 10:30", "a 19990807\t2391", "1999\u31640807\u31642391", "19990807-****", "+46701234567"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		masked := MaskPersonalNumbers(s)
		if m, found := FindPersonalNumber(masked); found {
			t.Fatalf("MaskPersonalNumbers(%q) = %q, which still holds %s", s, masked, m)
		}
		if _, found := FindPersonalNumber(s); !found && masked != s {
			t.Fatalf("MaskPersonalNumbers(%q) = %q; want it unchanged", s, masked)
		}
	})
}
