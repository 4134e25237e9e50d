package staffweb

import (
	"errors"
	"html/template"
	"net/http"
	"strings"

	"sigill/audit"
	"sigill/bankid"
	"sigill/staffauth"
	"sigill/vault"
)

// Sign-in (staff-web.md's form contract):
//
//	GET  /login               the password form
//	POST /login               username, password → 303 to /, /login/2fa or /login/enrol
//	GET  /login/2fa           the second factor's form
//	POST /login/2fa           code (6 digits) or recovery_code → 303 to /
//	GET  /login/enrol         staff.require_2fa: TOTP must be enrolled first
//	POST /login/enrol         start it: the QR code and the secret
//	POST /login/enrol/confirm code → the recovery codes, signed in
//	POST /logout              → 303 to /login
func (s *Server) signInRoutes(mux *http.ServeMux) {
	s.handle(mux, "GET /login", http.HandlerFunc(s.loginForm))
	s.handle(mux, "POST /login", http.HandlerFunc(s.login))
	s.handle(mux, "GET /login/2fa", s.atStage(StageSecondFactor, s.secondFactorForm))
	s.handle(mux, "POST /login/2fa", s.atStage(StageSecondFactor, s.secondFactor))
	s.handle(mux, "GET /login/enrol", s.atStage(StageEnrol, s.enrolIntro))
	s.handle(mux, "POST /login/enrol", s.atStage(StageEnrol, s.enrolStart))
	s.handle(mux, "POST /login/enrol/confirm", s.atStage(StageEnrol, s.enrolConfirm))
	s.handle(mux, "POST /logout", http.HandlerFunc(s.logout))
}

