package staffweb

import (
	"errors"
	"net/http"
	"strings"

	"sigill/addressing"
	"sigill/audit"
	"sigill/passkey"
	"sigill/vault"
)

// Staff accounts, for administrators: the same operations as `sigill user
// list|add|disable|enable` and `sigill user 2fa -reset`.
//
//	GET  /admin/accounts
//	POST /admin/accounts           address, password, admin ("1") → a new account
//	POST /admin/accounts/disable   address: it signs in nowhere; its sessions and keys end
//	POST /admin/accounts/enable    address
//	POST /admin/accounts/reset-2fa address: TOTP, recovery codes and passkeys removed (a lost phone)
//
// An administrator does none of this to their own account here (the
// account page has their own second factor): disabling oneself would lock
// the door behind one.
func (s *Server) adminRoutes(mux *http.ServeMux) {
	s.handle(mux, "GET /admin/accounts", s.adminOnly(s.accounts))
	s.handle(mux, "POST /admin/accounts", s.adminOnly(s.addAccount))
	s.handle(mux, "POST /admin/accounts/disable", s.adminOnly(s.changeAccount("AccountDisabled", func(v *vault.Vault, a string) error { return v.SetDisabled(a, true) })))
	s.handle(mux, "POST /admin/accounts/enable", s.adminOnly(s.changeAccount("AccountEnabled", func(v *vault.Vault, a string) error { return v.SetDisabled(a, false) })))
	s.handle(mux, "POST /admin/accounts/reset-2fa", s.adminOnly(s.changeAccount("AccountReset", passkey.ResetSecondFactor)))
}

func init() {
	addTexts(map[string]string{
		"AccountsTitle":   "Personalkonton",
		"Address":         "E-postadress",
		"Role":            "Roll",
		"State":           "Status",
		"TwoStep":         "Tvåsteg",
		"RoleAdmin":       "administratör",
		"RoleStaff":       "personal",
		"StateEnabled":    "aktivt",
		"StateDisabled":   "avstängt",
		"TOTPOn":          "app",
		"TOTPPendingTag":  "påbörjad",
		"TOTPNone":        "ingen",
		"PasskeyTag":      "passkey",
		"Disable":         "Stäng av",
		"Enable":          "Aktivera",
		"Reset2FA":        "Nollställ tvåsteg",
		"You":             "du",
		"AddAccount":      "Lägg till konto",
		"AddAccountText":  "Ge personen lösenordet på ett säkert sätt. Vid första inloggningen lägger hen till tvåstegsverifiering om tjänsten kräver det.",
		"InitialPassword": "Lösenord",
		"MakeAdmin":       "Administratör (hanterar personalkonton)",
		"Add":             "Lägg till",
		"AccountAdded":    "Kontot är tillagt.",
		"AccountDisabled": "Kontot är avstängt. Dess sessioner, applösenord och API-nycklar fungerar inte längre.",
		"AccountEnabled":  "Kontot är aktiverat igen.",
		"AccountReset":    "Tvåstegsverifieringen är nollställd. Personen lägger till den igen vid nästa inloggning.",
		"AccountExists":   "Det finns redan ett konto med den adressen.",
		"AccountBad":      "Adressen duger inte: %s.",
		"NoSuchAccount":   "Det finns inget sådant konto.",
		"NotYourself":     "Det här gör du inte med ditt eget konto.",
	}, map[string]string{
		"AccountsTitle":   "Staff accounts",
		"Address":         "E-mail address",
		"Role":            "Role",
		"State":           "State",
		"TwoStep":         "Two-step",
		"RoleAdmin":       "administrator",
		"RoleStaff":       "staff",
		"StateEnabled":    "enabled",
		"StateDisabled":   "disabled",
		"TOTPOn":          "app",
		"TOTPPendingTag":  "started",
		"TOTPNone":        "none",
		"PasskeyTag":      "passkey",
		"Disable":         "Disable",
		"Enable":          "Enable",
		"Reset2FA":        "Reset two-step",
		"You":             "you",
		"AddAccount":      "Add an account",
		"AddAccountText":  "Hand the person the password safely. At the first sign-in they add two-step verification if the service requires it.",
		"InitialPassword": "Password",
		"MakeAdmin":       "Administrator (manages staff accounts)",
		"Add":             "Add",
		"AccountAdded":    "The account is added.",
		"AccountDisabled": "The account is disabled. Its sessions, app passwords and API keys no longer work.",
		"AccountEnabled":  "The account is enabled again.",
		"AccountReset":    "Two-step verification is reset. The person adds it again at the next sign-in.",
		"AccountExists":   "There is already an account with that address.",
		"AccountBad":      "The address will not do: %s.",
		"NoSuchAccount":   "There is no such account.",
		"NotYourself":     "You do not do this to your own account.",
	})
}

