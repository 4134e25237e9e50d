package addressing

import (
	"strings"
	"testing"
	"time"
)

// ParseExpiry takes a lifetime in exp='s notation or an instant, written
// as RFC 3339 or as a date and time in the given zone (as a browser's
// date-time field sends it too), and refuses the rest naming both ways.
func TestParseExpiry(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 12, 24, 12, 0, 0, 0, loc)
	for _, s := range []string{"2026-12-24T12:00:00+01:00", "2026-12-24 12:00", "2026-12-24T12:00", "2026-12-24T11:00:00Z"} {
		if l, at, err := ParseExpiry(s, loc); err != nil || l != 0 || !at.Equal(want) {
			t.Errorf("ParseExpiry(%q) = %v, %v, %v; want %v", s, l, at, err, want)
		}
	}
	if l, at, err := ParseExpiry("7d", loc); err != nil || l.Duration() != 7*24*time.Hour || !at.IsZero() {
		t.Errorf("ParseExpiry(7d) = %v, %v, %v", l, at, err)
	}
	for _, s := range []string{"", "tomorrow", "3M", "24/12 12:00", "0001-01-01T00:00:00Z"} {
		if _, _, err := ParseExpiry(s, loc); err == nil || !strings.Contains(err.Error(), "neither a lifetime") {
			t.Errorf("ParseExpiry(%q): %v", s, err)
		}
	}
}
