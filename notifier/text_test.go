package notifier

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"sigill/addressing"
)

func TestSegments(t *testing.T) {
	a := strings.Repeat
	for _, c := range []struct {
		name  string
		s     string
		enc   Encoding
		segs  int
		units int
	}{
		{"empty", "", GSM7, 1, 0},
		{"160 septets", a("a", 160), GSM7, 1, 160},
		{"161 septets", a("a", 161), GSM7, 2, 161},
		{"306 septets", a("a", 306), GSM7, 2, 306},
		{"307 septets", a("a", 307), GSM7, 3, 307},
		{"Swedish letters are GSM-7", "Ärendet gäller Åsa Öberg: åäöÅÄÖ", GSM7, 1, 32},
		{"more of the basic set", "Idé för Müller, Søren & Æbeltoft: 5 € @ 10 %", GSM7, 1, 45},
		{"extension characters count two", "{[€]}|^~\\", GSM7, 1, 18},
		{"80 euro signs fill one segment", a("€", 80), GSM7, 1, 160},
		{"81 euro signs: 76 + 5 per segment", a("€", 81), GSM7, 2, 162},
		{"an escape pair is not split", a("a", 152) + "€" + a("a", 152), GSM7, 3, 306},
		{"a Polish letter makes UCS-2", "Łukasz", UCS2, 1, 6},
		{"š makes UCS-2", "Šárka", UCS2, 1, 5},
		{"an en dash makes UCS-2", "Beslut – bistånd", UCS2, 1, 16},
		{"an ellipsis makes UCS-2", "Beslut…", UCS2, 1, 7},
		{"70 units", a("ł", 70), UCS2, 1, 70},
		{"71 units", a("ł", 71), UCS2, 2, 71},
		{"134 units", a("ł", 134), UCS2, 2, 134},
		{"135 units", a("ł", 135), UCS2, 3, 135},
		{"an emoji is two units", "Hej 😀", UCS2, 1, 6},
		{"35 emoji fill one segment", a("😀", 35), UCS2, 1, 70},
		{"a surrogate pair is not split", a("a", 66) + "😀" + a("a", 66), UCS2, 3, 134},
	} {
		enc, segs, units := Segments(c.s)
		if enc != c.enc || segs != c.segs || units != c.units {
			t.Errorf("%s: %s, %d segments, %d units; want %s, %d, %d", c.name, enc, segs, units, c.enc, c.segs, c.units)
		}
	}
}

const testLink = "https://read.example.se/m/vEm_7pm-B9pZu4brx2byYA"

func TestSMSText(t *testing.T) {
	for _, c := range []struct {
		lang, org, errand, want string
	}{
		{"sv", "Region Exempel", "Provsvar",
			`Region Exempel: Du har ett säkert meddelande om "Provsvar". Läs det här: ` + testLink},
		{"en", "Region Exempel", "Test results",
			`Region Exempel: You have a secure message about "Test results". Read it here: ` + testLink},
		{"", "Region Exempel", "Provsvar", // no language: Swedish
			`Region Exempel: Du har ett säkert meddelande om "Provsvar". Läs det här: ` + testLink},
		{"sv", "Region Exempel", "",
			`Region Exempel: Du har ett säkert meddelande. Läs det här: ` + testLink},
		{"sv", "Region Exempel", "Rad ett\r\nrad\ttvå\x00",
			`Region Exempel: Du har ett säkert meddelande om "Rad ett rad två". Läs det här: ` + testLink},
		{"sv", "Region Exempel", "100 % %s %d",
			`Region Exempel: Du har ett säkert meddelande om "100 % %s %d". Läs det här: ` + testLink},
	} {
		if got := SMSText(c.lang, c.org, c.errand, testLink); got != c.want {
			t.Errorf("%s %q:\n got %q\nwant %q", c.lang, c.errand, got, c.want)
		}
	}
}

