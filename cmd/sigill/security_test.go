package main

import (
	"encoding/json"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"sigill/config"
	"sigill/internal/authgate"
	"sigill/internal/testenv"
)

// parallelLogins is Python's smtplib making one AUTH PLAIN on each of
// len(sources) connections at once, the i-th from sources[i]; it prints the
// reply codes as a JSON list.
const parallelLogins = `
import json, smtplib, sys, threading
host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
sources = sys.argv[5].split(",")
ready = threading.Barrier(len(sources))
codes = [0] * len(sources)
def one(i, source):
    s = smtplib.SMTP(host, port, source_address=(source, 0), timeout=120)
    s.ehlo("guesser.test")
    s.user, s.password = user, password
    ready.wait()
    try:
        codes[i] = s.auth("PLAIN", s.auth_plain)[0]
    except smtplib.SMTPResponseException as e:
        codes[i] = e.smtp_code
    s.close()
threads = [threading.Thread(target=one, args=(i, src)) for i, src in enumerate(sources)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(codes))
`

// smtplibLogins runs parallelLogins against addr and counts the replies by
// code.
func smtplibLogins(t *testing.T, python, addr, user, password string, sources []string) map[int]int {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	out, err := exec.Command(python, "-c", parallelLogins, host, port, user, password, strings.Join(sources, ",")).Output()
	if err != nil {
		t.Fatalf("smtplib: %v", err)
	}
	var codes []int
	if err := json.Unmarshal(out, &codes); err != nil {
		t.Fatalf("smtplib printed %q: %v", out, err)
	}
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	return count
}

func sources(from, n int) []string {
	var s []string
	for i := range n {
		s = append(s, testenv.LoopbackSource(from+i).String())
	}
	return s
}

// The built binary's one gate for password tries counts tries in flight:
// 40 simultaneous wrong passwords from one address, and from 40 addresses
// at one account, reach the password check no more than the configured
// burst; the others get 454. The owner still gets in from an address they
// logged in from before.
func TestParallelWrongPasswordsAgainstTheBinary(t *testing.T) {
	python := testenv.Tool(t, "python3", "python3")
	data := t.TempDir()
	d := startDev(t, data)
	submission := d.addr(config.DevSubmissionPort)
	burst := config.Default().LoginLimit.Burst

	got := smtplibLogins(t, python, submission, config.DevAccount, "wrong guess", sources(0, 1))
	if got[535] != 1 {
		t.Fatalf("one wrong password: %v; want one 535", got)
	}
	one := make([]string, 40)
	for i := range one {
		one[i] = testenv.LoopbackSource(1).String()
	}
	got = smtplibLogins(t, python, submission, config.DevAccount, "wrong guess", one)
	if got[535] > burst || got[535]+got[454] != 40 {
		t.Errorf("40 simultaneous wrong passwords from one address: %d checked (535), %d refused (454); want at most %d checked, the rest 454",
			got[535], got[454], burst)
	}

	const bo, boPassword = "bo@staff.test", "bo's long password"
	if _, stderr, code := run(t, boPassword+"\n", "user", "-data", data, "add", bo); code != 0 {
		t.Fatalf("user add: %s", stderr)
	}
	office := sources(100, 1)
	if got := smtplibLogins(t, python, submission, bo, boPassword, office); got[235] != 1 {
		t.Fatalf("bo's first login: %v", got)
	}
	got = smtplibLogins(t, python, submission, bo, "wrong guess", sources(2, 40))
	if got[535] > burst || got[535]+got[454] != 40 {
		t.Errorf("40 simultaneous wrong passwords from 40 addresses at one account: %d checked (535), %d refused (454); want at most %d checked, the rest 454",
			got[535], got[454], burst)
	}
	if got := smtplibLogins(t, python, submission, bo, boPassword, office); got[235] != 1 {
		t.Errorf("the owner from the address they logged in from before: %v; want 235", got)
	}
	if got := smtplibLogins(t, python, submission, bo, boPassword, sources(101, 1)); got[454] != 1 {
		t.Errorf("the owner from a new address while the account is under attack: %v; want 454", got)
	}
}

// login_limit's keys reach the gate.
func TestLoginLimitConfigured(t *testing.T) {
	cfg := config.Dev(t.TempDir(), 0)
	cfg.LoginLimit.Burst = 3
	if err := cfg.LoginLimit.Window.UnmarshalText([]byte("10m")); err != nil {
		t.Fatal(err)
	}
	if got := loginGate(cfg).Limits(); got != (authgate.Limits{Burst: 3, Window: 10 * time.Minute}) {
		t.Errorf("the gate's limits are %+v; want login_limit's burst 3 and window 10m", got)
	}
}

// receipts.whole_personal_number reaches the receipts.
func TestWholePersonalNumberConfigured(t *testing.T) {
	cfg := config.Dev(t.TempDir(), 0)
	if receiptsOrg(cfg).WholePersonalNumber {
		t.Error("receipts show whole personal numbers by default")
	}
	cfg.Receipts.WholePersonalNumber = true
	if !receiptsOrg(cfg).WholePersonalNumber {
		t.Error("receipts.whole_personal_number = true does not reach the receipts")
	}
}
