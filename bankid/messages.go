package bankid

import (
	"errors"
	"strings"
)

// RFA names one of BankID's recommended user messages ("RFA1" … "RFA23").
// BankID asks relying parties to show these texts, in these words, for the
// states and errors they belong to, so that people meet the same sentence in
// every service.
//
// The texts below are BankID's recommended user messages for RP API v6.0 in
// Swedish and English, as published on developers.bankid.com ("Recommended
// user messages"). That page could not be read from here; the words were
// taken from public integrations that transcribe it and agree with each
// other (Sweden Connect's bankid-saml-idp messages.json, ActiveLogin,
// BankID's own SampleCode for the hint texts it shows), preferring the
// latest wording where they differ.
type RFA string

// The recommended user messages this package uses.
const (
	RFA1   RFA = "RFA1"   // Start your BankID app.
	RFA2   RFA = "RFA2"   // The BankID app is not installed.
	RFA3   RFA = "RFA3"   // Action cancelled. Please try again.
	RFA4   RFA = "RFA4"   // Already started for this personal number.
	RFA5   RFA = "RFA5"   // Internal error. Please try again.
	RFA6   RFA = "RFA6"   // Action cancelled.
	RFA8   RFA = "RFA8"   // The BankID app is not responding.
	RFA9   RFA = "RFA9"   // Enter your security code.
	RFA13  RFA = "RFA13"  // Trying to start your BankID app.
	RFA15A RFA = "RFA15A" // Searching for BankID (computer).
	RFA15B RFA = "RFA15B" // Searching for BankID (mobile device).
	RFA16  RFA = "RFA16"  // Your BankID is blocked or too old.
	RFA17A RFA = "RFA17A" // The BankID app couldn't be found.
	RFA17B RFA = "RFA17B" // Failed to scan the QR code.
	RFA21  RFA = "RFA21"  // Identification or signing in progress.
	RFA22  RFA = "RFA22"  // Unknown error. Please try again.
	RFA23  RFA = "RFA23"  // Scan your ID document.
)

type rfaText struct{ sv, en string }

var rfaTexts = map[RFA]rfaText{
	RFA1: {"Starta BankID-appen.",
		"Start your BankID app."},
	RFA2: {"Du har inte BankID-appen installerad. Kontakta din bank.",
		"The BankID app is not installed. Please contact your bank."},
	RFA3: {"Åtgärden avbruten. Försök igen.",
		"Action cancelled. Please try again."},
	RFA4: {"En identifiering eller underskrift för det här personnumret är redan påbörjad. Försök igen.",
		"An identification or signing for this personal number is already started. Please try again."},
	RFA5: {"Internt tekniskt fel. Försök igen.",
		"Internal error. Please try again."},
	RFA6: {"Åtgärden avbruten.",
		"Action cancelled."},
	RFA8: {"BankID-appen svarar inte. Kontrollera att den är startad och att du har internetanslutning. Om du inte har något giltigt BankID kan du skaffa ett hos din bank. Försök sedan igen.",
		"The BankID app is not responding. Please check that it’s started and that you have internet access. If you don’t have a valid BankID you can get one from your bank. Try again."},
	RFA9: {"Skriv in din säkerhetskod i BankID-appen och välj Identifiera eller Skriv under.",
		"Enter your security code in the BankID app and select Identify or Sign."},
	RFA13: {"Försöker starta BankID-appen.",
		"Trying to start your BankID app."},
	RFA15A: {"Söker efter BankID, det kan ta en liten stund … Om det har gått några sekunder och inget BankID har hittats har du sannolikt inget BankID som går att använda för den aktuella identifieringen/underskriften i den här datorn. Om du har ett BankID-kort, sätt in det i kortläsaren. Om du inte har något BankID kan du skaffa ett hos din bank.",
		"Searching for BankID:s, it may take a little while … If a few seconds have passed and still no BankID has been found, you probably don’t have a BankID which can be used for this identification/signing on this computer. If you have a BankID card, please insert it into your card reader. If you don’t have a BankID you can get one from your bank."},
	RFA15B: {"Söker efter BankID, det kan ta en liten stund … Om det har gått några sekunder och inget BankID har hittats har du sannolikt inget BankID som går att använda för den aktuella identifieringen/underskriften i den här enheten. Om du inte har något BankID kan du skaffa ett hos din bank.",
		"Searching for BankID, it may take a little while … If a few seconds have passed and still no BankID has been found, you probably don’t have a BankID which can be used for this identification/signing on this device. If you don’t have a BankID you can get one from your bank."},
	RFA16: {"Det BankID du försöker använda är för gammalt eller spärrat. Använd ett annat BankID eller skaffa ett nytt hos din bank.",
		"The BankID you are trying to use is blocked or too old. Please use another BankID or get a new one from your bank."},
	RFA17A: {"BankID-appen verkar inte finnas i din dator eller mobil. Installera den och skaffa ett BankID hos din bank. Installera appen från din appbutik eller https://install.bankid.com.",
		"The BankID app couldn’t be found on your computer or mobile device. Please install it and get a BankID from your bank. Install the app from your app store or https://install.bankid.com."},
	RFA17B: {"Misslyckades att läsa av QR-koden. Starta BankID-appen och läs av QR-koden. Kontrollera att BankID-appen är uppdaterad. Om du inte har BankID-appen måste du installera den och skaffa ett BankID hos din bank. Installera appen från din appbutik eller https://install.bankid.com.",
		"Failed to scan the QR code. Start the BankID app and scan the QR code. Check that the BankID app is up to date. If you don’t have the BankID app, you need to install it and get a BankID from your bank. Install the app from your app store or https://install.bankid.com."},
	RFA21: {"Identifiering eller underskrift pågår.",
		"Identification or signing in progress."},
	RFA22: {"Okänt fel. Försök igen.",
		"Unknown error. Please try again."},
	RFA23: {"Fotografera och läs av din ID-handling med BankID-appen.",
		"Process your machine-readable travel document using the BankID app."},
}