// TestSMSTextShortens: the errand is cut to the longest prefix that keeps
// the text within two segments, with "..." in GSM-7 texts and "…" in UCS-2
// ones; the link is whole.
func TestSMSTextShortens(t *testing.T) {
	long := strings.Repeat("Beslut om färdtjänst och bostadsanpassning ", 10)
	for _, c := range []struct {
		name, org, errand string
		enc               Encoding
		ellipsis          string
	}{
		{"GSM-7", "Region Exempel", long, GSM7, "..."},
		{"GSM-7 with extension characters", "Region Exempel", strings.Repeat("{€} ", 100), GSM7, "..."},
		{"an emoji early makes UCS-2", "Region Exempel", "😀 " + long, UCS2, "…"},
		{"a non-GSM organisation makes UCS-2", "Sámediggi", long, UCS2, "…"},
		{"a non-GSM letter late is cut away", "Region Exempel", long + "Łukasz", GSM7, "..."},
	} {
		got := SMSText("sv", c.org, c.errand, testLink)
		enc, segs, _ := Segments(got)
		if segs > 2 || enc != c.enc {
			t.Errorf("%s: %s in %d segments, want %s in 2: %q", c.name, enc, segs, c.enc, got)
			continue
		}
		if !strings.HasSuffix(got, ". Läs det här: "+testLink) || !strings.HasPrefix(got, c.org+`: Du har ett säkert meddelande om "`) {
			t.Errorf("%s: %q", c.name, got)
			continue
		}
		quoted := strings.TrimPrefix(got, c.org+`: Du har ett säkert meddelande om "`)
		quoted = quoted[:strings.LastIndex(quoted, `". Läs det här: `)]
		prefix, ok := strings.CutSuffix(quoted, c.ellipsis)
		if !ok || !strings.HasPrefix(c.errand, prefix) || prefix == "" {
			t.Errorf("%s: errand %q is not a prefix of the original with %q", c.name, quoted, c.ellipsis)
			continue
		}
		// Longest: one more character of the errand would not fit.
		next := c.errand[:len(prefix)]
		r, size := utf8.DecodeRuneInString(c.errand[len(prefix):])
		if strings.TrimSpace(string(r)) != "" {
			next = c.errand[:len(prefix)+size]
			longer := sprintf(languages["sv"].smsAbout, c.org, next+c.ellipsis, testLink)
			if fitsSMS(longer) && IsGSM7(longer) == (c.enc == GSM7) {
				t.Errorf("%s: %q would fit too", c.name, next)
			}
		}
	}
}

// TestSMSTextDropsErrand: when not even one character of the errand fits
// beside a long link, the errand phrase goes; the link never shrinks.
func TestSMSTextDropsErrand(t *testing.T) {
	link := "https://read.example.se/" + strings.Repeat("x", 190) + "/m/vEm_7pm-B9pZu4brx2byYA"
	got := SMSText("en", "Region Exempel", "Provsvar", link)
	if want := "Region Exempel: You have a secure message. Read it here: " + link; got != want {
		t.Fatalf("got %q", got)
	}
	if _, segs, _ := Segments(got); segs > 2 {
		t.Fatalf("%d segments", segs)
	}
	// Longer still: the organisation's name is shortened.
	link = "https://read.example.se/" + strings.Repeat("x", 191) + "/m/vEm_7pm-B9pZu4brx2byYA"
	got = SMSText("en", "Region Exempel med ett mycket långt namn", "Provsvar", link)
	if _, segs, _ := Segments(got); segs > 2 || !strings.HasSuffix(got, link) || !strings.HasPrefix(got, "Region Exempel") || !strings.Contains(got, "...: You have") {
		t.Fatalf("got %q in %d segments", got, segs)
	}
	// A link that alone passes two segments is sent as it is.
	link = "https://read.example.se/" + strings.Repeat("x", 400)
	if got := SMSText("sv", "Region Exempel", "Provsvar", link); !strings.HasSuffix(got, link) {
		t.Fatalf("link shortened: %q", got)
	}
}

// TestSMSTextRandom: whatever the errand, the text keeps within two
// segments, ends with the whole link and starts with the organisation.
func TestSMSTextRandom(t *testing.T) {
	alphabet := []rune("abc åäöÅÄÖ éü€{}[]~|^ łšž–…😀👍🏽\"'%\n")
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		n := rng.IntN(400)
		var b strings.Builder
		for range n {
			b.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		lang := []string{"sv", "en"}[i%2]
		got := SMSText(lang, "Region Exempel", b.String(), testLink)
		if _, segs, _ := Segments(got); segs > 2 || !strings.HasSuffix(got, testLink) || !strings.HasPrefix(got, "Region Exempel: ") {
			t.Fatalf("errand %q: %q in %d segments", b.String(), got, segs)
		}
		if !utf8.ValidString(got) {
			t.Fatalf("errand %q: invalid UTF-8 %q", b.String(), got)
		}
	}
}

