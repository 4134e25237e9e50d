package notifier

import (
	"strings"

	"sigill/addressing"
)

// maskTo writes a recipient for logs: a phone number without its last four
// digits (+4670123****), an e-mail address as its first letter and domain
// (a***@example.org).
func maskTo(ch addressing.Channel, to string) string {
	if ch == addressing.Email {
		local, domain, ok := strings.Cut(to, "@")
		if !ok || local == "" {
			return "***"
		}
		r := []rune(local)
		return string(r[0]) + "***@" + domain
	}
	b := []byte(to)
	hidden := 0
	for i := len(b) - 1; i >= 0 && hidden < 4; i-- {
		if b[i] >= '0' && b[i] <= '9' {
			b[i] = '*'
			hidden++
		}
	}
	return string(b)
}

// scrub keeps secrets out of a reason that is logged and stored in an
// event: the token (and so the link) is replaced, and the text is cut short.
func scrub(s string, secrets ...string) string {
	for _, x := range secrets {
		if x != "" {
			s = strings.ReplaceAll(s, x, "[token]")
		}
	}
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "..."
	}
	return s
}
