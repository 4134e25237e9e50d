package receipts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // Europe/Stockholm on any machine: the bytes must not depend on its zoneinfo
	"unicode/utf8"

	"sigill/addressing"
	"sigill/vault"
)

// Org is what a receipt says about the organisation that sends it.
type Org struct {
	Name     string         // organisation.name: From's display name, and the signature of the text
	Hostname string         // smtp.hostname: Reporting-UA / Reporting-MTA, and the right side of Message-IDs
	From     string         // notifier.email.from: the receipts' From address ("noreply@" + Hostname when empty)
	Lang     string         // organisation.default_lang: "sv" or "en", the language receipts are written in
	Location *time.Location // times in the text and Date; nil = Europe/Stockholm

	// WholePersonalNumber (receipts.whole_personal_number) shows every
	// personal number whole. Without it a receipt shows a number whole only
	// where the sender did not write it in the address (see wholeNumber).
	WholePersonalNumber bool
}

// ErrNotReceipt is Build's error for an event that is no receipt (accepted,
// notified).
var ErrNotReceipt = errors.New("receipts: event kind has no receipt")

var stockholm = mustLoad("Europe/Stockholm")

func mustLoad(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err) // time/tzdata is embedded
	}
	return l
}

// IsReceiptKind reports whether an event of kind k becomes a receipt to the
// sender (and an entry in the sender's receipts mailbox).
func IsReceiptKind(k vault.EventKind) bool {
	switch k {
	case vault.EventDelivered, vault.EventFailed, vault.EventOpened, vault.EventDenied, vault.EventExpired, vault.EventRevoked:
		return true
	}
	return false
}

// Build makes the receipt for one event: the whole message, CRLF line
// endings, ready for SMTP DATA or an IMAP FETCH. The same inputs give the
// same bytes. ev must carry its Seq (as mailbox.Store.Receipt returns it).
func Build(org Org, letter vault.Letter, ev vault.Event) ([]byte, error) {
	if !IsReceiptKind(ev.Kind) {
		return nil, fmt.Errorf("%w: %q", ErrNotReceipt, ev.Kind)
	}
	if ev.Seq == 0 {
		return nil, errors.New("receipts: event without a sequence number")
	}
	if ev.MessageID != letter.ID || ev.Recipient != letter.Recipient {
		return nil, fmt.Errorf("receipts: event %d is about %s/%d, the letter is %s/%d", ev.Seq, ev.MessageID, ev.Recipient, letter.ID, letter.Recipient)
	}
	b := newBuilder(org, letter, ev)
	switch ev.Kind {
	case vault.EventOpened:
		b.mdn()
	case vault.EventDenied:
		b.denied()
	default:
		b.dsn()
	}
	return b.out.Bytes(), nil
}

// MessageID is the Message-ID (without <>) of the receipt Build makes for ev.
func MessageID(org Org, letter vault.Letter, ev vault.Event) string {
	return fmt.Sprintf("receipt.%d.%s@%s", ev.Seq, idSafe(letter.ID), hostname(org))
}

// Subject is the decoded Subject of the receipt Build makes for ev. It holds
// the errand and, for opened and denied, the person's name and masked
// number — never a whole personal number.
func Subject(org Org, letter vault.Letter, ev vault.Event) string {
	return newBuilder(org, letter, ev).subject()
}

type builder struct {
	org    Org
	l      vault.Letter
	ev     vault.Event
	t      *texts
	loc    *time.Location
	bound  string
	out    bytes.Buffer
	errand string
	// signature ends the text (%s: the organisation): t.signature unless
	// set.
	signature string
}

func newBuilder(org Org, l vault.Letter, ev vault.Event) *builder {
	loc := org.Location
	if loc == nil {
		loc = stockholm
	}
	errand := clean(l.Errand)
	t := textsFor(org.Lang)
	if errand == "" {
		errand = t.noErrand
	}
	sum := sha256.Sum256([]byte(hostname(org) + "\x00" + l.ID + "\x00" + strconv.FormatUint(ev.Seq, 10)))
	return &builder{
		org: org, l: l, ev: ev, t: t, loc: loc,
		bound:  "=_sigill_" + hex.EncodeToString(sum[:12]),
		errand: errand,
	}
}

