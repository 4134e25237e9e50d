package addressing

import "strings"

// LocalPart is the canonical local part of r, the way the gateway would
// write the address itself: the target (E.164 for SMS, name=domain for
// e-mail), each login in order (12-digit numbers, then YYYYMMDD* birth
// dates, then * for anyone), lang, and exp and reply when given, each
// parameter followed by '&':
//
//	+46701234567&login=199908072391&lang=sv&
//
// For any Recipient that ParseLocal or Parse returned, ParseLocal of its
// LocalPart returns an equal Recipient, whatever the policy's DefaultLogin
// and DefaultLang.
func (r Recipient) LocalPart() string {
	var b strings.Builder
	if r.Channel == Email {
		if at := strings.LastIndexByte(r.To, '@'); at >= 0 {
			b.WriteString(r.To[:at] + "=" + r.To[at+1:])
		} else {
			b.WriteString(r.To)
		}
	} else {
		b.WriteString(r.To)
	}
	b.WriteByte('&')
	for _, n := range r.Logins {
		b.WriteString("login=" + n + "&")
	}
	for _, d := range r.Born {
		b.WriteString("login=" + d + "*&")
	}
	if r.Anyone {
		b.WriteString("login=*&")
	}
	if r.Lang != "" {
		b.WriteString("lang=" + r.Lang + "&")
	}
	if r.Exp != 0 {
		b.WriteString("exp=" + r.Exp.String() + "&")
	}
	if r.Reply != RepliesDefault {
		b.WriteString("reply=" + string(r.Reply) + "&")
	}
	return b.String()
}