type accountsData struct {
	Me       string
	Accounts []vault.Account
	Errors   map[string]string
	Values   map[string]string
	Admin    bool // the add form's checkbox, as it was
	// Passkeys: the accounts that hold one (a second factor to reset).
	Passkeys map[string]bool
}

func (s *Server) accounts(w http.ResponseWriter, r *http.Request, sess *Session) {
	s.renderAccounts(w, r, sess, http.StatusOK, accountsData{})
}

func (s *Server) renderAccounts(w http.ResponseWriter, r *http.Request, sess *Session, status int, d accountsData) {
	var err error
	if d.Accounts, err = s.opt.Vault.Accounts(); err != nil {
		s.fail(w, r, "staff accounts", err)
		return
	}
	d.Me = sess.Account.Address
	d.Passkeys = map[string]bool{}
	for _, a := range d.Accounts {
		d.Passkeys[a.Address] = s.hasPasskey(a.Address)
	}
	if d.Errors == nil {
		d.Errors = map[string]string{}
	}
	if d.Values == nil {
		d.Values = map[string]string{}
	}
	s.render(w, r, sess, status, "admin", d)
}

func (s *Server) addAccount(w http.ResponseWriter, r *http.Request, sess *Session) {
	address := strings.TrimSpace(r.PostFormValue("address"))
	admin := r.PostFormValue("admin") == "1"
	add := s.opt.Vault.AddAccount
	if admin {
		add = s.opt.Vault.AddAdmin
	}
	err := add(address, r.PostFormValue("password"))
	if err != nil {
		d := accountsData{Values: map[string]string{"address": address}, Admin: admin}
		switch {
		case errors.Is(err, vault.ErrExists):
			d.Errors = map[string]string{"address": s.word(r, "AccountExists")}
		case strings.HasSuffix(err.Error(), "empty password"):
			d.Errors = map[string]string{"password": s.wordf(r, "PasswordWeak", weakReason(err))}
		default:
			d.Errors = map[string]string{"address": s.wordf(r, "AccountBad", weakReason(err))}
		}
		s.renderAccounts(w, r, sess, http.StatusUnprocessableEntity, d)
		return
	}
	s.record(r, sess.Account.Address, audit.ActionAccount, strings.ToLower(address), map[bool]string{true: "added as administrator", false: "added"}[admin])
	s.notify(r, sess, "AccountAdded")
	seeOther(w, r, "/admin/accounts")
}

// changeAccount is an administrator's change to another account, done by
// change (a vault operation, as `sigill user` calls it), then noticed.
func (s *Server) changeAccount(notice string, change func(v *vault.Vault, address string) error) func(http.ResponseWriter, *http.Request, *Session) {
	return func(w http.ResponseWriter, r *http.Request, sess *Session) {
		address := strings.ToLower(strings.TrimSpace(r.PostFormValue("address")))
		if address == sess.Account.Address {
			s.problem(w, r, http.StatusForbidden, "ForbiddenTitle", "NotYourself")
			return
		}
		err := change(s.opt.Vault, address)
		switch {
		case errors.Is(err, vault.ErrNotFound):
			s.problem(w, r, http.StatusNotFound, "NotFoundTitle", "NoSuchAccount")
		case err != nil:
			s.fail(w, r, "change account", err)
		default:
			s.opt.Logger.Info("staffweb: account changed", "by", addressing.MaskPersonalNumbers(sess.Account.Address), "account", s.opt.Vault.LoggableLogin(address), "change", notice)
			s.record(r, sess.Account.Address, audit.ActionAccount, address, notice)
			s.notify(r, sess, notice)
			seeOther(w, r, "/admin/accounts")
		}
	}
}