func hostname(org Org) string {
	if h := idSafe(org.Hostname); h != "" {
		return h
	}
	return "localhost"
}

// idSafe keeps the characters a msg-id's dot-atom may hold.
func idSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", r)) {
			return r
		}
		return -1
	}, s)
}

// clean makes text one line of printable characters.
func clean(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// ascii makes text one line of printable ASCII, for the report fields.
func ascii(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return '?'
		}
		return r
	}, clean(s))
	if len(s) > max {
		s = s[:max]
	}
	return s
}

func (b *builder) when(t time.Time) string {
	return t.In(b.loc).Format(b.t.timeLayout)
}

// fullNumber writes a 12-digit personal number as YYYYMMDD-NNNN; anything
// else as given.
func fullNumber(pn string) string {
	if len(pn) == 12 && strings.Trim(pn, "0123456789") == "" {
		return pn[:8] + "-" + pn[8:]
	}
	return clean(pn)
}

// wholeNumber reports whether the receipt's text shows the person's whole
// personal number. A receipt stays in mailboxes for years, so by default it
// shows a number whole only where the sender needs it: when the address did
// not name the person (they opened through login=* or a birth date, or were
// refused), the receipt is the only place the sender learns who it was. A
// person the sender named is shown masked; the organisation may choose
// otherwise (Org.WholePersonalNumber).
func (b *builder) wholeNumber() bool {
	return b.org.WholePersonalNumber || !slices.Contains(b.l.Rcpt.Logins, b.ev.PersonalNumber)
}

// person is "Name 19990807-****" (masked) or with the whole number.
func person(name, pn string, whole bool) string {
	name = clean(name)
	num := ""
	if pn != "" {
		if whole {
			num = fullNumber(pn)
		} else {
			num = addressing.Mask(pn)
		}
	}
	switch {
	case name == "":
		return num
	case num == "":
		return name
	case whole:
		return name + " (" + num + ")"
	}
	return name + " " + num
}

// channel is "SMS to +46701234567" or "e-mail to a@b" in the text's language.
func (b *builder) channel() string {
	to := clean(b.l.Rcpt.To)
	switch b.l.Rcpt.Channel {
	case addressing.SMS:
		return fmt.Sprintf(b.t.smsTo, to)
	case addressing.Email:
		return fmt.Sprintf(b.t.emailTo, to)
	}
	return to
}

func (b *builder) subject() string {
	var who string
	switch b.ev.Kind {
	case vault.EventOpened, vault.EventDenied:
		who = person(b.ev.Name, b.ev.PersonalNumber, false)
	case vault.EventExpired, vault.EventRevoked:
		who = clean(b.l.Rcpt.To)
	default:
		who = b.channel()
	}
	s := b.t.subject[b.ev.Kind] + ": " + b.errand
	if who != "" {
		s += " — " + who
	}
	return s
}

// finalRecipient is the recipient's gateway address as the sender wrote
// it; when that is no plain ASCII address (go-smtp removed quotes around a
// space, say) the canonical form of the same address.
func (b *builder) finalRecipient() string {
	a := b.l.Rcpt.Address
	if !b.org.WholePersonalNumber {
		// The address names the people the sender allowed: masked like them.
		a = addressing.MaskPersonalNumbers(a)
	}
	ok := a != "" && strings.Count(a, "@") >= 1
	for i := 0; i < len(a) && ok; i++ {
		ok = a[i] > ' ' && a[i] < 0x7f && a[i] != '"' && a[i] != '\\' && a[i] != '(' && a[i] != ')' && a[i] != ';' && a[i] != ','
	}
	if ok {
		return a
	}
	domain := ""
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		domain = a[i+1:]
	}
	return ascii(b.l.Rcpt.LocalPart()+"@"+domain, 900)
}

// header writes one field, folded at spaces to lines of at most 78
// characters where the value allows.
func (b *builder) header(key, value string) {
	line := key + ":"
	col := len(line)
	for i, w := range strings.Split(value, " ") {
		if i > 0 && w == "" {
			continue
		}
		if col+1+len(w) > 78 && col > len(key)+1 {
			b.out.WriteString(line + "\r\n")
			line, col = "", 0
		}
		line += " " + w
		col += 1 + len(w)
	}
	b.out.WriteString(line + "\r\n")
}

