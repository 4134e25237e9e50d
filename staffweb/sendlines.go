package staffweb

import (
	"errors"
	"strings"

	"sigill/addressing"
	"sigill/intake"
	"sigill/vault"
)

// The send form's recipients field: one recipient per line, written either
// in the address syntax SMTP takes (addressing.md), with or without the
// gateway's domain,
//
//	0701234567&login=199908072391&
//	anna=example.com&login=*&@secure.example.se
//
// or as a mobile number or e-mail address followed by who may open it,
// separated by spaces, commas or semicolons,
//
//	0701234567 199908072391, 19861123-9883
//	anna@example.com *
//	0701234567 19990807*
//
// The second form is turned into the first (target&login=…&) and read by
// the same addressing rules, so a fault reads as SMTP's RCPT would say it.
// The form's language and replies choice are added to a line that sets
// none itself. It is outside input: FuzzRecipientLines drives it.

// lineOptions are the form's choices that apply to every line.
type lineOptions struct {
	Lang      string // "sv" or "en"
	NoReplies bool   // reply=no
}

// lineFault is a line the addressing rules refused.
type lineFault struct {
	Line    int    // from 1
	Written string // the line as typed (trimmed)
	Reason  string // addressing's reason, naming the faulty value
}

// readRecipients reads the field: the recipients (one per canonical local
// part, as SMTP counts them) and every line refused. Empty lines are
// skipped.
func readRecipients(p addressing.Policy, field string, o lineOptions) ([]vault.Recipient, []lineFault) {
	var (
		rs     intake.Recipients
		faults []lineFault
	)
	for i, line := range strings.Split(field, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		address, r, err := readLine(p, line, o)
		if err != nil {
			faults = append(faults, lineFault{Line: i + 1, Written: line, Reason: refusalReason(err)})
			continue
		}
		rs.Add(address, r)
	}
	return rs.List(), faults
}

// readLine reads one line; address is the RCPT TO address it stands for,
// at the gateway's first domain unless the line names one.
func readLine(p addressing.Policy, line string, o lineOptions) (address string, r addressing.Recipient, err error) {
	local, domain := line, ""
	if strings.ContainsAny(line, "&?") {
		// The address syntax; a domain after the last '@' past the last
		// separator ("...&@secure.test"), else none: "anna.s@example.com&..."
		// is a quoted local part whose '@' stands for the mailbox's own.
		if at := strings.LastIndexByte(line, '@'); at > strings.LastIndexAny(line, "&?") {
			local, domain = line[:at], line[at+1:]
		}
	} else {
		local = fromWords(line)
	}
	local = withParam(local, "lang", o.Lang)
	if o.NoReplies {
		local = withParam(local, "reply", "no")
	}
	if domain == "" {
		if len(p.Domains) == 0 {
			return "", addressing.Recipient{}, errors.New("no gateway domain is configured (smtp.domains)")
		}
		domain = p.Domains[0]
	}
	address = local + "@" + domain
	r, err = p.Parse(address)
	return address, r, err
}

// fromWords turns "target login login…" into the address syntax. The
// target's last '@' stands for the mailbox's, written '=' in a local part.
func fromWords(line string) string {
	words := strings.FieldsFunc(line, func(c rune) bool {
		return c == ' ' || c == '\t' || c == ',' || c == ';' || c == '\u00a0'
	})
	if len(words) == 0 {
		return ""
	}
	target := words[0]
	if at := strings.LastIndexByte(target, '@'); at >= 0 {
		target = target[:at] + "=" + target[at+1:]
	}
	var b strings.Builder
	b.WriteString(target + "&")
	for _, login := range words[1:] {
		b.WriteString("login=" + login + "&")
	}
	return b.String()
}

// withParam adds key=value to a local part that gives no key= of its own
// (value "" adds nothing). The target, before the first separator, is no
// parameter even when it reads "lang=example.com".
func withParam(local, key, value string) string {
	if value == "" {
		return local
	}
	params := ""
	if i := strings.IndexAny(local, "&?"); i >= 0 {
		params = local[i:]
	}
	for _, seg := range strings.FieldsFunc(params, func(c rune) bool { return c == '&' || c == '?' }) {
		if k, _, ok := strings.Cut(seg, "="); ok && strings.EqualFold(strings.TrimSpace(k), key) {
			return local
		}
	}
	if !strings.HasSuffix(local, "&") && !strings.HasSuffix(local, "?") {
		local += "&"
	}
	return local + key + "=" + value + "&"
}

func refusalReason(err error) string {
	var refusal *addressing.Refusal
	if errors.As(err, &refusal) {
		return refusal.Reason
	}
	return err.Error()
}
