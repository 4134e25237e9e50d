package staffweb

import (
	"errors"
	"html/template"
	"io"
	"net/http"
	"strings"

	"sigill/audit"
	"sigill/internal/authgate"
	"sigill/passkey"
	"sigill/staffauth"
	"sigill/vault"
)

// Passkeys (WebAuthn, through package passkey), when Options.Passkeys is
// set. Each ceremony is two requests: the page's script (static/passkey.js,
// a hashed static file, so the CSP stays 'self' only) asks a begin route
// for the options, gives them to navigator.credentials, and posts the
// authenticator's answer with the form, which then ends as every form
// does (303, or the page again with the fault named).
//
//	POST /login/passkey/begin          → {"ceremony": ID, "options": {"publicKey": ...}}
//	POST /login/passkey                ceremony, credential → 303 to /
//	POST /login/enrol/passkey/begin    staff.require_2fa's enrolment: a passkey instead of TOTP
//	POST /login/enrol/passkey          name, ceremony, credential → 303 to /
//	POST /account/passkeys/begin
//	POST /account/passkeys             name, ceremony, credential → 303 to /account
//	POST /account/passkeys/{id}/remove → 303 to /account
//
// A passkey is a whole sign-in (user verification required): from the
// sign-in page alone, or on the second-factor page after a password (then
// it signs in whoever's passkey it is, as it would alone). It makes a new
// session as the other ways in do, goes through the same gate (a refused
// answer costs a try like a wrong password), and opens no disabled
// account. It counts as the second factor: the password then leads to the
// second-factor page, and staff.require_2fa is met. The forms are hidden
// until the script shows them, so without script the pages are the
// password and code pages they were.
func (s *Server) passkeyRoutes(mux *http.ServeMux) {
	s.handle(mux, "POST /login/passkey/begin", http.HandlerFunc(s.passkeyLoginBegin))
	s.handle(mux, "POST /login/passkey", http.HandlerFunc(s.passkeyLogin))
	s.handle(mux, "POST /login/enrol/passkey/begin", s.atStage(StageEnrol, s.passkeyRegisterBegin))
	s.handle(mux, "POST /login/enrol/passkey", s.atStage(StageEnrol, s.passkeyEnrolFinish))
	s.handle(mux, "POST /account/passkeys/begin", s.SignedIn(s.passkeyRegisterBegin))
	s.handle(mux, "POST /account/passkeys", s.SignedIn(s.passkeyAdd))
	s.handle(mux, "POST /account/passkeys/{id}/remove", s.SignedIn(s.passkeyRemove))
}

