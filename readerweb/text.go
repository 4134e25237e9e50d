package readerweb

import (
	"fmt"
	"strings"
	"time"

	"sigill/internal/webpage"
)

// texts are the page's words in one language. BankID's own recommended
// messages (RFA texts) come from the bankid package.
type texts struct {
	Lang, OtherLang, OtherLanguage, Language string

	Title        string
	Errand       string // the label of the errand where it is no heading (a withdrawn link)
	From         string
	OnBehalfOf   string
	Unverified   string
	Organisation string
	Sent         string
	Until        string
	OpenHeading  string
	Intro        string
	ThisDevice   string
	OtherDevice  string
	Identify     string
	QRLabel      string
	QRHelp       string
	OpenApp      string
	Cancel       string
	InvalidTitle string
	InvalidText  string
	// A link the sender withdrew (vault.LinkRevoked).
	WithdrawnTitle string
	WithdrawnText  string
	DeniedTitle    string
	DeniedText     string
	RiskText       string
	ReplacedText   string
	SigningInText  string
	SignedInAs     string
	Logout         string
	Message        string
	Attachments    string
	ReturnTitle    string
	ReturnText     string
	BusyTitle      string
	BusyText       string
	ErrorTitle     string
	ErrorText      string
	ForbiddenText  string
	NotFoundTitle  string
	NotFoundText   string
	NoContent      string
	ImageBlocked   string // stands where the message showed an image from elsewhere

	// Replies from the page.
	ReplyHeading   string
	ReplyLabel     string
	ReplyFiles     string
	ReplyHelp      string // %s: the size limit
	ReplySend      string
	RepliesOff     string // under the message when the sender wrote reply=no
	RepliesOffText string // the 403 of a reply POST to such a message
	YourReplies    string
	ReplySentAt    string
	EmptyReply     string
	BadReplyForm   string // a body that is no form the page sends
	TooLargeTitle  string
	TooLargeText   string // %s: the size limit

	WinmailUnreadable string // under a winmail.dat that could not be unpacked
	Months            [12]string
	At                string
}

var textsSV = &texts{
	Lang: "sv", OtherLang: "en", OtherLanguage: "English", Language: "Språk",

	Title:          "Säkert meddelande",
	Errand:         "Ärende",
	From:           "Från",
	OnBehalfOf:     "På uppdrag av",
	Unverified:     "som avsändaren skrev det, inte kontrollerat",
	Organisation:   "Avsändare",
	Sent:           "Skickat",
	Until:          "Kan läsas till",
	OpenHeading:    "Öppna meddelandet",
	Intro:          "Legitimera dig med BankID för att läsa meddelandet. Bara den som meddelandet är till kan öppna det.",
	ThisDevice:     "BankID på den här enheten",
	OtherDevice:    "BankID på en annan enhet",
	Identify:       "Legitimera dig med BankID",
	QRLabel:        "QR-kod att skanna med BankID-appen",
	QRHelp:         "Öppna BankID-appen och välj Skanna QR-kod.",
	OpenApp:        "Öppna BankID-appen",
	Cancel:         "Avbryt",
	InvalidTitle:   "Länken går inte att öppna",
	InvalidText:    "Länken är fel, har gått ut eller har dragits tillbaka. Meddelanden sparas bara en begränsad tid. Kontakta avsändaren om du fortfarande behöver meddelandet.",
	WithdrawnTitle: "Meddelandet har dragits tillbaka",
	WithdrawnText:  "Avsändaren har dragit tillbaka meddelandet, så det går inte längre att öppna. Kontakta avsändaren om du har frågor.",
	DeniedTitle:    "Du kan inte öppna det här meddelandet",
	DeniedText:     "Meddelandet är inte till den som legitimerade sig. Inget av innehållet har visats. Försöket har noterats hos avsändaren.",
	RiskText:       "BankID bedömde legitimeringen som osäker, så meddelandet kan inte öppnas. Inget av innehållet har visats.",
	ReplacedText:   "Din BankID-inloggning avbröts: en ny inloggning för samma person startades, på den här länken eller en annan. Var det inte du, starta en ny inloggning här.",
	SigningInText:  "Mottagaren håller på att legitimera sig med BankID just nu. Vänta en stund och försök sedan igen.",
	SignedInAs:     "Legitimerad som",
	Logout:         "Logga ut",
	Message:        "Meddelande",
	Attachments:    "Bilagor",
	ReturnTitle:    "Gå tillbaka till webbläsaren",
	ReturnText:     "Fortsätt i webbläsaren och fliken där du startade BankID.",
	BusyTitle:      "För många försök",
	BusyText:       "Vänta en stund och försök sedan igen.",
	ErrorTitle:     "Något gick fel",
	ErrorText:      "Försök igen om en stund.",
	ForbiddenText:  "Legitimera dig med BankID på sidan för meddelandet först.",
	NotFoundTitle:  "Sidan finns inte",
	NotFoundText:   "Öppna länken du fick i SMS:et eller e-postmeddelandet.",
	NoContent:      "Meddelandet har ingen text.",
	ImageBlocked:   "Extern bild blockerad",

	ReplyHeading:   "Svara",
	ReplyLabel:     "Ditt svar",
	ReplyFiles:     "Bifoga filer",
	ReplyHelp:      "Svaret skickas till avsändaren som e-post, med ditt namn från BankID. Svar och filer får vara högst %s tillsammans.",
	ReplySend:      "Skicka svaret",
	RepliesOff:     "Avsändaren tar inte emot svar på det här meddelandet.",
	RepliesOffText: "Avsändaren har stängt av svar på det här meddelandet, så svaret skickades inte. Kontakta avsändaren på annat sätt.",
	YourReplies:    "Dina svar",
	ReplySentAt:    "Skickat",
	EmptyReply:     "Svaret är tomt. Skriv något eller bifoga en fil, och skicka igen.",
	BadReplyForm:   "Svaret gick inte att läsa, så det skickades inte. Skicka det igen från meddelandets sida.",
	TooLargeTitle:  "Svaret är för stort",
	TooLargeText:   "Svaret med sina filer är större än %s, det mesta som kan skickas. Skicka färre eller mindre filer, eller dela upp svaret. Inget har skickats.",

	WinmailUnreadable: "Outlook skickade bilagorna packade i den här filen (winmail.dat), och den gick inte att packa upp här. Outlook öppnar den, liksom program för TNEF-filer.",
	Months: [12]string{"januari", "februari", "mars", "april", "maj", "juni",
		"juli", "augusti", "september", "oktober", "november", "december"},
	At: "kl.",
}

