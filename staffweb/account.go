package staffweb

import (
	"errors"
	"html/template"
	"net/http"
	"slices"
	"strings"

	"sigill/apikey"
	"sigill/audit"
	"sigill/staffauth"
	"sigill/vault"
)

// The account page: the user's own password, second factor, recovery
// codes, app passwords and API keys, each form one operation of `sigill
// user` or `sigill apikey`.
//
//	GET  /account
//	POST /account/password                 current_password, new_password, new_password2
//	POST /account/totp                     start TOTP: the QR code and the secret
//	POST /account/totp/confirm             code → the recovery codes
//	POST /account/totp/reset               current_password: TOTP and recovery codes removed
//	POST /account/recovery-codes           ten new ones, shown once
//	POST /account/app-passwords            name → the app password, shown once
//	POST /account/app-passwords/{id}/revoke
//	POST /account/api-keys                 name, scope (repeated) → the key, shown once
//	POST /account/api-keys/{id}/revoke
func (s *Server) accountRoutes(mux *http.ServeMux) {
	s.handle(mux, "GET /account", s.SignedIn(s.account))
	s.handle(mux, "POST /account/password", s.SignedIn(s.changePassword))
	s.handle(mux, "POST /account/totp", s.SignedIn(s.accountEnrol))
	s.handle(mux, "POST /account/totp/confirm", s.SignedIn(s.accountEnrolConfirm))
	s.handle(mux, "POST /account/totp/reset", s.SignedIn(s.resetOwnSecondFactor))
	s.handle(mux, "POST /account/recovery-codes", s.SignedIn(s.newRecoveryCodes))
	s.handle(mux, "POST /account/app-passwords", s.SignedIn(s.createAppPassword))
	s.handle(mux, "POST /account/app-passwords/{id}/revoke", s.SignedIn(s.revokeAppPassword))
	s.handle(mux, "POST /account/api-keys", s.SignedIn(s.createAPIKey))
	s.handle(mux, "POST /account/api-keys/{id}/revoke", s.SignedIn(s.revokeAPIKey))
}