func init() {
	addTexts(map[string]string{
		"SignInTitle":  "Logga in",
		"Username":     "E-postadress",
		"Password":     "Lösenord",
		"SignIn":       "Logga in",
		"BadLogin":     "Fel e-postadress eller lösenord.",
		"Disabled":     "Kontot är avstängt. Kontakta en administratör.",
		"Throttled":    "För många försök. Vänta några minuter och försök igen.",
		"SessionEnded": "Du är utloggad. Logga in igen.",
		"SecondTitle":  "Tvåstegsverifiering",
		"SecondIntro":  "Skriv koden från din autentiseringsapp.",
		"Code":         "Kod (6 siffror)",
		"Verify":       "Verifiera",
		"BadCode":      "Koden stämmer inte, eller är redan använd. Vänta på nästa kod och försök igen.",
		"UseRecovery":  "Har du inte telefonen? Använd en återställningskod",
		"RecoveryCode": "Återställningskod",
		"RecoveryHint": "Tio tecken, till exempel ABCDE-FGHIJ. Varje kod fungerar en gång.",
		"BadRecovery":  "Återställningskoden stämmer inte, eller är redan använd.",
		"RecoveryUsed": "Du loggade in med en återställningskod, som nu är förbrukad. Skapa nya koder under Mitt konto om du har få kvar.",
		"EnrolTitle":   "Lägg till tvåstegsverifiering",
		"EnrolForced":  "Den här tjänsten kräver tvåstegsverifiering. Lägg till en autentiseringsapp (till exempel Microsoft Authenticator, Google Authenticator eller FreeOTP) innan du fortsätter.",
		"EnrolStart":   "Visa QR-kod",
		"EnrolScan":    "Skanna QR-koden med autentiseringsappen, eller skriv in nyckeln nedan. Skriv sedan koden som appen visar.",
		"QRLabel":      "QR-kod med nyckeln till autentiseringsappen",
		"SecretKey":    "Nyckel att skriva in för hand",
		"Confirm":      "Bekräfta",
		"EnrolRestart": "Börja om med en ny QR-kod",
		"EnrolGone":    "Registreringen hann avbrytas. Börja om med en ny QR-kod.",
		"CodesTitle":   "Dina återställningskoder",
		"CodesText":    "Spara koderna på ett säkert ställe, till exempel utskrivna eller i en lösenordshanterare. De visas bara nu. Varje kod fungerar en gång, om du inte har telefonen.",
		"EnrolDone":    "Tvåstegsverifiering är påslagen.",
		"Continue":     "Fortsätt",
	}, map[string]string{
		"SignInTitle":  "Sign in",
		"Username":     "E-mail address",
		"Password":     "Password",
		"SignIn":       "Sign in",
		"BadLogin":     "Wrong e-mail address or password.",
		"Disabled":     "The account is disabled. Contact an administrator.",
		"Throttled":    "Too many tries. Wait a few minutes and try again.",
		"SessionEnded": "You are signed out. Sign in again.",
		"SecondTitle":  "Two-step verification",
		"SecondIntro":  "Enter the code from your authenticator app.",
		"Code":         "Code (6 digits)",
		"Verify":       "Verify",
		"BadCode":      "The code is wrong, or already used. Wait for the next code and try again.",
		"UseRecovery":  "No phone at hand? Use a recovery code",
		"RecoveryCode": "Recovery code",
		"RecoveryHint": "Ten characters, such as ABCDE-FGHIJ. Each code works once.",
		"BadRecovery":  "The recovery code is wrong, or already used.",
		"RecoveryUsed": "You signed in with a recovery code, which is now used up. Make new codes under My account if you have few left.",
		"EnrolTitle":   "Set up two-step verification",
		"EnrolForced":  "This service requires two-step verification. Add an authenticator app (such as Microsoft Authenticator, Google Authenticator or FreeOTP) before you go on.",
		"EnrolStart":   "Show QR code",
		"EnrolScan":    "Scan the QR code with the authenticator app, or type in the key below. Then enter the code the app shows.",
		"QRLabel":      "QR code with the key for the authenticator app",
		"SecretKey":    "Key to type in by hand",
		"Confirm":      "Confirm",
		"EnrolRestart": "Start over with a new QR code",
		"EnrolGone":    "The set-up was cancelled meanwhile. Start over with a new QR code.",
		"CodesTitle":   "Your recovery codes",
		"CodesText":    "Keep the codes somewhere safe, printed or in a password manager. They are shown only now. Each code works once, when you do not have your phone.",
		"EnrolDone":    "Two-step verification is on.",
		"Continue":     "Continue",
	})
}

// loginData is the sign-in page's.
type loginData struct {
	Username string
	Error    string
	Passkeys template.HTML // PASSKEYS: "Sign in with a passkey"
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	if sess, err := s.session(r); err == nil && sess.Stage == StageIn {
		seeOther(w, r, "/")
		return
	}
	s.render(w, r, nil, http.StatusOK, "login", loginData{Passkeys: s.passkeySignIn(r, "")})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	username := strings.TrimSpace(r.PostFormValue("username"))
	acct, err := s.auth.Password(clientIP(r), username, r.PostFormValue("password"))
	if err != nil {
		status, key := http.StatusUnauthorized, "BadLogin"
		switch {
		case errors.Is(err, staffauth.ErrThrottled):
			status, key = http.StatusTooManyRequests, "Throttled"
		case errors.Is(err, vault.ErrAccountDisabled):
			status, key = http.StatusForbidden, "Disabled"
		case !errors.Is(err, vault.ErrBadCredentials):
			s.fail(w, r, "sign-in", err)
			return
		}
		s.opt.Logger.Info("staffweb: sign-in refused", "login", s.opt.Vault.LoggableLogin(username), "ip", clientIP(r).String(), "reason", key)
		s.record(r, s.opt.Vault.LoggableLogin(username), audit.ActionSignInFailed, "", "password: "+key)
		s.render(w, r, nil, status, "login", loginData{Username: username, Error: s.word(r, key), Passkeys: s.passkeySignIn(r, "")})
		return
	}
	stage, next := StageIn, "/"
	switch {
	case s.hasSecondFactor(acct):
		stage, next = StageSecondFactor, "/login/2fa"
	case s.opt.Require2FA:
		stage, next = StageEnrol, "/login/enrol"
	}
	if _, err := s.startSession(w, r, acct, stage); err != nil {
		s.fail(w, r, "sign-in", err)
		return
	}
	if stage == StageIn {
		s.record(r, acct.Address, audit.ActionSignIn, "", "password")
	}
	seeOther(w, r, next)
}

