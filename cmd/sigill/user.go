package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"sigill/vault"
)

const userUsage = `Usage: sigill user VERB [ADDRESS ...] [-config FILE | -data DIR]

Staff accounts log in to SMTP submission and IMAP with their e-mail address
and a password (stored as an argon2id hash); with a second factor (or with
staff.require_2fa) mail clients log in with app passwords instead.
  add [-admin] ADDRESS   create an account (-admin: an administrator, who
                         manages staff accounts on the staff web); asks for
                         the password
  passwd ADDRESS         set a new password
  list                   the accounts: role, disabled, second factor
  remove ADDRESS         delete an account
  disable ADDRESS        the account logs in nowhere until enabled again
  enable ADDRESS         let a disabled account log in again
  2fa ADDRESS            enrol TOTP, active at once: prints the otpauth://
                         URI (and the secret) to hand over, and the ten
                         one-time recovery codes
  2fa -reset ADDRESS     remove TOTP, the recovery codes and the passkeys
                         (a lost phone)
  2fa ADDRESS enroll     start TOTP: prints the secret and the otpauth:// URI
                         for the authenticator app; active after confirm
  2fa ADDRESS confirm CODE
                         activate TOTP with a code from the app; prints the
                         ten one-time recovery codes (shown only now)
  2fa ADDRESS recovery-codes
                         replace the recovery codes with ten new ones
  2fa ADDRESS reset      remove TOTP, the recovery codes and the passkeys
                         (a lost phone); also "disable"
  app-password ADDRESS NAME
  app-password ADDRESS create NAME
                         a new app password for one device (mail client),
                         printed once
  app-password ADDRESS list
                         the app passwords: id, name, created, last use
  app-password ADDRESS revoke ID
                         the device's app password stops working
The password is asked for on the terminal, or read as the first line of
standard input when that is not a terminal. While sigill runs, the change
goes through its admin listener and takes effect at once.`

// userVerbs: how many positional arguments each verb takes after it
// (for 2fa and app-password, the ADDRESS and the sub-verb with its own).
var userVerbs = map[string]int{"add": 1, "passwd": 1, "remove": 1, "list": 0, "disable": 1, "enable": 1}

func runUser(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCLI("user", userUsage, stdout, stderr)
	where := vaultFlags(c.fs)
	admin := c.fs.Bool("admin", false, "with add: the account is an administrator")
	reset := c.fs.Bool("reset", false, "with 2fa: remove every second factor of the account")
	positional, code, done := c.parse(args)
	if done {
		return code
	}
	if len(positional) == 0 {
		return c.fail("missing what to do: add, passwd, list, remove, disable, enable, 2fa or app-password")
	}
	verb, rest := positional[0], positional[1:]
	if *reset {
		if verb != "2fa" || len(rest) != 1 {
			return c.fail("-reset goes with 2fa ADDRESS only")
		}
		rest = append(rest, "reset")
	}
	switch n, ok := userVerbs[verb]; {
	case verb == "2fa" || verb == "app-password":
		if code, done := secondFactorArgs(c, verb, rest); done {
			return code
		}
	case !ok:
		return c.fail("%q is not something user does; write add, passwd, list, remove, disable, enable, 2fa or app-password", verb)
	default:
		if code, done := c.wantArgs(rest, n, "the ADDRESS of the account"); done {
			return code
		}
	}
	if *admin && verb != "add" {
		return c.fail("-admin goes with add only")
	}
	v, err := where.accounts()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer v.Close()

	switch verb {
	case "list":
		accounts, err := v.Accounts()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		for _, a := range accounts {
			fmt.Fprintln(stdout, accountLine(a))
		}
		return 0
	case "2fa":
		err = runSecondFactor(v, rest, stdout)
	case "app-password":
		err = runAppPassword(v, rest, stdout)
	case "remove":
		err = v.RemoveAccount(rest[0])
	case "disable", "enable":
		err = v.SetDisabled(rest[0], verb == "disable")
	case "add", "passwd":
		var password string
		password, err = readPassword(stdin, stderr)
		switch {
		case err != nil:
		case verb == "add" && *admin:
			err = v.AddAdmin(rest[0], password)
		case verb == "add":
			err = v.AddAccount(rest[0], password)
		default:
			err = v.SetPassword(rest[0], password)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "sigill user %s %s: %v\n", verb, strings.Join(rest[:min(len(rest), 2)], " "), err)
		return 1
	}
	if verb != "2fa" && verb != "app-password" {
		fmt.Fprintf(stdout, "%s: done (%s)\n", rest[0], verb)
	}
	return 0
}

// accountLine is one account as list shows it: never a secret.
func accountLine(a vault.Account) string {
	role, state, factor := "staff", "enabled", "2fa none"
	if a.Admin {
		role = "admin"
	}
	if a.Disabled {
		state = "DISABLED"
	}
	switch {
	case a.SecondFactor != "":
		factor = fmt.Sprintf("2fa %s (%d recovery codes left)", a.SecondFactor, a.RecoveryCodes)
	case a.TOTPPending:
		factor = "2fa pending (not confirmed)"
	}
	return fmt.Sprintf("%s\t%s\t%s\t%s\t%d app passwords\tcreated %s", a.Address, role, state, factor, a.AppPasswords, a.Created.Format(time.DateOnly))
}

const minPasswordLength = 12

func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	var password string
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		first, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprint(stderr, "\nAgain: ")
		second, err2 := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err = errors.Join(err, err2); err != nil {
			return "", err
		}
		if string(first) != string(second) {
			return "", errors.New("the two passwords differ")
		}
		password = string(first)
	} else {
		var err error
		if password, err = readOnePassword(stdin, stderr, ""); err != nil {
			return "", err
		}
	}
	if len(password) < minPasswordLength {
		return "", fmt.Errorf("the password has %d characters; use at least %d", len(password), minPasswordLength)
	}
	return password, nil
}