var textsEN = &texts{
	Lang: "en", OtherLang: "sv", OtherLanguage: "Svenska", Language: "Language",

	Title:          "Secure message",
	Errand:         "Errand",
	From:           "From",
	OnBehalfOf:     "On behalf of",
	Unverified:     "as the sender wrote it, not verified",
	Organisation:   "Sender",
	Sent:           "Sent",
	Until:          "Readable until",
	OpenHeading:    "Open the message",
	Intro:          "Identify yourself with BankID to read the message. Only the person it is for can open it.",
	ThisDevice:     "BankID on this device",
	OtherDevice:    "BankID on another device",
	Identify:       "Identify yourself with BankID",
	QRLabel:        "QR code to scan with the BankID app",
	QRHelp:         "Open the BankID app and choose Scan QR code.",
	OpenApp:        "Open the BankID app",
	Cancel:         "Cancel",
	InvalidTitle:   "This link cannot be opened",
	InvalidText:    "The link is wrong, has expired or has been withdrawn. Messages are kept for a limited time only. Please contact the sender if you still need the message.",
	WithdrawnTitle: "The message has been withdrawn",
	WithdrawnText:  "The sender has withdrawn this message, so it can no longer be opened. Please contact the sender if you have questions.",
	DeniedTitle:    "You cannot open this message",
	DeniedText:     "The message is not for the person who identified. None of its content has been shown. The sender will see this attempt.",
	RiskText:       "BankID judged the identification unsafe, so the message cannot be opened. None of its content has been shown.",
	ReplacedText:   "Your BankID sign-in was cancelled: another sign-in for the same person started, on this link or another one. If that was not you, start a new sign-in here.",
	SigningInText:  "The recipient is identifying with BankID right now. Please wait a moment and try again.",
	SignedInAs:     "Identified as",
	Logout:         "Log out",
	Message:        "Message",
	Attachments:    "Attachments",
	ReturnTitle:    "Go back to your browser",
	ReturnText:     "Continue in the browser and tab where you started BankID.",
	BusyTitle:      "Too many attempts",
	BusyText:       "Please wait a moment and try again.",
	ErrorTitle:     "Something went wrong",
	ErrorText:      "Please try again in a moment.",
	ForbiddenText:  "Identify yourself with BankID on the message's page first.",
	NotFoundTitle:  "Page not found",
	NotFoundText:   "Open the link you received by text message or e-mail.",
	NoContent:      "The message has no text.",
	ImageBlocked:   "External image blocked",

	ReplyHeading:   "Reply",
	ReplyLabel:     "Your answer",
	ReplyFiles:     "Attach files",
	ReplyHelp:      "The answer goes to the sender by e-mail, with your name from BankID. The answer and its files may be at most %s together.",
	ReplySend:      "Send the answer",
	RepliesOff:     "The sender does not take answers to this message.",
	RepliesOffText: "The sender has turned answers off for this message, so yours was not sent. Please contact the sender another way.",
	YourReplies:    "Your answers",
	ReplySentAt:    "Sent",
	EmptyReply:     "The answer is empty. Write something or attach a file, and send it again.",
	BadReplyForm:   "The answer could not be read, so it was not sent. Please send it again from the message's page.",
	TooLargeTitle:  "The answer is too large",
	TooLargeText:   "The answer with its files is larger than %s, the most that can be sent. Send fewer or smaller files, or split the answer. Nothing was sent.",

	WinmailUnreadable: "Outlook sent the attachments packed in this file (winmail.dat), and it could not be unpacked here. Outlook opens it, as do programs for TNEF files.",
	Months: [12]string{"January", "February", "March", "April", "May", "June",
		"July", "August", "September", "October", "November", "December"},
	At: "at",
}

// textsFor returns the words for "sv" or "en" (anything else is def).
func textsFor(lang, def string) *texts {
	switch normLang(lang) {
	case "sv":
		return textsSV
	case "en":
		return textsEN
	}
	if normLang(def) == "en" {
		return textsEN
	}
	return textsSV
}

// normLang reduces a language tag to "sv", "en" or "".
var normLang = webpage.NormLang

// date writes a time as people read it: "28 november 2026 kl. 09:14".
func (t *texts) date(tm time.Time) string {
	return fmt.Sprintf("%d %s %d %s %s", tm.Day(), t.Months[tm.Month()-1], tm.Year(), t.At, tm.Format("15:04"))
}

// size writes a byte count: "840 B", "12 kB", "1,4 MB" (Swedish decimal
// comma) or "1.4 MB".
func (t *texts) size(n int) string {
	var s string
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		s = fmt.Sprintf("%.0f kB", float64(n)/1000)
	default:
		s = fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	if t.Lang == "sv" {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s
}
