package addressing

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Policy is how the gateway reads addresses; cmd builds it from the
// configuration (smtp.domains and the [addressing] table).
type Policy struct {
	Domains      []string         // gateway domains, compared case-insensitively ("secure.test" in dev)
	Region       string           // default region for national phone numbers; "SE" when empty
	DefaultLogin string           // "" = a recipient with no login= is refused; "*" = anyone with BankID
	MaxLogins    int              // most logins (numbers and birth dates) per recipient; 20 when zero
	DefaultLang  string           // "sv" or "en"; "sv" when empty (or anything else)
	Now          func() time.Time // today's date for the century rule; time.Now when nil
	// MaxLifetime is the longest exp= the gateway takes (vault.max_retention);
	// DefaultMaxLifetime when zero.
	MaxLifetime time.Duration
}

func (p Policy) region() string {
	if p.Region == "" {
		return "SE"
	}
	return strings.ToUpper(p.Region)
}

func (p Policy) maxLogins() int {
	if p.MaxLogins <= 0 {
		return 20
	}
	return p.MaxLogins
}

func (p Policy) lang() string {
	if l := strings.ToLower(p.DefaultLang); l == "en" {
		return l
	}
	return "sv"
}

func (p Policy) maxLifetime() time.Duration {
	if p.MaxLifetime <= 0 {
		return DefaultMaxLifetime
	}
	return p.MaxLifetime
}

func (p Policy) now() time.Time {
	if p.Now == nil {
		return time.Now()
	}
	return p.Now()
}

// The enhanced status codes of a refusal.
var (
	relayDenied = [3]int{5, 7, 1} // not a gateway domain
	badAddress  = [3]int{5, 1, 3} // every fault in the local part
)

const knownKeys = "login, lang, exp, reply"

// keys are the parameter keys of an address, in the order of knownKeys.
var keys = []string{"login", "lang", "exp", "reply"}

// Parse reads one RCPT TO address, "local@domain". The address is split on
// its LAST '@', so a local part that a client quoted
// ("anna.s@example.com&login=*&"@secure.test) reads the same whether or not
// the quotes are still there (go-smtp removes them). The domain must be one
// of p.Domains. An address without '@' is refused; use ParseLocal for a bare
// local part. The error is always a *Refusal.
func (p Policy) Parse(address string) (Recipient, error) {
	addr := strings.TrimSpace(address)
	if len(addr) >= 2 && addr[0] == '<' && addr[len(addr)-1] == '>' {
		addr = addr[1 : len(addr)-1]
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return Recipient{}, refuse(address, RefusedMalformed, "no domain; the address must end in @%s", p.firstDomain())
	}
	local, domain := addr[:at], addr[at+1:]
	if !p.IsGatewayDomain(domain) {
		if len(p.Domains) == 0 {
			return Recipient{}, refuse(address, RefusedNotOurDomain, "relay not permitted; this gateway has no domain configured (smtp.domains)")
		}
		return Recipient{}, refuse(address, RefusedNotOurDomain, "relay not permitted; use an address at %s", p.Domains[0])
	}
	return p.parseLocal(address, unquote(local))
}

// ParseLocal reads a bare local part, "0701234567&login=199908072391&",
// without a domain and without any check of one. The error is always a
// *Refusal, whose Address is local.
func (p Policy) ParseLocal(local string) (Recipient, error) {
	return p.parseLocal(local, local)
}

// IsGatewayDomain reports whether domain is one of p.Domains, ignoring case
// and a trailing dot.
func (p Policy) IsGatewayDomain(domain string) bool {
	domain = strings.TrimSuffix(domain, ".")
	for _, d := range p.Domains {
		if domain != "" && asciiEqualFold(domain, strings.TrimSuffix(d, ".")) {
			return true
		}
	}
	return false
}

// asciiEqualFold is strings.EqualFold for ASCII only: "ſecure.test" is not
// "secure.test".
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func (p Policy) firstDomain() string {
	if len(p.Domains) == 0 {
		return "<gateway domain>"
	}
	return p.Domains[0]
}

