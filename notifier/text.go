package notifier

import (
	"bytes"
	"html/template"
	"strings"
	"unicode"
)

// The words of a notification, in Swedish and English. A notification
// carries the organisation's name, the errand (the Subject, which the sender
// knows travels in clear) and the link — never anything of the body.

type phrases struct {
	smsAbout  string // org, errand, link
	smsPlain  string // org, link: when no errand fits
	mailHello string
	mailAbout string // org, errand
	mailOpen  string
	mailWho   string
	mailAuto  string
	htmlLang  string
}

var languages = map[string]phrases{
	"sv": {
		smsAbout:  `%s: Du har ett säkert meddelande om "%s". Läs det här: %s`,
		smsPlain:  `%s: Du har ett säkert meddelande. Läs det här: %s`,
		mailHello: "Hej!",
		mailAbout: `Du har fått ett säkert meddelande från %s om "%s".`,
		mailOpen:  "Öppna det här och logga in med BankID:",
		mailWho:   "Bara den som meddelandet är till kan öppna det: du styrker vem du är med BankID.",
		mailAuto:  "Det här mejlet skickades automatiskt och går inte att svara på.",
		htmlLang:  "sv",
	},
	"en": {
		smsAbout:  `%s: You have a secure message about "%s". Read it here: %s`,
		smsPlain:  `%s: You have a secure message. Read it here: %s`,
		mailHello: "Hello,",
		mailAbout: `You have received a secure message from %s about "%s".`,
		mailOpen:  "Open it here and log in with BankID:",
		mailWho:   "Only the person the message is for can open it: you prove who you are with BankID.",
		mailAuto:  "This e-mail was sent automatically; replies are not read.",
		htmlLang:  "en",
	},
}

func phrasesFor(lang string) phrases {
	if p, ok := languages[lang]; ok {
		return p
	}
	return languages["sv"]
}

// oneLine makes a header-ish value safe for one line of text: control
// characters and runs of white space become one space.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
	}), " ")
}

// trimCut removes what should not end a shortened errand: white space,
// joiners and variation selectors left from a cut emoji sequence, and
// punctuation that would stand before the ellipsis.
func trimCut(s string) string {
	return strings.TrimRightFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r == '\u200d' || unicode.Is(unicode.Variation_Selector, r) ||
			unicode.Is(unicode.Mn, r) || strings.ContainsRune(",.;:-–(", r)
	})
}

// maxSMSSegments bounds a notification SMS.
const maxSMSSegments = 2

func fitsSMS(s string) bool {
	_, n, _ := Segments(s)
	return n <= maxSMSSegments
}

// SMSText is the notification SMS for one recipient, within two segments:
// the errand is shortened to fit (with "..." when the text is GSM-7 and "…"
// when it is UCS-2 anyway, since "…" is not GSM-7), and left out when not
// even one character of it fits; then, if need be, the organisation's name
// is shortened. The link is never shortened: a text whose link alone passes
// two segments is sent as it is.
func SMSText(lang, org, errand, link string) string {
	p := phrasesFor(lang)
	org, errand = oneLine(org), oneLine(errand)
	if errand != "" {
		about := func(e string) string { return sprintf(p.smsAbout, org, e, link) }
		if t := about(errand); fitsSMS(t) {
			return t
		}
		if t := longestFit(errand, about); t != "" {
			return t
		}
	}
	plain := sprintf(p.smsPlain, org, link)
	if fitsSMS(plain) {
		return plain
	}
	if t := longestFit(org, func(o string) string { return sprintf(p.smsPlain, o, link) }); t != "" {
		return t
	}
	return plain
}

// longestFit returns build(prefix + ellipsis) for the longest prefix of s
// (shorter than s, cut at a character, trimmed by trimCut, not empty) whose
// text fits two segments, or "" when none does. The ellipsis is "..." when
// the text is GSM-7 with it, else "…". The text grows with the prefix (and
// once UCS-2 stays UCS-2), so a binary search finds it; the result is
// checked all the same.
func longestFit(s string, build func(string) string) string {
	runes := []rune(s)
	text := func(k int) (string, bool) {
		prefix := trimCut(string(runes[:k]))
		if prefix == "" {
			return "", true // too short to tell: look at longer prefixes
		}
		t := build(prefix + "...")
		if !IsGSM7(t) {
			t = build(prefix + "…")
		}
		return t, fitsSMS(t)
	}
	best := ""
	// Two GSM-7 segments hold 306 septets: a longer prefix never fits.
	for lo, hi := 1, min(len(runes)-1, 306); lo <= hi; {
		mid := (lo + hi) / 2
		t, ok := text(mid)
		if ok {
			if t != "" {
				best = t
			}
			lo = mid + 1
		} else {
			hi = mid - 1
		}
	}
	return best
}

// sprintf fills %s verbs in order without fmt's treatment of other verbs,
// so a '%' in an errand or a name stays what it is.
func sprintf(format string, args ...string) string {
	var b strings.Builder
	for i := 0; ; i++ {
		j := strings.Index(format, "%s")
		if j < 0 || i >= len(args) {
			b.WriteString(format)
			return b.String()
		}
		b.WriteString(format[:j])
		b.WriteString(args[i])
		format = format[j+2:]
	}
}

// mailText is the plain-text part of the notification e-mail.
func mailText(lang, org, errand, link string) string {
	p := phrasesFor(lang)
	org, errand = oneLine(org), oneLine(errand)
	return p.mailHello + "\r\n\r\n" +
		sprintf(p.mailAbout, org, errand) + "\r\n\r\n" +
		p.mailOpen + "\r\n" + link + "\r\n\r\n" +
		p.mailWho + "\r\n" + p.mailAuto + "\r\n\r\n" +
		org + "\r\n"
}

var mailHTML = template.Must(template.New("mail").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}">
<head><meta charset="utf-8"><title>{{.Errand}}</title></head>
<body style="font-family: sans-serif; line-height: 1.4">
<p>{{.Hello}}</p>
<p>{{.About}}</p>
<p>{{.Open}}<br><a href="{{.Link}}">{{.Link}}</a></p>
<p>{{.Who}}<br>{{.Auto}}</p>
<p>{{.Org}}</p>
</body>
</html>
`))

// mailHTMLPart is the HTML part: the same words, every value escaped.
func mailHTMLPart(lang, org, errand, link string) (string, error) {
	p := phrasesFor(lang)
	org, errand = oneLine(org), oneLine(errand)
	var b bytes.Buffer
	err := mailHTML.Execute(&b, map[string]string{
		"Lang": p.htmlLang, "Errand": errand, "Hello": p.mailHello,
		"About": sprintf(p.mailAbout, org, errand), "Open": p.mailOpen,
		"Link": link, "Who": p.mailWho, "Auto": p.mailAuto, "Org": org,
	})
	return strings.ReplaceAll(b.String(), "\n", "\r\n"), err
}
