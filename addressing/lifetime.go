package addressing

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Lifetime is how long a message may be read after it is received: the
// exp= of an address ("exp=7d"), and the notation the API's expires_in and
// `sigill message expire` take. Zero means "not given": the gateway's
// vault.retention applies. Its text form is the number and unit of the
// largest unit that divides it ("7d", "36h"), so 168h and 7d are one value.
type Lifetime time.Duration

// DefaultMaxLifetime is Policy.MaxLifetime when zero: 90 days, the spec's
// example of vault.max_retention.
const DefaultMaxLifetime = 90 * 24 * time.Hour

// maxLifetimeDigits bounds the number of an exp= value (1*4DIGIT).
const maxLifetimeDigits = 4

var lifetimeUnits = []struct {
	unit byte
	d    time.Duration
}{
	{'w', 7 * 24 * time.Hour},
	{'d', 24 * time.Hour},
	{'h', time.Hour},
	{'m', time.Minute},
}

// Duration is l as a time.Duration.
func (l Lifetime) Duration() time.Duration { return time.Duration(l) }

// String writes l as few digits as its units allow: in days, hours or
// minutes, the largest that divides it ("7d", "90d", "36h", "90m"), or in
// weeks where days would take more than four digits; "" for zero. A
// lifetime that is no whole number of minutes (only a caller's own
// Lifetime(d) can be) is written in minutes, rounded up.
func (l Lifetime) String() string {
	d := time.Duration(l)
	if d <= 0 {
		return ""
	}
	first := ""
	for _, u := range []byte("dhmw") {
		size := unitSize(u)
		if d%size != 0 {
			continue
		}
		s := strconv.FormatInt(int64(d/size), 10) + string(u)
		if len(s) <= maxLifetimeDigits+1 {
			return s
		}
		if first == "" {
			first = s
		}
	}
	if first != "" {
		return first
	}
	return strconv.FormatInt(int64((d+time.Minute-1)/time.Minute), 10) + "m"
}

func unitSize(unit byte) time.Duration {
	for _, u := range lifetimeUnits {
		if u.unit == unit {
			return u.d
		}
	}
	return 0
}

// MarshalText writes String: the JSON of a Recipient says "exp":"7d".
func (l Lifetime) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText reads what MarshalText wrote (and any value ParseLifetime
// takes); "" is zero.
func (l *Lifetime) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*l = 0
		return nil
	}
	v, err := ParseLifetime(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// ParseLifetime reads a lifetime as addressing.md writes it: 1 to 4 digits,
// then m (minutes), h (hours), d (days) or w (weeks); the unit in either
// case, except 'M', which a sender may mean as months. Zero is refused: a
// message must be readable for a while. The error says what is wrong and
// how to write it; it does not check a gateway's limit (Policy does).
func ParseLifetime(s string) (Lifetime, error) { return parseLifetime(s, "") }

// parseLifetime is ParseLifetime for a value written after key ("exp="),
// which the reasons repeat.
func parseLifetime(value, key string) (Lifetime, error) {
	mend := "write a number and m, h, d or w, e.g. " + key + "7d"
	s := key + show(value)
	if value == "" && key == "" {
		return 0, fmt.Errorf("the lifetime is empty; %s", mend)
	}
	if value == "" {
		return 0, fmt.Errorf("%s is empty; %s", s, mend)
	}
	digits := 0
	for digits < len(value) && isDigit(value[digits]) {
		digits++
	}
	number, unit := value[:digits], value[digits:]
	switch {
	case digits == 0:
		return 0, fmt.Errorf("%s is not a lifetime; %s", s, mend)
	case unit == "":
		return 0, fmt.Errorf("%s has no unit; %s (m minutes, h hours, d days, w weeks)", s, mend)
	case unit == "M":
		return 0, fmt.Errorf("%s: M could mean minutes or months; write %s%sm for minutes, or days or weeks", s, key, number)
	case len(unit) != 1:
		return 0, fmt.Errorf("%s is not a lifetime; %s", s, mend)
	case digits > maxLifetimeDigits:
		return 0, fmt.Errorf("%s has more than %d digits; write it in a larger unit, e.g. %s7d for 168h", s, maxLifetimeDigits, key)
	}
	n, _ := strconv.Atoi(number) // at most 4 digits
	for _, u := range lifetimeUnits {
		if strings.ToLower(unit)[0] == u.unit {
			if n == 0 {
				return 0, fmt.Errorf("%s is no time at all; %s", s, mend)
			}
			return Lifetime(time.Duration(n) * u.d), nil
		}
	}
	return 0, fmt.Errorf("%s has the unit %s; %s (m minutes, h hours, d days, w weeks)", s, show(unit), mend)
}

// Replies is the sender's choice of reply=: may the recipient answer from
// the reader's page. "" means not given (the gateway's default: yes).
type Replies string

const (
	RepliesDefault Replies = ""
	RepliesYes     Replies = "yes"
	RepliesNo      Replies = "no"
)

// Allowed tells whether the recipient may answer: unless the sender wrote
// reply=no.
func (r Replies) Allowed() bool { return r != RepliesNo }
