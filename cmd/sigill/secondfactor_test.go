package main

import (
	"net"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"sigill/config"
	"sigill/internal/testenv"
)

// smtplibLogin is one AUTH PLAIN by Python's smtplib, then a message when
// it was taken; it prints the reply code and text of the AUTH.
const smtplibLogin = `
import smtplib, sys
host, port, user, password, rcpt = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
s = smtplib.SMTP(host, port, timeout=60)
s.ehlo("client.test")
try:
    code, text = s.login(user, password)
    s.sendmail(user, [rcpt], "From: <%s>\r\nTo: <%s>\r\nSubject: Provsvar\r\n\r\nHej!\r\n" % (user, rcpt))
except smtplib.SMTPResponseException as e:
    code, text = e.smtp_code, e.smtp_error
print(code, text.decode() if isinstance(text, bytes) else text)
s.quit()
`

func smtplibAuth(t *testing.T, python, addr, user, password string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	out, err := exec.Command(python, "-c", smtplibLogin, host, port, user, password, devRcpt).CombinedOutput()
	if err != nil {
		t.Fatalf("smtplib: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// createAppPassword makes an app password for address with the CLI (where
// names the vault: "-data", DIR or "-config", FILE) and returns it.
func createAppPassword(t *testing.T, flag, where, address string) string {
	t.Helper()
	stdout, stderr, code := run(t, "", "user", flag, where, "app-password", address, "create", "test client")
	app := regexp.MustCompile(`(?m)^  ([A-Z2-7]{26})$`).FindStringSubmatch(stdout)
	if code != 0 || app == nil {
		t.Fatalf("user app-password create: exit %d, %q %s", code, stdout, stderr)
	}
	return app[1]
}

// The whole second-factor path on the built binary while it runs: TOTP
// enrolled and confirmed from the CLI with a code computed from the printed
// secret, then the account password refused at SMTP AUTH and an app
// password taken, its use listed; a disabled account refused.
func TestSecondFactorFromTheCLI(t *testing.T) {
	const staff, password = "bo@staff.test", "a long enough password"
	python, data, submission, user := devWithAccount(t, staff, password)
	if got := smtplibAuth(t, python, submission, staff, password); !strings.HasPrefix(got, "235") {
		t.Fatalf("the account password before any second factor: %s", got)
	}

	enrol := user("", "2fa", staff, "enroll")
	m := regexp.MustCompile(`(?m)^Secret: ([A-Z2-7]+)$`).FindStringSubmatch(enrol)
	if m == nil || !strings.Contains(enrol, "otpauth://totp/") {
		t.Fatalf("enroll printed %q", enrol)
	}
	if _, stderr, code := run(t, "", "user", "-data", data, "2fa", staff, "confirm", "000000"); code != 1 || !strings.Contains(stderr, "bad credentials") {
		t.Errorf("confirm with a wrong code: exit %d, %s", code, stderr)
	}
	code, err := totp.GenerateCode(m[1], time.Now())
	if err != nil {
		t.Fatal(err)
	}
	confirmed := user("", "2fa", staff, "confirm", code)
	if n := len(regexp.MustCompile(`(?m)^  [A-Z2-7]{5}-[A-Z2-7]{5}$`).FindAllString(confirmed, -1)); n != 10 {
		t.Errorf("confirm printed %d recovery codes; want 10:\n%s", n, confirmed)
	}
	created := user("", "app-password", staff, "create", "Thunderbird")
	app := regexp.MustCompile(`(?m)^  ([A-Z2-7]{26})$`).FindStringSubmatch(created)
	if app == nil {
		t.Fatalf("app-password create printed %q", created)
	}

	if got := smtplibAuth(t, python, submission, staff, password); !strings.HasPrefix(got, "535") || !strings.Contains(got, "app password") {
		t.Errorf("the account password with a second factor: %s; want 535 asking for an app password", got)
	}
	if got := smtplibAuth(t, python, submission, staff, app[1]); !strings.HasPrefix(got, "235") {
		t.Errorf("the app password: %s", got)
	}
	if list := user("", "app-password", staff, "list"); !strings.Contains(list, "Thunderbird") || !strings.Contains(list, "last used") {
		t.Errorf("app-password list after a login: %q", list)
	}
	if list := user("", "list"); !regexp.MustCompile(`bo@staff.test\tstaff\tenabled\t2fa totp \(10 recovery codes left\)\t1 app passwords`).MatchString(list) {
		t.Errorf("list: %q", list)
	}

	user("", "disable", staff)
	if got := smtplibAuth(t, python, submission, staff, app[1]); !strings.HasPrefix(got, "535") || !strings.Contains(got, "disabled") {
		t.Errorf("a disabled account's app password: %s", got)
	}
	user("", "enable", staff)
	user("", "2fa", staff, "reset")
	if got := smtplibAuth(t, python, submission, staff, password); !strings.HasPrefix(got, "235") {
		t.Errorf("the account password after the second factor was reset: %s", got)
	}
}

// TestSecondFactorSpecForms: staff-web.md's command forms, against the built
// `sigill dev`: `user 2fa ADDRESS` enrols TOTP active at once (the admin
// hands the URI over), `user app-password ADDRESS NAME` prints one, and
// `user 2fa -reset ADDRESS` removes the second factor.
func TestSecondFactorSpecForms(t *testing.T) {
	const staff, password = "cia@staff.test", "another long password"
	python, data, submission, user := devWithAccount(t, staff, password)

	enrolled := user("", "2fa", staff)
	secret := regexp.MustCompile(`(?m)^Secret: ([A-Z2-7]+)$`).FindStringSubmatch(enrolled)
	if secret == nil || !strings.Contains(enrolled, "otpauth://totp/") {
		t.Fatalf("2fa ADDRESS printed %q", enrolled)
	}
	if n := len(regexp.MustCompile(`(?m)^  [A-Z2-7]{5}-[A-Z2-7]{5}$`).FindAllString(enrolled, -1)); n != 10 {
		t.Errorf("2fa ADDRESS printed %d recovery codes; want 10:\n%s", n, enrolled)
	}
	if list := user("", "list"); !strings.Contains(list, "cia@staff.test\tstaff\tenabled\t2fa totp") {
		t.Errorf("after 2fa ADDRESS the second factor is not active: %q", list)
	}
	if got := smtplibAuth(t, python, submission, staff, password); !strings.HasPrefix(got, "535") {
		t.Errorf("the account password once 2fa ADDRESS ran: %s; want 535", got)
	}

	created := user("", "app-password", staff, "Outlook")
	app := regexp.MustCompile(`(?m)^  ([A-Z2-7]{26})$`).FindStringSubmatch(created)
	if app == nil || !strings.Contains(created, `"Outlook"`) {
		t.Fatalf("app-password ADDRESS NAME printed %q", created)
	}
	if got := smtplibAuth(t, python, submission, staff, app[1]); !strings.HasPrefix(got, "235") {
		t.Errorf("the app password: %s", got)
	}

	if _, stderr, code := run(t, "", "user", "-data", data, "-reset", "disable", staff); code != 2 || !strings.Contains(stderr, "-reset goes with 2fa") {
		t.Errorf("-reset with another verb: exit %d, %s", code, stderr)
	}
	user("", "2fa", "-reset", staff)
	if got := smtplibAuth(t, python, submission, staff, password); !strings.HasPrefix(got, "235") {
		t.Errorf("the account password after 2fa -reset: %s", got)
	}
}

// devWithAccount starts the built `sigill dev` with one more staff account
// and returns python3, the data folder, the submission address, and a
// `sigill user … -data` runner that fails the test on a non-zero exit.
func devWithAccount(t *testing.T, staff, password string) (python, data, submission string, user func(stdin string, args ...string) string) {
	t.Helper()
	python = testenv.Tool(t, "python3", "python3")
	data = t.TempDir()
	d := startDev(t, data)
	submission = d.addr(config.DevSubmissionPort)
	user = func(stdin string, args ...string) string {
		t.Helper()
		stdout, stderr, code := run(t, stdin, append([]string{"user", "-data", data}, args...)...)
		if code != 0 {
			t.Fatalf("sigill user %v: exit %d, %s %s", args, code, stdout, stderr)
		}
		return stdout
	}
	user(password+"\n", "add", staff)
	return python, data, submission, user
}