// Text returns the message in Swedish when lang is "sv" (or "sv-SE" and
// the like) and in English otherwise, and "" for an unknown RFA.
func (r RFA) Text(lang string) string {
	t, ok := rfaTexts[r]
	if !ok {
		return ""
	}
	if isSwedish(lang) {
		return t.sv
	}
	return t.en
}

func isSwedish(lang string) bool {
	lang = strings.ToLower(lang)
	return lang == "sv" || strings.HasPrefix(lang, "sv-") || strings.HasPrefix(lang, "sv_")
}

// MessageCode is the recommended message for a collect answer, following
// BankID's table for v6.0; qr tells whether the order was started with the
// animated QR code (another device) rather than with autostart (this
// device). A complete order has no message ("").
//
//	pending  outstandingTransaction, noClient   RFA1 with QR, else RFA13
//	         started                            RFA15B (same device; with QR: RFA21)
//	         userSign                           RFA9
//	         userMrtd                           RFA23
//	         anything else                      RFA21
//	failed   expiredTransaction                 RFA8
//	         certificateErr                     RFA16
//	         userCancel                         RFA6
//	         cancelled                          RFA3
//	         startFailed                        RFA17B with QR, else RFA17A
//	         anything else                      RFA22
//
// BankID distinguishes RFA15A (computer) from RFA15B (mobile device) for
// started; sigill's links arrive by SMS and e-mail and are mostly opened on
// phones, and RFA15B's wording ("this device") is also true on a computer.
// started is only sent to an app started with the autostart token, so with
// QR it cannot be about this screen, and the generic RFA21 is shown.
func MessageCode(status, hintCode string, qr bool) RFA {
	switch Status(status) {
	case StatusComplete:
		return ""
	case StatusPending:
		switch HintCode(hintCode) {
		case HintOutstandingTransaction, HintNoClient:
			if qr {
				return RFA1
			}
			return RFA13
		case HintStarted:
			if qr {
				return RFA21
			}
			return RFA15B
		case HintUserSign:
			return RFA9
		case HintUserMrtd:
			return RFA23
		default:
			return RFA21
		}
	case StatusFailed:
		switch HintCode(hintCode) {
		case HintExpiredTransaction:
			return RFA8
		case HintCertificateErr:
			return RFA16
		case HintUserCancel:
			return RFA6
		case HintCancelled:
			return RFA3
		case HintStartFailed:
			if qr {
				return RFA17B
			}
			return RFA17A
		default:
			return RFA22
		}
	default:
		return RFA22
	}
}

// Message is the recommended text for a collect answer in lang ("sv" or
// "en"); see MessageCode for which text belongs to which state.
func Message(status, hintCode, lang string, qr bool) string {
	return MessageCode(status, hintCode, qr).Text(lang)
}

// ErrorMessageCode is the recommended message for an error from Auth,
// Collect or Cancel:
//
//	alreadyInProgress                                 RFA4
//	requestTimeout, internalError, maintenance,
//	tooManyRequests, and network faults               RFA5
//	anything else (errors in the RP's own request,
//	which BankID says not to show as BankID errors,
//	and codes this package does not know)            RFA22
func ErrorMessageCode(err error) RFA {
	var apiErr *APIError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrAlreadyInProgress):
		return RFA4
	case errors.Is(err, ErrRequestTimeout), errors.Is(err, ErrInternalError),
		errors.Is(err, ErrMaintenance), errors.Is(err, ErrTooManyRequests):
		return RFA5
	case errors.As(err, &apiErr):
		return RFA22
	default:
		// No answer at all: a timeout, a refused connection, a TLS failure.
		return RFA5
	}
}

// ErrorMessage is ErrorMessageCode's text in lang.
func ErrorMessage(err error, lang string) string {
	return ErrorMessageCode(err).Text(lang)
}
