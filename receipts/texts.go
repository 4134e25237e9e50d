package receipts

import "sigill/vault"

// texts are a receipt's words in one language. The text part is meant for a
// phone as much as for Outlook: a lead sentence that says it all, then short
// "label: value" lines, no columns to line up.
type texts struct {
	lang       string
	timeLayout string
	subject    map[vault.EventKind]string
	noErrand   string
	someone    string
	smsTo      string // %s: the phone number
	emailTo    string // %s: the address
	signature  string // %s: the organisation

	errand, recipient, sent, messageID string

	openedLead         string // %s who (name and whole number), %s when
	openedAt, openedBy string

	deliveredLead  string // %s channel, %s when
	deliveredAt    string
	deliveredAfter string

	failedLead  string // %s channel
	failedAt    string
	reason      string
	failedAfter string

	expiredLead  string // %s when
	expiredAt    string
	expiredAfter string

	revokedLead  string // %s channel, %s when
	revokedAt    string
	revokedBy    string
	anAdmin      string
	revokedAfter string

	deniedLead          string // %s who
	deniedAt, deniedWho string
	deniedAllow         string // %s the 12-digit number

	replyFrom            string // From's display name: %s who, %s the organisation
	replySubject         string
	replier              string // X-Sigill-Replier: %s who
	replyLead            string // %s who, %s when
	repliedAt, repliedBy string
	replyAbove           string // above what the person wrote
	replySignature       string // %s the organisation
	attachment           string // a file's name when the browser gave none
}

var english = texts{
	lang:       "en",
	timeLayout: "2006-01-02 15:04 MST",
	subject: map[vault.EventKind]string{
		vault.EventOpened:    "Opened",
		vault.EventDelivered: "Delivered",
		vault.EventFailed:    "Not delivered",
		vault.EventExpired:   "Expired",
		vault.EventDenied:    "Denied",
		vault.EventRevoked:   "Withdrawn",
	},
	noErrand:  "(no errand)",
	someone:   "Someone",
	smsTo:     "SMS to %s",
	emailTo:   "e-mail to %s",
	signature: "This receipt was sent automatically by the secure mail of %s. Replies are not read.",

	errand:    "Errand",
	recipient: "Recipient",
	sent:      "Sent",
	messageID: "Message id",

	openedLead: "%s opened your secure message at %s.",
	openedAt:   "Opened",
	openedBy:   "Opened by",

	deliveredLead:  "The notice of your secure message was delivered: %s, at %s.",
	deliveredAt:    "Delivered",
	deliveredAfter: "The recipient has not necessarily read the message yet. You get another receipt when it is opened.",

	failedLead:  "The notice of your secure message could not be delivered: %s.",
	failedAt:    "Given up",
	reason:      "Reason",
	failedAfter: "The recipient does not know that the message waits. Check the address and send the message again.",

	expiredLead:  "Your secure message has expired: its content was deleted at %s, when its retention time ended.",
	expiredAt:    "Deleted",
	expiredAfter: "The link no longer opens it. The receipts and the audit trail are kept.",

	revokedLead:  "Your secure message was withdrawn: %s, at %s.",
	revokedAt:    "Withdrawn",
	revokedBy:    "Withdrawn by",
	anAdmin:      "an administrator",
	revokedAfter: "The link no longer opens it, and no copy of the vault made from now on does. The receipts and the audit trail are kept.",

	deniedLead:  "%s signed in with BankID to open your secure message, but is not among those the address allows. Nothing was shown.",
	deniedAt:    "Tried",
	deniedWho:   "Tried by",
	deniedAllow: "If this person should read it, send the message again with login=%s in the address.",

	replyFrom:      "%s via %s",
	replySubject:   "Reply",
	replier:        "%s, identified with BankID",
	replyLead:      "%s answered your secure message at %s, identified with BankID.",
	repliedAt:      "Answered",
	repliedBy:      "Answered by",
	replyAbove:     "The answer, as written on the reader's page:",
	replySignature: "The answer came through the secure mail of %s. Its sender address takes no mail: to answer, send a new secure message.",
	attachment:     "attachment",
}

var swedish = texts{
	lang:       "sv",
	timeLayout: "2006-01-02 kl. 15.04 MST",
	subject: map[vault.EventKind]string{
		vault.EventOpened:    "Läst",
		vault.EventDelivered: "Levererat",
		vault.EventFailed:    "Kunde inte levereras",
		vault.EventExpired:   "Utgånget",
		vault.EventDenied:    "Nekad",
		vault.EventRevoked:   "Tillbakadraget",
	},
	noErrand:  "(inget ärende)",
	someone:   "Någon",
	smsTo:     "sms till %s",
	emailTo:   "e-post till %s",
	signature: "Kvittot skickades automatiskt av den säkra e-posten hos %s. Svar läses inte.",

	errand:    "Ärende",
	recipient: "Mottagare",
	sent:      "Skickat",
	messageID: "Meddelande-id",

	openedLead: "%s öppnade ditt säkra meddelande %s.",
	openedAt:   "Öppnat",
	openedBy:   "Öppnat av",

	deliveredLead:  "Aviseringen om ditt säkra meddelande har levererats: %s, %s.",
	deliveredAt:    "Levererat",
	deliveredAfter: "Mottagaren har inte nödvändigtvis läst meddelandet än. Du får ett nytt kvitto när det öppnas.",

	failedLead:  "Aviseringen om ditt säkra meddelande kunde inte levereras: %s.",
	failedAt:    "Avbrutet",
	reason:      "Orsak",
	failedAfter: "Mottagaren vet inte att meddelandet väntar. Kontrollera adressen och skicka meddelandet igen.",

	expiredLead:  "Ditt säkra meddelande har gått ut: innehållet raderades %s, när lagringstiden var slut.",
	expiredAt:    "Raderat",
	expiredAfter: "Länken öppnar det inte längre. Kvittona och loggen sparas.",

	revokedLead:  "Ditt säkra meddelande har dragits tillbaka: %s, %s.",
	revokedAt:    "Tillbakadraget",
	revokedBy:    "Tillbakadraget av",
	anAdmin:      "en administratör",
	revokedAfter: "Länken öppnar det inte längre, och det gör inte heller någon kopia av valvet som tas från och med nu. Kvittona och loggen sparas.",

	deniedLead:  "%s legitimerade sig med BankID för att öppna ditt säkra meddelande, men hör inte till dem som adressen tillåter. Inget visades.",
	deniedAt:    "Försök",
	deniedWho:   "Försökte",
	deniedAllow: "Om personen ska kunna läsa det: skicka meddelandet igen med login=%s i adressen.",

	replyFrom:      "%s via %s",
	replySubject:   "Svar",
	replier:        "%s, legitimerad med BankID",
	replyLead:      "%s svarade på ditt säkra meddelande %s, legitimerad med BankID.",
	repliedAt:      "Svarat",
	repliedBy:      "Svar från",
	replyAbove:     "Svaret, som det skrevs på läsarsidan:",
	replySignature: "Svaret kom genom den säkra e-posten hos %s. Avsändaradressen tar inte emot e-post: svara med ett nytt säkert meddelande.",
	attachment:     "bilaga",
}

// textsFor picks the sender's language: the organisation's, else Swedish.
func textsFor(orgLang string) *texts {
	if orgLang == "en" {
		return &english
	}
	return &swedish
}