func init() {
	addTexts(map[string]string{
		"AccountTitle":        "Mitt konto",
		"PasswordHeading":     "Lösenord",
		"CurrentPassword":     "Nuvarande lösenord",
		"NewPassword":         "Nytt lösenord",
		"NewPasswordHint":     "Välj ett långt, till exempel fyra slumpade ord.",
		"NewPassword2":        "Nytt lösenord igen",
		"ChangePassword":      "Byt lösenord",
		"PasswordChanged":     "Lösenordet är bytt. Du är utloggad överallt utom här.",
		"PasswordsDiffer":     "Lösenorden är inte lika.",
		"PasswordWeak":        "Lösenordet duger inte: %s.",
		"WrongPassword":       "Lösenordet stämmer inte.",
		"TwoStepHeading":      "Tvåstegsverifiering",
		"TwoStepOn":           "På: autentiseringsapp (TOTP).",
		"TwoStepOff":          "Av. Med tvåstegsverifiering räcker inte lösenordet för att logga in.",
		"TwoStepPending":      "Påbörjad men inte bekräftad.",
		"TwoStepPasskey":      "På: passkey (se nedan). Du kan lägga till en autentiseringsapp också.",
		"TwoStepRequired":     "Tjänsten kräver tvåstegsverifiering.",
		"SetUpTOTP":           "Lägg till autentiseringsapp",
		"RecoveryLeft":        "Oanvända återställningskoder: %d av 10.",
		"NewCodes":            "Skapa nya återställningskoder",
		"NewCodesHint":        "De gamla koderna slutar fungera.",
		"ResetTOTP":           "Ta bort autentiseringsappen",
		"ResetTOTPHint":       "Skriv ditt lösenord för att ta bort appen och återställningskoderna.",
		"TOTPReset":           "Autentiseringsappen och återställningskoderna är borttagna.",
		"TOTPExists":          "Tvåstegsverifiering är redan på.",
		"PasskeysHeading":     "Passkeys",
		"AppPasswordsHeading": "Applösenord",
		"AppPasswordsText":    "E-postprogram (Outlook, Thunderbird) loggar in med ett eget lösenord per enhet när kontot har tvåstegsverifiering. Ta bort det när enheten inte används längre.",
		"AppPasswordName":     "Namn på enheten",
		"AppPasswordNameHint": "Till exempel Outlook på arbetsdatorn.",
		"CreateAppPassword":   "Skapa applösenord",
		"AppPasswordMade":     "Applösenord för %s",
		"AppPasswordText":     "Skriv in det som lösenord i e-postprogrammet. Det visas bara nu.",
		"AppPasswordRevoked":  "Applösenordet är borttaget; enheten kan inte logga in med det längre.",
		"AppPasswordBadName":  "Skriv ett namn på 1 till 100 tecken som ingen annan av dina applösenord har.",
		"NoAppPasswords":      "Inga applösenord.",
		"APIKeysHeading":      "API-nycklar",
		"APIKeysText":         "Ett annat system (journal, labb, bokning) skickar genom REST-API:t med en nyckel. Nyckeln skickar i ditt namn.",
		"APIKeyName":          "Namn på nyckeln",
		"APIKeyNameHint":      "Till exempel systemets namn.",
		"Scopes":              "Behörigheter",
		"CreateAPIKey":        "Skapa API-nyckel",
		"APIKeyMade":          "API-nyckel %s",
		"APIKeyText":          "Ge den till systemet som ska skicka. Den visas bara nu; bara ett kontrollvärde sparas.",
		"APIKeyRevoked":       "API-nyckeln är återkallad.",
		"APIKeyBadName":       "Skriv ett namn på högst 100 tecken.",
		"APIKeyBadScope":      "Välj behörigheter i listan.",
		"NoAPIKeys":           "Inga API-nycklar.",
		"Name":                "Namn",
		"Created":             "Skapad",
		"LastUsed":            "Senast använd",
		"Revoke":              "Ta bort",
		"RevokeKey":           "Återkalla",
		"RevokedOn":           "återkallad %s",
		"NotYours":            "Det finns inget sådant här på ditt konto.",
		"Actions":             "Åtgärd",
	}, map[string]string{
		"AccountTitle":        "My account",
		"PasswordHeading":     "Password",
		"CurrentPassword":     "Current password",
		"NewPassword":         "New password",
		"NewPasswordHint":     "Choose a long one, such as four random words.",
		"NewPassword2":        "New password again",
		"ChangePassword":      "Change password",
		"PasswordChanged":     "The password is changed. You are signed out everywhere but here.",
		"PasswordsDiffer":     "The passwords are not the same.",
		"PasswordWeak":        "The password will not do: %s.",
		"WrongPassword":       "The password is wrong.",
		"TwoStepHeading":      "Two-step verification",
		"TwoStepOn":           "On: authenticator app (TOTP).",
		"TwoStepOff":          "Off. With two-step verification the password alone does not sign in.",
		"TwoStepPending":      "Started but not confirmed.",
		"TwoStepPasskey":      "On: passkey (see below). You may add an authenticator app too.",
		"TwoStepRequired":     "This service requires two-step verification.",
		"SetUpTOTP":           "Add an authenticator app",
		"RecoveryLeft":        "Unused recovery codes: %d of 10.",
		"NewCodes":            "Make new recovery codes",
		"NewCodesHint":        "The old codes stop working.",
		"ResetTOTP":           "Remove the authenticator app",
		"ResetTOTPHint":       "Enter your password to remove the app and the recovery codes.",
		"TOTPReset":           "The authenticator app and the recovery codes are removed.",
		"TOTPExists":          "Two-step verification is already on.",
		"PasskeysHeading":     "Passkeys",
		"AppPasswordsHeading": "App passwords",
		"AppPasswordsText":    "Mail programs (Outlook, Thunderbird) sign in with a password of their own per device when the account has two-step verification. Remove it when the device is no longer used.",
		"AppPasswordName":     "Name of the device",
		"AppPasswordNameHint": "For instance Outlook on the work computer.",
		"CreateAppPassword":   "Create app password",
		"AppPasswordMade":     "App password for %s",
		"AppPasswordText":     "Enter it as the password in the mail program. It is shown only now.",
		"AppPasswordRevoked":  "The app password is removed; the device can no longer sign in with it.",
		"AppPasswordBadName":  "Write a name of 1 to 100 characters that none of your other app passwords has.",
		"NoAppPasswords":      "No app passwords.",
		"APIKeysHeading":      "API keys",
		"APIKeysText":         "Another system (records, lab, booking) sends through the REST API with a key. The key sends in your name.",
		"APIKeyName":          "Name of the key",
		"APIKeyNameHint":      "For instance the system's name.",
		"Scopes":              "Permissions",
		"CreateAPIKey":        "Create API key",
		"APIKeyMade":          "API key %s",
		"APIKeyText":          "Give it to the system that will send. It is shown only now; only a check value is kept.",
		"APIKeyRevoked":       "The API key is revoked.",
		"APIKeyBadName":       "Write a name of at most 100 characters.",
		"APIKeyBadScope":      "Choose permissions from the list.",
		"NoAPIKeys":           "No API keys.",
		"Name":                "Name",
		"Created":             "Created",
		"LastUsed":            "Last used",
		"Revoke":              "Remove",
		"RevokeKey":           "Revoke",
		"RevokedOn":           "revoked %s",
		"NotYours":            "There is no such thing on your account.",
		"Actions":             "Action",
	})
}