// hasSecondFactor: the account's password alone does not sign it in.
func (s *Server) hasSecondFactor(acct vault.Account) bool {
	return acct.SecondFactor != "" || s.hasPasskey(acct.Address)
}

// secondData is the second-factor page's.
type secondData struct {
	Error, RecoveryError string
	TOTP                 bool          // the account has TOTP (else only a passkey)
	Passkeys             template.HTML // PASSKEYS: a passkey as the second factor
}

func (s *Server) secondFactorForm(w http.ResponseWriter, r *http.Request, sess *Session) {
	s.render(w, r, sess, http.StatusOK, "login2fa", secondData{TOTP: sess.Account.SecondFactor != "", Passkeys: s.passkeySignIn(r, "")})
}

func (s *Server) secondFactor(w http.ResponseWriter, r *http.Request, sess *Session) {
	code, recovery := totpCode(r.PostFormValue("code")), strings.TrimSpace(r.PostFormValue("recovery_code"))
	given := code
	if given == "" {
		given = recovery
	}
	err := s.auth.SecondFactor(clientIP(r), sess.Account.Address, given)
	if err != nil {
		d := secondData{TOTP: sess.Account.SecondFactor != "", Passkeys: s.passkeySignIn(r, "")}
		status, msg := http.StatusUnauthorized, "BadCode"
		if code == "" {
			msg = "BadRecovery"
		}
		switch {
		case errors.Is(err, staffauth.ErrThrottled):
			status, msg = http.StatusTooManyRequests, "Throttled"
		case errors.Is(err, vault.ErrAccountDisabled):
			s.endSession(w, r)
			seeOther(w, r, "/login")
			return
		case !errors.Is(err, vault.ErrBadCredentials):
			s.fail(w, r, "second factor", err)
			return
		}
		if code == "" {
			d.RecoveryError = s.word(r, msg)
		} else {
			d.Error = s.word(r, msg)
		}
		s.record(r, sess.Account.Address, audit.ActionSignInFailed, "", "second factor: "+msg)
		s.render(w, r, sess, status, "login2fa", d)
		return
	}
	in, err := s.startSession(w, r, sess.Account, StageIn)
	if err != nil {
		s.fail(w, r, "second factor", err)
		return
	}
	how := "password and TOTP"
	if code == "" {
		how = "password and a recovery code"
		s.notify(r, in, "RecoveryUsed")
	}
	s.record(r, sess.Account.Address, audit.ActionSignIn, "", how)
	seeOther(w, r, "/")
}

// enrolData is the TOTP enrolment page's, at sign-in and on the account
// page.
type enrolData struct {
	Forced      bool   // at sign-in, staff.require_2fa
	Start       string // the form that (re)starts the enrolment
	Confirm     string // the form that takes the code; "" before the start
	QR          template.HTML
	Secret, URI string
	Error       string
	Restart     bool          // the QR code is not shown again: offer to start over
	Passkeys    template.HTML // PASSKEYS: at sign-in, a passkey instead of TOTP
}

func (s *Server) enrolIntro(w http.ResponseWriter, r *http.Request, sess *Session) {
	s.render(w, r, sess, http.StatusOK, "enrol", enrolData{Forced: true, Start: "/login/enrol", Passkeys: s.passkeyEnrol(r, "", "")})
}

func (s *Server) enrolStart(w http.ResponseWriter, r *http.Request, sess *Session) {
	s.startEnrolment(w, r, sess, enrolData{Forced: true, Start: "/login/enrol", Confirm: "/login/enrol/confirm"})
}