func init() {
	addTexts(map[string]string{
		"Or":                 "eller",
		"PasskeySignIn":      "Logga in med passkey",
		"PasskeyFailed":      "Passkeyn användes inte: den avbröts, eller finns inte på den här enheten. Försök igen, eller logga in på annat sätt.",
		"PasskeyRefused":     "Passkeyn godtogs inte. Försök igen, eller logga in på annat sätt.",
		"PasskeyExpired":     "Det tog för lång tid, eller så användes försöket redan. Försök igen.",
		"SecondPasskeyOnly":  "Använd din passkey för att logga in.",
		"PasskeysText":       "En passkey loggar in dig utan lösenord och kod, med datorns eller telefonens upplåsning (PIN, fingeravtryck, ansikte) eller en säkerhetsnyckel. Den räknas som tvåstegsverifiering.",
		"NoPasskeys":         "Inga passkeys.",
		"PasskeyNeedsScript": "Webbläsaren behöver JavaScript och stöd för passkeys för att lägga till en.",
		"PasskeyName":        "Namn på passkeyn",
		"PasskeyNameHint":    "Till exempel Arbetsdatorn eller Säkerhetsnyckel.",
		"AddPasskey":         "Lägg till passkey",
		"PasskeyAdded":       "Passkeyn är tillagd. Du kan logga in med den.",
		"PasskeyRemoved":     "Passkeyn är borttagen.",
		"PasskeyBadName":     "Skriv ett namn på 1 till 100 tecken.",
		"PasskeyTooMany":     "Kontot har redan 20 passkeys. Ta bort en först.",
		"PasskeyNotAdded":    "Passkeyn kunde inte läggas till. Försök igen.",
		"PasskeyEnrol":       "Eller använd en passkey som tvåstegsverifiering: datorns eller telefonens upplåsning, eller en säkerhetsnyckel.",
		"PasskeyRemove":      "Ta bort",
	}, map[string]string{
		"Or":                 "or",
		"PasskeySignIn":      "Sign in with a passkey",
		"PasskeyFailed":      "The passkey was not used: it was cancelled, or there is none on this device. Try again, or sign in another way.",
		"PasskeyRefused":     "The passkey was not accepted. Try again, or sign in another way.",
		"PasskeyExpired":     "That took too long, or the try was already used. Try again.",
		"SecondPasskeyOnly":  "Use your passkey to sign in.",
		"PasskeysText":       "A passkey signs you in without password and code, with the computer's or phone's unlock (PIN, fingerprint, face) or a security key. It counts as two-step verification.",
		"NoPasskeys":         "No passkeys.",
		"PasskeyNeedsScript": "Adding a passkey needs JavaScript and a browser that supports passkeys.",
		"PasskeyName":        "Name of the passkey",
		"PasskeyNameHint":    "For instance Work computer or Security key.",
		"AddPasskey":         "Add a passkey",
		"PasskeyAdded":       "The passkey is added. You can sign in with it.",
		"PasskeyRemoved":     "The passkey is removed.",
		"PasskeyBadName":     "Write a name of 1 to 100 characters.",
		"PasskeyTooMany":     "The account already has 20 passkeys. Remove one first.",
		"PasskeyNotAdded":    "The passkey could not be added. Try again.",
		"PasskeyEnrol":       "Or use a passkey as two-step verification: the computer's or phone's unlock, or a security key.",
		"PasskeyRemove":      "Remove",
	})
}

// maxCeremonyForm bounds a ceremony's form: an authenticator's answer is
// a few kilobytes.
const maxCeremonyForm = 64 << 10

// hasPasskey tells whether address holds a passkey (a second factor). A
// store fault counts as yes, so that a fault never skips the second
// factor's page.
func (s *Server) hasPasskey(address string) bool {
	if s.opt.Passkeys == nil {
		return false
	}
	has, err := s.opt.Passkeys.Has(address)
	if err != nil {
		s.opt.Logger.Error("staffweb: passkeys", "err", err)
		return true
	}
	return has
}

// passkeyFormData is what the passkey forms' templates get.
type passkeyFormData struct {
	Script string // static/passkey.js by its hashed name
	Error  string
	Name   string
	Action string // the form's route; its begin route is Action+"/begin"
	List   []passkey.Passkey
}

// passkeySignIn is the sign-in and second-factor pages' "Sign in with a
// passkey", with errMsg above its button.
func (s *Server) passkeySignIn(r *http.Request, errMsg string) template.HTML {
	if s.opt.Passkeys == nil {
		return ""
	}
	return s.passkeyFragment(r, "passkey-signin", passkeyFormData{Error: errMsg, Action: "/login/passkey"})
}

// passkeyEnrol is the enrolment page's offer of a passkey instead of TOTP.
func (s *Server) passkeyEnrol(r *http.Request, errMsg, name string) template.HTML {
	if s.opt.Passkeys == nil {
		return ""
	}
	return s.passkeyFragment(r, "passkey-enrol", passkeyFormData{Error: errMsg, Name: name, Action: "/login/enrol/passkey"})
}

// passkeyAccount is the account page's section: the account's passkeys
// and the form that adds one.
func (s *Server) passkeyAccount(r *http.Request, sess *Session, errMsg, name string) (template.HTML, bool, error) {
	list, err := s.opt.Passkeys.List(r.Context(), sess.Account.Address)
	if err != nil {
		return "", false, err
	}
	d := passkeyFormData{Error: errMsg, Name: name, Action: "/account/passkeys", List: list}
	return s.passkeyFragment(r, "passkey-account", d), len(list) > 0, nil
}

func (s *Server) passkeyFragment(r *http.Request, name string, d passkeyFormData) template.HTML {
	d.Script = s.assets.URL("static/passkey.js")
	h, err := s.fragment(r, name, d)
	if err != nil {
		s.opt.Logger.Error("staffweb: passkeys", "err", err)
	}
	return h
}