// unquote removes the quotes of a quoted local part, "..." with \-escapes,
// when a client's quotes are still there.
func unquote(local string) string {
	if len(local) < 2 || local[0] != '"' || local[len(local)-1] != '"' {
		return local
	}
	var b strings.Builder
	in := local[1 : len(local)-1]
	for i := 0; i < len(in); i++ {
		if in[i] == '\\' && i+1 < len(in) {
			i++
		}
		b.WriteByte(in[i])
	}
	return b.String()
}

func isSep(r rune) bool { return r == '&' || r == '?' }

// parseLocal does the work of Parse and ParseLocal; address is what a refusal
// names.
func (p Policy) parseLocal(address, local string) (Recipient, error) {
	target, rest := local, ""
	if i := strings.IndexAny(local, "&?"); i >= 0 {
		target, rest = local[:i], local[i+1:]
	}
	r := Recipient{Logins: []string{}, Born: []string{}}

	target = strings.TrimSpace(target)
	switch {
	case target == "":
		return Recipient{}, refuse(address, RefusedBadRecipient, "no recipient before the first '&'; write a mobile number or name=domain")
	case startsWithKey(target):
		return Recipient{}, refuse(address, RefusedBadRecipient, "no recipient before the first '&' (%s is a parameter, not a recipient); write a mobile number or name=domain first", show(target))
	case isPhoneShaped(target):
		to, fault := parsePhone(target, p.region())
		if fault != "" {
			return Recipient{}, refuse(address, RefusedBadRecipient, "%s", fault)
		}
		r.Channel, r.To = SMS, to
	case strings.ContainsAny(target, "=%@"):
		to, fault := p.parseEmail(target)
		if fault != "" {
			return Recipient{}, refuse(address, RefusedBadRecipient, "%s", fault)
		}
		r.Channel, r.To = Email, to
	default:
		return Recipient{}, refuse(address, RefusedBadRecipient, "no recipient before the first '&': %s is neither a mobile number nor name=domain; write a mobile number or name=domain", show(target))
	}

	now := p.now()
	sawLogin := false
	for _, seg := range strings.FieldsFunc(rest, isSep) {
		seg = strings.TrimSpace(seg)
		if seg == "" {
			continue // "&&" and "& &" are tolerated
		}
		eq := strings.IndexByte(seg, '=')
		if eq < 0 {
			if allDigitsOrSeps(seg) {
				return Recipient{}, refuse(address, RefusedBadParameter, "%s has no key; write login=%s", show(seg), show(seg))
			}
			return Recipient{}, refuse(address, RefusedBadParameter, "%s has no '='; write key=value (known keys: %s)", show(seg), knownKeys)
		}
		key := strings.ToLower(strings.TrimSpace(seg[:eq]))
		value := strings.TrimSpace(seg[eq+1:])
		switch key {
		case "login":
			sawLogin = true
			if err := addLogin(&r, value, now); err != "" {
				return Recipient{}, refuse(address, RefusedBadLogin, "%s", err)
			}
			if n := len(r.Logins) + len(r.Born); n > p.maxLogins() {
				return Recipient{}, refuse(address, RefusedTooManyLogins, "more than %d logins; write at most %d numbers and birth dates in one address, and send to the others at another address", p.maxLogins(), p.maxLogins())
			}
		case "lang":
			lang := strings.ToLower(value)
			if lang != "sv" && lang != "en" {
				return Recipient{}, refuse(address, RefusedBadParameter, "lang=%s is not a language sigill speaks; write lang=sv or lang=en", show(value))
			}
			if r.Lang != "" && r.Lang != lang {
				return Recipient{}, refuse(address, RefusedBadParameter, "lang= is given twice (%s and %s); keep one", r.Lang, lang)
			}
			r.Lang = lang
		case "exp":
			exp, err := parseLifetime(value, "exp=")
			if err != nil {
				return Recipient{}, refuse(address, RefusedBadParameter, "%s", err.Error())
			}
			if limit := p.maxLifetime(); exp.Duration() > limit {
				return Recipient{}, refuse(address, RefusedBadParameter, "exp=%s is longer than this gateway keeps messages (%s); write at most exp=%s", show(value), Lifetime(limit), Lifetime(limit))
			}
			if r.Exp != 0 && r.Exp != exp {
				return Recipient{}, refuse(address, RefusedBadParameter, "exp= is given twice (%s and %s); keep one", r.Exp, exp)
			}
			r.Exp = exp
		case "reply":
			reply := Replies(strings.ToLower(value))
			if reply != RepliesYes && reply != RepliesNo {
				return Recipient{}, refuse(address, RefusedBadParameter, "reply=%s is neither yes nor no; write reply=no to keep the recipient from answering, or leave it out", show(value))
			}
			if r.Reply != RepliesDefault && r.Reply != reply {
				return Recipient{}, refuse(address, RefusedBadParameter, "reply= is given twice (%s and %s); keep one", r.Reply, reply)
			}
			r.Reply = reply
		case "":
			return Recipient{}, refuse(address, RefusedBadParameter, "%s has no key before '='; known keys: %s", show(seg), knownKeys)
		default:
			hint := ""
			if guess := nearKey(key); guess != "" {
				hint = fmt.Sprintf(" (did you mean '%s'?)", guess)
			}
			return Recipient{}, refuse(address, RefusedBadParameter, "unknown key '%s'%s; known keys: %s", show(key), hint, knownKeys)
		}
	}

	if !sawLogin {
		if p.DefaultLogin != "*" {
			return Recipient{}, refuse(address, RefusedNoLogin, "no login=; add &login=<personnummer>& or &login=*&")
		}
		r.Anyone = true
	}
	slices.Sort(r.Logins)
	slices.Sort(r.Born)
	if r.Lang == "" {
		r.Lang = p.lang()
	}
	return r, nil
}