// accountData is the account page's. Errors are by field name, in the
// page's language; Values keep what was typed (never a password).
type accountData struct {
	Account      vault.Account
	Require2FA   bool
	AppPasswords []vault.AppPassword
	APIKeys      []apikey.Key
	Scopes       []scopeChoice
	Errors       map[string]string
	Values       map[string]string
	HasPasskey   bool          // a passkey is the second factor (staff.require_2fa met)
	Passkeys     template.HTML // PASSKEYS: the passkeys section (passkeys.go)
}

type scopeChoice struct {
	Name    string
	Checked bool
}

// scopesFor are the scopes an account may give its own keys: an
// administrator all, anyone else the sending system's (apikey.DefaultScopes),
// not audit:read (whole personal numbers) nor gdpr:admin.
func scopesFor(acct vault.Account) []string {
	if acct.Admin {
		return apikey.Scopes
	}
	return apikey.DefaultScopes
}

func (s *Server) account(w http.ResponseWriter, r *http.Request, sess *Session) {
	s.renderAccount(w, r, sess, http.StatusOK, nil, nil)
}

// renderAccount shows the account page, with faults by field when a form
// was refused.
func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, sess *Session, status int, errs, values map[string]string) {
	d := accountData{Account: sess.Account, Require2FA: s.opt.Require2FA, Errors: errs, Values: values}
	if d.Errors == nil {
		d.Errors = map[string]string{}
	}
	if d.Values == nil {
		d.Values = map[string]string{}
	}
	var err error
	if d.AppPasswords, err = s.opt.Vault.AppPasswords(sess.Account.Address); err != nil {
		s.fail(w, r, "account page", err)
		return
	}
	if s.opt.Keys != nil {
		all, err := s.opt.Keys.List()
		if err != nil {
			s.fail(w, r, "account page", err)
			return
		}
		for _, k := range all {
			if k.Account == sess.Account.Address {
				d.APIKeys = append(d.APIKeys, k)
			}
		}
		checked := r.PostForm["scope"]
		if r.Method == http.MethodGet || len(checked) == 0 {
			checked = apikey.DefaultScopes
		}
		for _, sc := range scopesFor(sess.Account) {
			d.Scopes = append(d.Scopes, scopeChoice{Name: sc, Checked: slices.Contains(checked, sc)})
		}
	}
	if s.opt.Passkeys != nil {
		if d.Passkeys, d.HasPasskey, err = s.passkeyAccount(r, sess, d.Errors["passkey_name"], d.Values["passkey_name"]); err != nil {
			s.fail(w, r, "account page", err)
			return
		}
	}
	s.render(w, r, sess, status, "account", d)
}