// writeOptions answers a begin route: the ceremony's id and the options
// for navigator.credentials.
func (s *Server) writeOptions(w http.ResponseWriter, r *http.Request, options []byte, ceremony string, err error) {
	if err != nil {
		if errors.Is(err, passkey.ErrTooMany) {
			http.Error(w, s.word(r, "PasskeyTooMany"), http.StatusConflict)
			return
		}
		if errors.Is(err, passkey.ErrBusy) {
			http.Error(w, s.word(r, "Throttled"), http.StatusTooManyRequests)
			return
		}
		s.opt.Logger.Error("staffweb: passkey begin", "err", err)
		http.Error(w, s.word(r, "ErrorText"), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"ceremony":"`+ceremony+`","options":`) // the id is base64url
	w.Write(options)
	io.WriteString(w, "}")
}

// passkeyLoginBegin needs no sign-in, so it is throttled per client
// address: each begin spends one of the address's tries at s.begins, and
// gets none back.
func (s *Server) passkeyLoginBegin(w http.ResponseWriter, r *http.Request) {
	ip := clientIP(r)
	try := s.begins.Try(ip, "passkey begin from "+ip.String())
	if try == nil {
		authgate.CountThrottled("web") // the staff web's sign-ins, as staffauth counts them
		http.Error(w, s.word(r, "Throttled"), http.StatusTooManyRequests)
		return
	}
	try.Failed() // Delay 0: the try stays spent
	options, ceremony, err := s.opt.Passkeys.BeginLogin(r.Context())
	s.writeOptions(w, r, options, ceremony, err)
}

func (s *Server) passkeyRegisterBegin(w http.ResponseWriter, r *http.Request, sess *Session) {
	options, ceremony, err := s.opt.Passkeys.BeginRegistration(r.Context(), sess.Account.Address)
	s.writeOptions(w, r, options, ceremony, err)
}

// answerRequest is r with the authenticator's answer (the form's
// credential field, JSON) as its body, as go-webauthn reads it.
func answerRequest(r *http.Request) *http.Request {
	answer := r.PostFormValue("credential")
	a := r.Clone(r.Context())
	a.Body = io.NopCloser(strings.NewReader(answer))
	a.ContentLength = int64(len(answer))
	a.Header.Set("Content-Type", "application/json")
	return a
}

// passkeyLogin finishes a passkey sign-in: from the sign-in page, or as
// the second factor of the session's pending sign-in.
func (s *Server) passkeyLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxCeremonyForm)
	var pending *Session
	if sess, err := s.session(r); err == nil && sess.Stage == StageSecondFactor {
		pending = sess
	}
	named := ""
	if pending != nil {
		named = pending.Account.Address
	}
	acct, err := s.auth.Passkey(clientIP(r), named, func() (vault.Account, error) {
		return s.opt.Passkeys.FinishLogin(r.Context(), r.PostFormValue("ceremony"), answerRequest(r))
	})
	if err != nil {
		status, key := http.StatusUnauthorized, "PasskeyRefused"
		switch {
		case errors.Is(err, staffauth.ErrThrottled):
			status, key = http.StatusTooManyRequests, "Throttled"
		case errors.Is(err, vault.ErrAccountDisabled):
			status, key = http.StatusForbidden, "Disabled"
		case errors.Is(err, passkey.ErrNoCeremony):
			key = "PasskeyExpired"
		case !errors.Is(err, passkey.ErrRefused):
			s.fail(w, r, "passkey sign-in", err)
			return
		}
		s.opt.Logger.Info("staffweb: passkey sign-in refused", "ip", clientIP(r).String(), "reason", key, "err", err)
		if named != "" {
			s.record(r, named, audit.ActionSignInFailed, "", "passkey: "+key)
		} else {
			s.record(r, "unknown", audit.ActionSignInFailed, "", "passkey: "+key)
		}
		if pending != nil {
			s.render(w, r, pending, status, "login2fa", secondData{TOTP: pending.Account.SecondFactor != "", Passkeys: s.passkeySignIn(r, s.word(r, key))})
			return
		}
		s.render(w, r, nil, status, "login", loginData{Passkeys: s.passkeySignIn(r, s.word(r, key))})
		return
	}
	if _, err := s.startSession(w, r, acct, StageIn); err != nil {
		s.fail(w, r, "passkey sign-in", err)
		return
	}
	s.record(r, acct.Address, audit.ActionSignIn, "", "passkey")
	seeOther(w, r, "/")
}

// registerPasskey finishes adding a passkey to the session's account. On
// a fault it returns the message for the name field and the status.
func (s *Server) registerPasskey(r *http.Request, sess *Session) (msg string, status int, err error) {
	_, err = s.opt.Passkeys.FinishRegistration(r.Context(), sess.Account.Address, r.PostFormValue("ceremony"), r.PostFormValue("name"), answerRequest(r))
	switch {
	case err == nil:
		return "", 0, nil
	case errors.Is(err, passkey.ErrBadName):
		return s.word(r, "PasskeyBadName"), http.StatusUnprocessableEntity, nil
	case errors.Is(err, passkey.ErrTooMany):
		return s.word(r, "PasskeyTooMany"), http.StatusConflict, nil
	case errors.Is(err, passkey.ErrNoCeremony):
		return s.word(r, "PasskeyExpired"), http.StatusConflict, nil
	case errors.Is(err, passkey.ErrRefused):
		s.opt.Logger.Info("staffweb: passkey refused at registration", "err", err)
		return s.word(r, "PasskeyNotAdded"), http.StatusUnprocessableEntity, nil
	}
	return "", 0, err
}

func (s *Server) passkeyAdd(w http.ResponseWriter, r *http.Request, sess *Session) {
	r.Body = http.MaxBytesReader(w, r.Body, maxCeremonyForm)
	msg, status, err := s.registerPasskey(r, sess)
	switch {
	case err != nil:
		s.fail(w, r, "add passkey", err)
	case msg != "":
		name := strings.TrimSpace(r.PostFormValue("name"))
		s.renderAccount(w, r, sess, status, map[string]string{"passkey_name": msg}, map[string]string{"passkey_name": name})
	default:
		s.record(r, sess.Account.Address, audit.ActionSecondFactor, sess.Account.Address, "passkey added")
		s.notify(r, sess, "PasskeyAdded")
		seeOther(w, r, "/account")
	}
}

// passkeyEnrolFinish is staff.require_2fa's enrolment with a passkey: once
// it is added, the session is signed in.
func (s *Server) passkeyEnrolFinish(w http.ResponseWriter, r *http.Request, sess *Session) {
	r.Body = http.MaxBytesReader(w, r.Body, maxCeremonyForm)
	msg, status, err := s.registerPasskey(r, sess)
	switch {
	case err != nil:
		s.fail(w, r, "enrol passkey", err)
	case msg != "":
		name := strings.TrimSpace(r.PostFormValue("name"))
		s.render(w, r, sess, status, "enrol", enrolData{Forced: true, Start: "/login/enrol", Passkeys: s.passkeyEnrol(r, msg, name)})
	default:
		in, err := s.startSession(w, r, sess.Account, StageIn)
		if err != nil {
			s.fail(w, r, "enrol passkey", err)
			return
		}
		s.record(r, sess.Account.Address, audit.ActionSecondFactor, sess.Account.Address, "passkey added at enrolment")
		s.record(r, sess.Account.Address, audit.ActionSignIn, "", "passkey enrolment")
		s.notify(r, in, "PasskeyAdded")
		seeOther(w, r, "/")
	}
}

func (s *Server) passkeyRemove(w http.ResponseWriter, r *http.Request, sess *Session) {
	err := s.opt.Passkeys.Remove(r.Context(), sess.Account.Address, r.PathValue("id"))
	switch {
	case errors.Is(err, passkey.ErrNotFound):
		s.problem(w, r, http.StatusNotFound, "NotFoundTitle", "NotYours")
	case err != nil:
		s.fail(w, r, "remove passkey", err)
	default:
		s.record(r, sess.Account.Address, audit.ActionSecondFactor, sess.Account.Address, "passkey removed")
		s.notify(r, sess, "PasskeyRemoved")
		seeOther(w, r, "/account")
	}
}