// addLogin adds the value of one login= to r, or says what is wrong with it.
func addLogin(r *Recipient, value string, now time.Time) string {
	switch {
	case value == "":
		return "login= is empty; write login=<personnummer>, login=<YYYYMMDD>* or login=*"
	case value == "*":
		r.Anyone = true
	case strings.HasSuffix(value, "*"):
		date, err := parseBirthDate(value[:len(value)-1], now)
		if err != nil {
			return "login=" + err.Error()
		}
		if !slices.Contains(r.Born, date) {
			r.Born = append(r.Born, date)
		}
	default:
		pn, err := ParsePersonalNumber(value, now)
		if err != nil {
			return "login=" + err.Error()
		}
		if !slices.Contains(r.Logins, pn) {
			r.Logins = append(r.Logins, pn)
		}
	}
	return ""
}

// startsWithKey reports whether a first segment is "login=...", "exp=..."
// or another key's: a parameter where the recipient should be.
func startsWithKey(seg string) bool {
	eq := strings.IndexByte(seg, '=')
	if eq < 0 {
		return false
	}
	return slices.Contains(keys, strings.ToLower(strings.TrimSpace(seg[:eq])))
}

func allDigitsOrSeps(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) && s[i] != '-' && s[i] != '+' && s[i] != '*' {
			return false
		}
	}
	return true
}

// nearKey returns the known key that key is a likely typo of, or "". A
// short key ("exp") allows one slip, a longer one two, so that "to" or "x"
// are not taken for it.
func nearKey(key string) string {
	for _, k := range keys {
		slips := 2
		if len(k) <= 3 {
			slips = 1
		}
		if editDistance(key, k) <= slips {
			return k
		}
	}
	return ""
}

// editDistance is the Damerau (optimal string alignment) distance of two
// short strings; longer strings than a key are not worth comparing.
func editDistance(a, b string) int {
	if len(a) > 16 {
		return len(a)
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

func refuse(address string, kind RefusalKind, format string, args ...any) *Refusal {
	enhanced := badAddress
	if kind == RefusedNotOurDomain {
		enhanced = relayDenied
	}
	return &Refusal{Code: 550, Enhanced: enhanced, Kind: kind, Address: address, Reason: fmt.Sprintf(format, args...)}
}

// show makes a piece of what the sender wrote fit to repeat in a reply: at
// most 64 characters, control characters and broken UTF-8 as '?'.
func show(s string) string {
	const max = 64
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max]) + "..."
	}
	return printable(s)
}

// printable replaces control characters, other unprintable characters and
// broken UTF-8 in s by '?'.
func printable(s string) string {
	return strings.Map(func(c rune) rune {
		if c == utf8.RuneError || !unicode.IsPrint(c) {
			return '?'
		}
		return c
	}, s)
}