func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, sess *Session) {
	current, next, again := r.PostFormValue("current_password"), r.PostFormValue("new_password"), r.PostFormValue("new_password2")
	if !s.checkOwnPassword(w, r, sess, current, "current_password") {
		return
	}
	if next != again {
		s.renderAccount(w, r, sess, http.StatusUnprocessableEntity, map[string]string{"new_password2": s.word(r, "PasswordsDiffer")}, nil)
		return
	}
	if err := s.opt.Vault.SetPassword(sess.Account.Address, next); err != nil {
		if errors.Is(err, vault.ErrNotFound) {
			s.fail(w, r, "change password", err)
			return
		}
		s.renderAccount(w, r, sess, http.StatusUnprocessableEntity, map[string]string{"new_password": s.wordf(r, "PasswordWeak", weakReason(err))}, nil)
		return
	}
	// Whoever else knew the old password is signed out.
	if err := s.endOtherSessions(r.Context(), sess.Account.Address, sess.key); err != nil {
		s.fail(w, r, "change password", err)
		return
	}
	s.record(r, sess.Account.Address, audit.ActionAccount, sess.Account.Address, "password set")
	s.notify(r, sess, "PasswordChanged")
	seeOther(w, r, "/account")
}

// weakReason is the vault's reason for refusing a new password, without
// its prefixes.
func weakReason(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

// checkOwnPassword checks the signed-in user's password before a change
// that needs it, through the gate; on a fault it answers itself (the
// account page with field's fault) and returns false.
func (s *Server) checkOwnPassword(w http.ResponseWriter, r *http.Request, sess *Session, password, field string) bool {
	_, err := s.auth.Password(clientIP(r), sess.Account.Address, password)
	switch {
	case err == nil:
		return true
	case errors.Is(err, staffauth.ErrThrottled):
		s.renderAccount(w, r, sess, http.StatusTooManyRequests, map[string]string{field: s.word(r, "Throttled")}, nil)
	case errors.Is(err, vault.ErrBadCredentials):
		s.renderAccount(w, r, sess, http.StatusUnprocessableEntity, map[string]string{field: s.word(r, "WrongPassword")}, nil)
	default:
		s.fail(w, r, "check password", err)
	}
	return false
}

func (s *Server) accountEnrol(w http.ResponseWriter, r *http.Request, sess *Session) {
	if sess.Account.SecondFactor != "" {
		s.notify(r, sess, "TOTPExists")
		seeOther(w, r, "/account")
		return
	}
	s.startEnrolment(w, r, sess, enrolData{Start: "/account/totp", Confirm: "/account/totp/confirm"})
}

func (s *Server) accountEnrolConfirm(w http.ResponseWriter, r *http.Request, sess *Session) {
	codes, ok := s.confirmEnrolment(w, r, sess, enrolData{Start: "/account/totp", Confirm: "/account/totp/confirm"})
	if ok {
		s.showRecoveryCodes(w, r, sess, codes, "EnrolDone")
	}
}

func (s *Server) resetOwnSecondFactor(w http.ResponseWriter, r *http.Request, sess *Session) {
	if !s.checkOwnPassword(w, r, sess, r.PostFormValue("current_password"), "reset_password") {
		return
	}
	if err := s.opt.Vault.ResetSecondFactor(sess.Account.Address); err != nil {
		s.fail(w, r, "reset second factor", err)
		return
	}
	// The reset ends the account's other sessions; this one goes on.
	if err := s.endOtherSessions(r.Context(), sess.Account.Address, sess.key); err != nil {
		s.fail(w, r, "reset second factor", err)
		return
	}
	s.record(r, sess.Account.Address, audit.ActionSecondFactor, sess.Account.Address, "reset")
	s.notify(r, sess, "TOTPReset")
	seeOther(w, r, "/account")
}

func (s *Server) newRecoveryCodes(w http.ResponseWriter, r *http.Request, sess *Session) {
	codes, err := s.opt.Vault.RegenerateRecoveryCodes(sess.Account.Address)
	if errors.Is(err, vault.ErrNoSecondFactor) {
		seeOther(w, r, "/account")
		return
	}
	if err != nil {
		s.fail(w, r, "recovery codes", err)
		return
	}
	s.record(r, sess.Account.Address, audit.ActionSecondFactor, sess.Account.Address, "recovery codes made anew")
	s.showRecoveryCodes(w, r, sess, codes, "")
}

func (s *Server) createAppPassword(w http.ResponseWriter, r *http.Request, sess *Session) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	made, secret, err := s.opt.Vault.CreateAppPassword(sess.Account.Address, name)
	if err != nil {
		if errors.Is(err, vault.ErrNotFound) {
			s.fail(w, r, "create app password", err)
			return
		}
		s.renderAccount(w, r, sess, http.StatusUnprocessableEntity, map[string]string{"app_name": s.word(r, "AppPasswordBadName")}, map[string]string{"app_name": name})
		return
	}
	s.record(r, sess.Account.Address, audit.ActionAppPassword, sess.Account.Address, "made "+made.ID)
	s.render(w, r, sess, http.StatusOK, "secret", secretData{
		Heading: s.wordf(r, "AppPasswordMade", made.Name), Text: s.word(r, "AppPasswordText"), Secret: secret, Next: "/account",
	})
}