// encode is an unstructured header value: RFC 2047 Q-encoded words when it
// is not ASCII.
func encode(s string) string {
	return mime.QEncoding.Encode("utf-8", s)
}

func (b *builder) top(contentType string) {
	from := mail.Address{Name: clean(b.org.Name), Address: "noreply@" + hostname(b.org)}
	if a, err := mail.ParseAddress(b.org.From); err == nil {
		from.Address = a.Address
		if a.Name != "" {
			from.Name = a.Name
		}
	}
	b.header("Date", b.ev.At.In(b.loc).Format(time.RFC1123Z))
	b.header("From", addressHeader(from))
	if owner := b.l.Owner(); owner != "" {
		b.header("To", "<"+owner+">")
	} else {
		b.header("To", "undisclosed-recipients:;")
	}
	b.header("Subject", encode(b.subject()))
	b.header("Message-ID", "<"+MessageID(b.org, b.l, b.ev)+">")
	if id := b.l.MessageID; id != "" {
		b.header("In-Reply-To", "<"+id+">")
		b.header("References", "<"+id+">")
	}
	b.header("Auto-Submitted", "auto-replied")
	b.header("X-Auto-Response-Suppress", "All")
	b.header("X-Sigill-Receipt", fmt.Sprintf("%s; message=%s; recipient=%d", b.ev.Kind, idSafe(b.l.ID), b.l.Recipient))
	b.header("Content-Language", b.t.lang)
	b.header("MIME-Version", "1.0")
	b.header("Content-Type", contentType)
}

func (b *builder) report(reportType string) {
	b.top(fmt.Sprintf("multipart/report; report-type=%s; boundary=%q", reportType, b.bound))
	b.out.WriteString("\r\n")
	b.out.WriteString("This is a receipt in MIME format (RFC 6522).\r\n") // ASCII: a preamble has no charset
}

func (b *builder) part(contentType string) {
	b.out.WriteString("\r\n--" + b.bound + "\r\n")
	b.header("Content-Type", contentType)
}

func (b *builder) textPart(text string) {
	b.header("Content-Transfer-Encoding", "quoted-printable")
	b.out.WriteString("\r\n")
	w := quotedprintable.NewWriter(&b.out)
	w.Write([]byte(text)) // a bytes.Buffer does not fail
	w.Close()
}

func (b *builder) fieldsPart(contentType string, blocks ...[][2]string) {
	b.part(contentType)
	b.out.WriteString("\r\n")
	for i, block := range blocks {
		if i > 0 {
			b.out.WriteString("\r\n")
		}
		for _, f := range block {
			b.header(f[0], f[1])
		}
	}
}

func (b *builder) end() {
	b.out.WriteString("\r\n--" + b.bound + "--\r\n")
}

// body is the readable text: the lead sentence, the facts, the signature.
func (b *builder) body(lead string, facts [][2]string, after ...string) string {
	var s strings.Builder
	s.WriteString(lead + "\n\n")
	for _, f := range facts {
		if f[1] != "" {
			s.WriteString(f[0] + ": " + f[1] + "\n")
		}
	}
	for _, a := range after {
		s.WriteString("\n" + a + "\n")
	}
	sig := b.signature
	if sig == "" {
		sig = b.t.signature
	}
	s.WriteString("\n-- \n" + fmt.Sprintf(sig, clean(b.org.Name)) + "\n")
	return s.String()
}

func (b *builder) facts(extra ...[2]string) [][2]string {
	f := [][2]string{
		{b.t.errand, b.errand},
		{b.t.recipient, b.channel()},
		{b.t.sent, b.when(b.l.Received)},
	}
	f = append(f, extra...)
	return append(f, [2]string{b.t.messageID, idSafe(b.l.ID)})
}

func (b *builder) mdn() {
	t := b.t
	who := person(b.ev.Name, b.ev.PersonalNumber, b.wholeNumber())
	if who == "" {
		who = t.someone
	}
	text := b.body(fmt.Sprintf(t.openedLead, who, b.when(b.ev.At)),
		b.facts([2]string{t.openedAt, b.when(b.ev.At)}, [2]string{t.openedBy, who}))
	b.report("disposition-notification")
	b.part("text/plain; charset=utf-8")
	b.textPart(text)
	fields := [][2]string{
		{"Reporting-UA", hostname(b.org) + "; sigill"},
		{"Final-Recipient", "rfc822; " + b.finalRecipient()},
	}
	if id := b.l.MessageID; id != "" {
		fields = append(fields, [2]string{"Original-Message-ID", "<" + id + ">"})
	}
	fields = append(fields, [2]string{"Disposition", "automatic-action/MDN-sent-automatically; displayed"})
	b.fieldsPart("message/disposition-notification", fields)
	b.end()
}