func TestBackoff(t *testing.T) {
	for attempt := 1; attempt <= 30; attempt++ {
		d := math.Min(30*math.Pow(2, float64(attempt-1)), 3600)
		lo, hi := time.Duration(d/2*1e9), time.Duration(d*1e9)
		if got := Backoff(attempt, 0); got != lo {
			t.Errorf("attempt %d, r=0: %v, want %v", attempt, got, lo)
		}
		if got := Backoff(attempt, 1); got != hi {
			t.Errorf("attempt %d, r=1: %v, want %v", attempt, got, hi)
		}
		var sum float64
		const samples = 2000
		for range samples {
			b := Backoff(attempt, rand.Float64())
			if b < lo || b > hi {
				t.Fatalf("attempt %d: %v outside [%v, %v]", attempt, b, lo, hi)
			}
			sum += b.Seconds()
		}
		// Uniform on [d/2, d]: mean 0.75 d, its standard error 0.0032 d.
		if mean := sum / samples / d; mean < 0.72 || mean > 0.78 {
			t.Errorf("attempt %d: mean %.3f d, want 0.75 d", attempt, mean)
		}
	}
	// Float seconds: the jitter keeps its fractions of a second.
	if got, want := Backoff(1, 0.123456789), time.Duration((15+15*0.123456789)*1e9); got < want-time.Microsecond || got > want+time.Microsecond {
		t.Errorf("Backoff(1, 0.123456789) = %v, want %v", got, want)
	}
	for _, c := range []struct {
		attempt int
		r       float64
		want    time.Duration
	}{
		{0, 0, 15 * time.Second}, {-3, 1, 30 * time.Second},
		{1 << 30, 1, time.Hour}, {math.MaxInt, 0, 30 * time.Minute},
		{1, -1, 15 * time.Second}, {1, math.NaN(), 15 * time.Second}, {1, 7, 30 * time.Second},
	} {
		if got := Backoff(c.attempt, c.r); got != c.want || got < 0 {
			t.Errorf("Backoff(%d, %v) = %v, want %v", c.attempt, c.r, got, c.want)
		}
	}
}

func TestMask(t *testing.T) {
	for _, c := range []struct {
		ch       addressing.Channel
		to, want string
	}{
		{addressing.SMS, "+46701234567", "+4670123****"},
		{addressing.SMS, "0701234567", "070123****"},
		{addressing.Email, "anna@example.org", "a***@example.org"},
		{addressing.Email, "åsa@example.org", "å***@example.org"},
		{addressing.Email, "nonsense", "***"},
	} {
		if got := maskTo(c.ch, c.to); got != c.want {
			t.Errorf("maskTo(%s, %q) = %q, want %q", c.ch, c.to, got, c.want)
		}
	}
}

// TestLongestFitIsLongest: the binary search finds what a linear search
// from the longest prefix down finds.
func TestLongestFitIsLongest(t *testing.T) {
	alphabet := []rune("abc åäö€{}łš–…😀👍🏽(.,")
	rng := rand.New(rand.NewPCG(3, 4))
	build := func(e string) string { return sprintf(languages["sv"].smsAbout, "Region Exempel", e, testLink) }
	for range 300 {
		var b strings.Builder
		for range 100 + rng.IntN(250) {
			b.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		s := b.String()
		runes := []rune(s)
		want := ""
		for k := min(len(runes)-1, 306); k > 0; k-- {
			prefix := trimCut(string(runes[:k]))
			if prefix == "" {
				continue
			}
			tx := build(prefix + "...")
			if !IsGSM7(tx) {
				tx = build(prefix + "…")
			}
			if fitsSMS(tx) {
				want = tx
				break
			}
		}
		if got := longestFit(s, build); got != want {
			t.Fatalf("errand %q:\n got %q\nwant %q", s, got, want)
		}
	}
}