func (s *Server) revokeAppPassword(w http.ResponseWriter, r *http.Request, sess *Session) {
	err := s.opt.Vault.RevokeAppPassword(sess.Account.Address, r.PathValue("id"))
	switch {
	case errors.Is(err, vault.ErrNotFound):
		s.problem(w, r, http.StatusNotFound, "NotFoundTitle", "NotYours")
	case err != nil:
		s.fail(w, r, "revoke app password", err)
	default:
		s.record(r, sess.Account.Address, audit.ActionAppPassword, sess.Account.Address, "revoked "+r.PathValue("id"))
		s.notify(r, sess, "AppPasswordRevoked")
		seeOther(w, r, "/account")
	}
}

func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request, sess *Session) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	scopes := r.PostForm["scope"]
	values := map[string]string{"key_name": name}
	for _, sc := range scopes {
		if !slices.Contains(scopesFor(sess.Account), sc) {
			s.renderAccount(w, r, sess, http.StatusUnprocessableEntity, map[string]string{"scope": s.word(r, "APIKeyBadScope")}, values)
			return
		}
	}
	made, key, err := s.opt.Keys.Create(r.Context(), sess.Account.Address, name, scopes)
	if err != nil {
		if errors.Is(err, apikey.ErrNoAccount) {
			s.fail(w, r, "create API key", err)
			return
		}
		s.renderAccount(w, r, sess, http.StatusUnprocessableEntity, map[string]string{"key_name": s.word(r, "APIKeyBadName")}, values)
		return
	}
	s.record(r, sess.Account.Address, audit.ActionAPIKeyCreated, made.ID, "for "+made.Account+", scopes "+strings.Join(made.Scopes, ","))
	label := made.Name
	if label == "" {
		label = made.ID
	}
	s.render(w, r, sess, http.StatusOK, "secret", secretData{
		Heading: s.wordf(r, "APIKeyMade", label), Text: s.word(r, "APIKeyText"), Secret: key, Next: "/account",
	})
}

func (s *Server) revokeAPIKey(w http.ResponseWriter, r *http.Request, sess *Session) {
	id := r.PathValue("id")
	all, err := s.opt.Keys.List()
	if err != nil {
		s.fail(w, r, "revoke API key", err)
		return
	}
	// Only the account's own keys: another's id is answered as unknown.
	if !slices.ContainsFunc(all, func(k apikey.Key) bool { return k.ID == id && k.Account == sess.Account.Address }) {
		s.problem(w, r, http.StatusNotFound, "NotFoundTitle", "NotYours")
		return
	}
	if err := s.opt.Keys.Revoke(r.Context(), id); err != nil {
		s.fail(w, r, "revoke API key", err)
		return
	}
	s.record(r, sess.Account.Address, audit.ActionAPIKeyRevoked, id, "")
	s.notify(r, sess, "APIKeyRevoked")
	seeOther(w, r, "/account")
}