func (b *builder) dsn() {
	t := b.t
	var (
		lead, action, status string
		after                []string
		extra                [][2]string
	)
	detail := clean(b.ev.Detail)
	switch b.ev.Kind {
	case vault.EventDelivered:
		lead = fmt.Sprintf(t.deliveredLead, b.channel(), b.when(b.ev.At))
		action, status = "delivered", "2.0.0"
		extra = append(extra, [2]string{t.deliveredAt, b.when(b.ev.At)})
		after = append(after, t.deliveredAfter)
	case vault.EventFailed:
		lead = fmt.Sprintf(t.failedLead, b.channel())
		action, status = "failed", "5.0.0"
		extra = append(extra, [2]string{t.failedAt, b.when(b.ev.At)}, [2]string{t.reason, detail})
		after = append(after, t.failedAfter)
	case vault.EventExpired:
		lead = fmt.Sprintf(t.expiredLead, b.when(b.ev.At))
		action, status = "failed", "5.4.7"
		extra = append(extra, [2]string{t.expiredAt, b.when(b.ev.At)})
		after = append(after, t.expiredAfter)
	case vault.EventRevoked:
		lead = fmt.Sprintf(t.revokedLead, b.channel(), b.when(b.ev.At))
		action, status = "failed", "5.0.0"
		extra = append(extra, [2]string{t.revokedAt, b.when(b.ev.At)}, [2]string{t.revokedBy, b.withdrawer()}, [2]string{t.reason, detail})
		after = append(after, t.revokedAfter)
	}
	text := b.body(lead, b.facts(extra...), after...)
	b.report("delivery-status")
	b.part("text/plain; charset=utf-8")
	b.textPart(text)
	perMessage := [][2]string{
		{"Reporting-MTA", "dns; " + hostname(b.org)},
		{"Arrival-Date", b.l.Received.In(b.loc).Format(time.RFC1123Z)},
	}
	perRecipient := [][2]string{
		{"Final-Recipient", "rfc822; " + b.finalRecipient()},
		{"Action", action},
		{"Status", status},
	}
	if b.ev.Kind == vault.EventFailed && detail != "" {
		perRecipient = append(perRecipient, [2]string{"Diagnostic-Code", "X-Sigill; " + ascii(detail, 200)})
	}
	if b.ev.Kind == vault.EventRevoked {
		perRecipient = append(perRecipient, [2]string{"Diagnostic-Code", "X-Sigill; " + ascii(strings.TrimSuffix("withdrawn: "+detail, ": "), 200)})
	}
	perRecipient = append(perRecipient, [2]string{"Last-Attempt-Date", b.ev.At.In(b.loc).Format(time.RFC1123Z)})
	b.fieldsPart("message/delivery-status", perMessage, perRecipient)
	b.end()
}

// withdrawer names who withdrew a copy: the account, or the
// administrator (sigill message revoke).
func (b *builder) withdrawer() string {
	by := clean(b.ev.By)
	if by == "" || by == "admin" {
		return b.t.anAdmin
	}
	return by
}

func (b *builder) denied() {
	t := b.t
	whole := b.wholeNumber()
	who := person(b.ev.Name, b.ev.PersonalNumber, whole)
	if who == "" {
		who = t.someone
	}
	var after []string
	if pn := b.ev.PersonalNumber; whole && len(pn) == 12 && strings.Trim(pn, "0123456789") == "" {
		after = append(after, fmt.Sprintf(t.deniedAllow, pn))
	}
	text := b.body(fmt.Sprintf(t.deniedLead, who),
		b.facts([2]string{t.deniedAt, b.when(b.ev.At)}, [2]string{t.deniedWho, who}), after...)
	b.top("text/plain; charset=utf-8")
	b.textPart(text)
}
