package testenv

import (
	"regexp"
	"strings"
	"testing"
)

// FailedLoginNames are login names for a test of what a failed login logs,
// each tried once with a wrong password, in this order, followed by the
// test's own existing account: a personal number at a staff domain, a
// password typed into the login field, and that password again.
var FailedLoginNames = []string{"199908072391@staff.test", "my@secret-pw-9", "my@secret-pw-9"}

var hashedLogin = regexp.MustCompile(`user=unknown:[0-9a-f]{12}\b`)

// CheckFailedLoginLog checks a text log (slog's TextHandler, key "user")
// after logins as FailedLoginNames and then account failed: the names that
// are no account appear only as keyed hashes, the same for the same name;
// the account by its address.
func CheckFailedLoginLog(t testing.TB, log, account string) {
	t.Helper()
	for _, leak := range []string{"199908072391", "2391@", "secret-pw"} {
		if strings.Contains(log, leak) {
			t.Errorf("the log shows %q:\n%s", leak, log)
		}
	}
	hashes := hashedLogin.FindAllString(log, -1)
	if len(hashes) != 3 || hashes[0] == hashes[1] || hashes[1] != hashes[2] {
		t.Errorf("want three hashed names, the last two the same: %q\n%s", hashes, log)
	}
	if !strings.Contains(log, "user="+account) {
		t.Errorf("a failed login to an existing account does not name it:\n%s", log)
	}
}
