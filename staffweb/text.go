package staffweb

import (
	"fmt"
	"net/http"
	"time"

	"sigill/internal/webpage"
)

// texts are the pages' words in one language, by key: a template writes
// {{.T.SignIn}}, Go code s.word(r, "SignIn"). A missing key fails the
// rendering (missingkey=error), and TestTextsComplete checks that both
// languages have every key.
type texts map[string]string

var (
	textsSV = texts{"Lang": "sv", "OtherLang": "en", "OtherLanguage": "English", "Language": "Språk"}
	textsEN = texts{"Lang": "en", "OtherLang": "sv", "OtherLanguage": "Svenska", "Language": "Language"}
)

// addTexts adds a file's words, Swedish and English; call it from init.
// A key given twice is a programming error.
func addTexts(sv, en map[string]string) {
	for _, add := range []struct {
		to   texts
		from map[string]string
	}{{textsSV, sv}, {textsEN, en}} {
		for k, v := range add.from {
			if _, dup := add.to[k]; dup {
				panic("staffweb: text " + k + " given twice")
			}
			add.to[k] = v
		}
	}
}

func init() {
	addTexts(map[string]string{
		"Title":          "Säkra meddelanden",
		"SkipToContent":  "Till innehållet",
		"MainNav":        "Huvudmeny",
		"NavSend":        "Skicka",
		"NavSent":        "Skickade",
		"NavAccount":     "Mitt konto",
		"NavAccounts":    "Konton",
		"SignedInAs":     "Inloggad som",
		"SignOut":        "Logga ut",
		"HomeTitle":      "Start",
		"HomeText":       "Välkommen. Välj i menyn vad du vill göra.",
		"NotFoundTitle":  "Sidan finns inte",
		"NotFoundText":   "Adressen leder ingenstans. Gå till startsidan.",
		"CrossSiteTitle": "Begäran stoppades",
		"CrossSiteText":  "Formuläret skickades från en annan webbplats och togs inte emot. Öppna sidan här och försök igen.",
		"ErrorTitle":     "Något gick fel",
		"ErrorText":      "Försök igen om en stund.",
		"ForbiddenTitle": "Inte tillåtet",
		"ForbiddenText":  "Sidan är bara för administratörer.",
		"ToStart":        "Till startsidan",
		"Never":          "aldrig",
	}, map[string]string{
		"Title":          "Secure messages",
		"SkipToContent":  "Skip to content",
		"MainNav":        "Main menu",
		"NavSend":        "Send",
		"NavSent":        "Sent",
		"NavAccount":     "My account",
		"NavAccounts":    "Accounts",
		"SignedInAs":     "Signed in as",
		"SignOut":        "Sign out",
		"HomeTitle":      "Start",
		"HomeText":       "Welcome. Choose what to do in the menu.",
		"NotFoundTitle":  "Page not found",
		"NotFoundText":   "This address leads nowhere. Go to the start page.",
		"CrossSiteTitle": "Request stopped",
		"CrossSiteText":  "The form was sent from another site and was not accepted. Open the page here and try again.",
		"ErrorTitle":     "Something went wrong",
		"ErrorText":      "Please try again in a moment.",
		"ForbiddenTitle": "Not allowed",
		"ForbiddenText":  "This page is for administrators only.",
		"ToStart":        "To the start page",
		"Never":          "never",
	})
}

// langCookie keeps the language the user picked; it is no secret.
const langCookie = "sigill-lang"

// textsFor is the words for r: ?lang= if given, else the language cookie,
// else def.
func textsFor(r *http.Request, def string) texts {
	lang := normLang(r.URL.Query().Get("lang"))
	if lang == "" {
		if c, err := r.Cookie(langCookie); err == nil {
			lang = normLang(c.Value)
		}
	}
	if lang == "" {
		lang = normLang(def)
	}
	if lang == "en" {
		return textsEN
	}
	return textsSV
}

var normLang = webpage.NormLang

// word is one text of r's language.
func (s *Server) word(r *http.Request, key string) string {
	return textsFor(r, s.opt.DefaultLang)[key]
}

// wordf is a text with its %s filled in.
func (s *Server) wordf(r *http.Request, key string, args ...any) string {
	return fmt.Sprintf(s.word(r, key), args...)
}

var months = map[string][12]string{
	"sv": {"januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober", "november", "december"},
	"en": {"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
}

// date writes a time in Swedish local time as people read it:
// "28 november 2026 kl. 09:14", "28 November 2026 at 09:14".
func (t texts) date(tm time.Time, loc *time.Location) string {
	if tm.IsZero() {
		return t["Never"]
	}
	tm = tm.In(loc)
	at := "kl."
	if t["Lang"] == "en" {
		at = "at"
	}
	return fmt.Sprintf("%d %s %d %s %s", tm.Day(), months[t["Lang"]][tm.Month()-1], tm.Year(), at, tm.Format("15:04"))
}
