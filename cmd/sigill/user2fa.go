package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pquerna/otp/totp"
)

// The second factor and app passwords of `sigill user`: the same vault
// operations the staff web calls, through the running daemon's admin
// listener or on the vault file.

// secondFactorArgs checks `2fa ADDRESS [SUBVERB [ARG]]` and `app-password
// ADDRESS SUBVERB [ARG]` or `app-password ADDRESS NAME` (the spec's short
// forms: enrol at once, create an app password).
func secondFactorArgs(c *cli, verb string, rest []string) (code int, done bool) {
	sub := map[string]map[string]int{
		"2fa":          {"enroll": 0, "confirm": 1, "recovery-codes": 0, "reset": 0, "disable": 0},
		"app-password": {"create": 1, "list": 0, "revoke": 1},
	}[verb]
	if verb == "2fa" && len(rest) == 1 {
		return 0, false
	}
	if verb == "app-password" && len(rest) == 2 {
		if _, isSub := sub[rest[1]]; !isSub {
			return 0, false
		}
	}
	if len(rest) < 2 {
		return c.fail("%s wants ADDRESS and what to do (%s)", verb, strings.Join(sortedKeys(sub), ", ")), true
	}
	n, ok := sub[rest[1]]
	if !ok {
		return c.fail("%q is not something %s does; write %s", rest[1], verb, strings.Join(sortedKeys(sub), ", ")), true
	}
	what := map[string]string{"confirm": "the CODE from the authenticator app", "create": "the NAME of the device", "revoke": "the ID of the app password (from list)"}[rest[1]]
	return c.wantArgs(rest[2:], n, what)
}

func sortedKeys(m map[string]int) []string {
	var out []string
	for _, k := range []string{"enroll", "confirm", "recovery-codes", "reset", "create", "list", "revoke"} {
		if _, ok := m[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

func runSecondFactor(v accountStore, args []string, stdout io.Writer) error {
	if len(args) == 1 {
		return enrollAtOnce(v, args[0], stdout)
	}
	address, sub := args[0], args[1]
	switch sub {
	case "enroll":
		e, err := v.EnrollTOTP(address)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Secret: %s\nURI: %s\n\nAdd the URI (as a QR code) or the secret to the authenticator app, then\nactivate it with the code the app shows:\n  sigill user 2fa %s confirm CODE\n", e.Secret, e.URI, address)
	case "confirm":
		codes, err := v.ConfirmTOTP(address, args[2])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: TOTP is active. From now on mail clients log in with app passwords\n(sigill user app-password %s create NAME).\n", address, address)
		printRecoveryCodes(stdout, codes)
	case "recovery-codes":
		codes, err := v.RegenerateRecoveryCodes(address)
		if err != nil {
			return err
		}
		printRecoveryCodes(stdout, codes)
	case "reset", "disable":
		if err := v.ResetSecondFactor(address); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: second factor removed (TOTP, recovery codes and passkeys); app passwords stay\n", address)
	}
	return nil
}

// enrollAtOnce is `sigill user 2fa ADDRESS`: the administrator enrols the
// account and hands the URI over, so the enrolment is confirmed here with a
// code computed from the new secret (that step is then used, as any code).
func enrollAtOnce(v accountStore, address string, stdout io.Writer) error {
	e, err := v.EnrollTOTP(address)
	if err != nil {
		return err
	}
	code, err := totp.GenerateCode(e.Secret, time.Now())
	if err != nil {
		return err
	}
	codes, err := v.ConfirmTOTP(address, code)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: TOTP is active. Hand this over for the authenticator app (as a QR code or the secret):\nURI: %s\nSecret: %s\n\nFrom now on mail clients log in with app passwords (sigill user app-password %s NAME).\n", address, e.URI, e.Secret, address)
	printRecoveryCodes(stdout, codes)
	return nil
}

func printRecoveryCodes(w io.Writer, codes []string) {
	fmt.Fprintf(w, "Recovery codes (each works once; keep them where the phone is not; they are not shown again):\n")
	for _, c := range codes {
		fmt.Fprintf(w, "  %s\n", c)
	}
}

func runAppPassword(v accountStore, args []string, stdout io.Writer) error {
	if len(args) == 2 && args[1] != "list" {
		args = []string{args[0], "create", args[1]} // app-password ADDRESS NAME
	}
	address, sub := args[0], args[1]
	switch sub {
	case "create":
		p, secret, err := v.CreateAppPassword(address, args[2])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "App password %q (id %s) for %s:\n  %s\nUse it as the password in that device's mail client; it is not shown again.\n", p.Name, p.ID, address, secret)
	case "list":
		list, err := v.AppPasswords(address)
		if err != nil {
			return err
		}
		for _, p := range list {
			used := "never used"
			if !p.LastUsed.IsZero() {
				used = "last used " + p.LastUsed.Local().Format(time.DateTime)
			}
			fmt.Fprintf(stdout, "%s\t%s\tcreated %s\t%s\n", p.ID, p.Name, p.Created.Local().Format(time.DateOnly), used)
		}
	case "revoke":
		if err := v.RevokeAppPassword(address, args[2]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: app password %s revoked\n", address, args[2])
	}
	return nil
}

var _ accountStore = vaultAccounts{}
