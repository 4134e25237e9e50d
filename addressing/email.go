package addressing

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

const emailMend = "write name=domain, e.g. anna.svensson=example.com"

// parseEmail reads an e-mail target: the last '=', '%' or '@' stands for
// '@' ("anna.s=example.com" is anna.s@example.com). The name must be a
// dot-atom in ASCII; the domain is a host name (an international one is
// written in its xn-- form) and is lowercased. An address at one of the
// gateway's own domains is refused, as a notification sent there would come
// straight back.
func (p Policy) parseEmail(target string) (addr, fault string) {
	at := strings.LastIndexAny(target, "=%@")
	name, domain := target[:at], target[at+1:]
	bad := func(why string, args ...any) (string, string) {
		return "", fmt.Sprintf("%s is not an e-mail address: %s; %s", show(target), fmt.Sprintf(why, args...), emailMend)
	}
	if name == "" {
		return bad("there is no name before '%c'", target[at])
	}
	if why := dotAtomFault(name); why != "" {
		return bad("the name %s %s", show(name), why)
	}
	if len(name) > 64 {
		return bad("the name has %d characters, more than 64", len(name))
	}
	if domain == "" {
		return bad("there is no domain after '%c'", target[at])
	}
	ascii := domain
	if !isASCII(domain) {
		var err error
		if ascii, err = idna.Lookup.ToASCII(domain); err != nil {
			return bad("%s is not a domain name", show(domain))
		}
	}
	ascii = strings.ToLower(ascii)
	if why := hostnameFault(ascii); why != "" {
		return bad("%s is not a domain name (%s)", show(domain), why)
	}
	addr = name + "@" + ascii
	if a, err := mail.ParseAddress(addr); err != nil || a.Address != addr {
		return bad("it does not read as one")
	}
	if p.IsGatewayDomain(ascii) {
		return "", fmt.Sprintf("%s is an address at this gateway; a notification cannot be sent there: write the recipient's own e-mail address as name=domain", show(addr))
	}
	return addr, ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// dotAtomFault says why name is not an RFC 5322 dot-atom of ASCII atext
// ("has an empty part between dots"), or "" when it is one.
func dotAtomFault(name string) string {
	for _, c := range name {
		if c >= utf8.RuneSelf {
			return fmt.Sprintf("holds %q; only ASCII letters, digits and !#$%%'*+-/=^_`{|}~. can be used", c)
		}
		if !isAtext(byte(c)) && c != '.' {
			return fmt.Sprintf("holds %q, which an e-mail address cannot have unquoted", c)
		}
	}
	if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
		return "has an empty part between dots, or a dot first or last"
	}
	return ""
}

// isAtext is RFC 5322 atext, less '&' and '?', which separate parameters
// and so never reach a name.
func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%'*+-/=^_`{|}~", c) >= 0
}

// hostnameFault says why an ASCII, lowercased domain is not a host name on
// the Internet, or "" when it is one: at least two labels of letters, digits
// and '-', none longer than 63, and a top-level label that is not all digits.
func hostnameFault(d string) string {
	if len(d) > 253 {
		return "longer than 253 characters"
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return "no dot"
	}
	for _, l := range labels {
		if l == "" {
			return "an empty label"
		}
		if len(l) > 63 {
			return "a label longer than 63 characters"
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return "a label begins or ends with '-'"
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return fmt.Sprintf("%q cannot be in a domain name", c)
			}
		}
	}
	if allDigits(labels[len(labels)-1]) {
		return "the last label is all digits"
	}
	return ""
}
