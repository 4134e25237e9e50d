package addressing

import (
	"fmt"
	"time"
)

// ParseExpiry reads a new expiry for a sent message as a person writes it
// (`sigill message expire`, the staff web's form): a lifetime counted from
// when the message was received, in ParseLifetime's notation ("7d"), or an
// instant: RFC 3339, or a date and time in loc ("2026-12-24 12:00", or
// "2026-12-24T12:00" as a browser's date-time field sends it). One of the
// two is set. The error says both ways to write it.
func ParseExpiry(s string, loc *time.Location) (Lifetime, time.Time, error) {
	if l, err := ParseLifetime(s); err == nil {
		return l, time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil && !t.IsZero() {
		return 0, t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return 0, t, nil
		}
	}
	return 0, time.Time{}, fmt.Errorf("%s is neither a lifetime (a number and m, h, d or w: 7d) nor a time (2026-12-24T12:00:00+01:00, or 2026-12-24 12:00 in %s time)", show(s), loc)
}