// startEnrolment begins a TOTP enrolment (vault.EnrollTOTP, as `sigill
// user 2fa ADDRESS enroll` does) and shows its QR code and secret, once.
func (s *Server) startEnrolment(w http.ResponseWriter, r *http.Request, sess *Session, d enrolData) {
	e, err := s.opt.Vault.EnrollTOTP(sess.Account.Address)
	if err != nil {
		s.fail(w, r, "enrol TOTP", err)
		return
	}
	svg, err := bankid.QRSVG(e.URI)
	if err != nil {
		s.fail(w, r, "enrol TOTP", err)
		return
	}
	d.QR = template.HTML(svg) // our own drawing: a rect and a path of numbers
	d.Secret, d.URI = groupSecret(e.Secret), e.URI
	s.render(w, r, sess, http.StatusOK, "enrol", d)
}

// groupSecret writes a base32 secret in groups of four, as people copy it.
func groupSecret(secret string) string {
	var b strings.Builder
	for i, c := range secret {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (s *Server) enrolConfirm(w http.ResponseWriter, r *http.Request, sess *Session) {
	codes, ok := s.confirmEnrolment(w, r, sess, enrolData{Forced: true, Start: "/login/enrol", Confirm: "/login/enrol/confirm"})
	if !ok {
		return
	}
	in, err := s.startSession(w, r, sess.Account, StageIn)
	if err != nil {
		s.fail(w, r, "enrol TOTP", err)
		return
	}
	s.showRecoveryCodes(w, r, in, codes, "EnrolDone")
}

// confirmEnrolment takes the code that makes a pending enrolment active
// (vault.ConfirmTOTP, through the gate). On a fault it answers the
// request itself and returns false.
func (s *Server) confirmEnrolment(w http.ResponseWriter, r *http.Request, sess *Session, d enrolData) ([]string, bool) {
	codes, err := s.auth.ConfirmTOTP(clientIP(r), sess.Account.Address, totpCode(r.PostFormValue("code")))
	if err == nil {
		s.record(r, sess.Account.Address, audit.ActionSecondFactor, sess.Account.Address, "TOTP confirmed")
		return codes, true
	}
	status := http.StatusUnauthorized
	switch {
	case errors.Is(err, staffauth.ErrThrottled):
		status, d.Error = http.StatusTooManyRequests, s.word(r, "Throttled")
	case errors.Is(err, vault.ErrBadCredentials):
		d.Error = s.word(r, "BadCode")
	case errors.Is(err, vault.ErrNoSecondFactor):
		status, d.Error, d.Confirm = http.StatusConflict, s.word(r, "EnrolGone"), ""
	default:
		s.fail(w, r, "confirm TOTP", err)
		return nil, false
	}
	d.Restart = true
	s.render(w, r, sess, status, "enrol", d)
	return nil, false
}

// secretData is the page that shows something once: recovery codes, an
// app password, an API key.
type secretData struct {
	Heading, Text string
	Notice        string
	Secret        string
	Codes         []string
	Next          string // where Continue leads
}

// showRecoveryCodes shows new recovery codes, once.
func (s *Server) showRecoveryCodes(w http.ResponseWriter, r *http.Request, sess *Session, codes []string, notice string) {
	d := secretData{Heading: s.word(r, "CodesTitle"), Text: s.word(r, "CodesText"), Codes: codes, Next: "/"}
	if notice != "" {
		d.Notice = s.word(r, notice)
	}
	if sess.Stage == StageIn && r.URL.Path != "/login/enrol/confirm" {
		d.Next = "/account"
	}
	s.render(w, r, sess, http.StatusOK, "secret", d)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if err := s.endSession(w, r); err != nil {
		s.fail(w, r, "sign-out", err)
		return
	}
	seeOther(w, r, "/login")
}

// totpCode is a typed code without the spaces people copy from apps that
// show "123 456".
func totpCode(typed string) string { return strings.Join(strings.Fields(typed), "") }
