package vault

import (
	"errors"
	"regexp"
	"testing"
	"time"
)

func TestAccounts(t *testing.T) {
	c := newClock()
	v, o := openTest(t, func(o *Options) { o.Now = c.Now })
	if err := v.AddAccount("Anna.Berg@Kommun.Example.se", "första lösenordet"); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Minute)
	if err := v.AddAccount("bo@kommun.example.se", "bo-pw"); err != nil {
		t.Fatal(err)
	}
	if err := v.AddAccount("anna.berg@kommun.example.SE", "x"); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate in other case: %v", err)
	}
	for _, bad := range []string{"", "anna", "@kommun.example.se", "anna@", "an na@kommun.example.se"} {
		if err := v.AddAccount(bad, "pw"); err == nil {
			t.Errorf("address %q accepted", bad)
		}
	}
	if err := v.AddAccount("empty@kommun.example.se", ""); err == nil {
		t.Error("empty password accepted")
	}

	acc, err := v.Authenticate("ANNA.BERG@kommun.example.se", "första lösenordet")
	if err != nil {
		t.Fatal(err)
	}
	if acc.Address != "anna.berg@kommun.example.se" || !acc.Created.Equal(newClock().Now()) {
		t.Fatalf("account %+v", acc)
	}
	for _, tc := range [][2]string{
		{"anna.berg@kommun.example.se", "Första lösenordet"},
		{"anna.berg@kommun.example.se", ""},
		{"bo@kommun.example.se", "första lösenordet"},
		{"nobody@kommun.example.se", "första lösenordet"},
		{"", ""},
	} {
		if _, err := v.Authenticate(tc[0], tc[1]); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("Authenticate(%q, %q) = %v, want ErrBadCredentials", tc[0], tc[1], err)
		}
	}

	if err := v.SetPassword("Anna.Berg@kommun.example.se", "andra"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Authenticate("anna.berg@kommun.example.se", "första lösenordet"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("old password after passwd: %v", err)
	}
	if _, err := v.Authenticate("anna.berg@kommun.example.se", "andra"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if err := v.SetPassword("nobody@kommun.example.se", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("passwd of unknown account: %v", err)
	}

	accs, err := v.Accounts()
	if err != nil {
		t.Fatal(err)
	}
	if len(accs) != 2 || accs[0].Address != "anna.berg@kommun.example.se" || accs[1].Address != "bo@kommun.example.se" {
		t.Fatalf("accounts %+v", accs)
	}

	// Survives a reopen; removal.
	v = reopen(t, v, o)
	if err := v.RemoveAccount("BO@kommun.example.se"); err != nil {
		t.Fatal(err)
	}
	if err := v.RemoveAccount("bo@kommun.example.se"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second remove: %v", err)
	}
	if _, err := v.Authenticate("bo@kommun.example.se", "bo-pw"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("removed account authenticates: %v", err)
	}
	if accs, _ := v.Accounts(); len(accs) != 1 {
		t.Fatalf("accounts after remove: %+v", accs)
	}
}

// TestUnknownAccountHashes: an unknown account costs an argon2id run, as a
// known one does.
func TestUnknownAccountHashes(t *testing.T) {
	v, _ := openTest(t, nil)
	if err := v.AddAccount("known@kommun.example.se", "pw"); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"known@kommun.example.se", "unknown@kommun.example.se"} {
		before := argonRuns.Load()
		v.Authenticate(addr, "wrong")
		if n := argonRuns.Load() - before; n != 1 {
			t.Errorf("%s: %d argon2id runs, want 1", addr, n)
		}
	}
}

// TestProductionArgon: the documented parameters are the ones production
// hashes with, in PHC form, and verify.
func TestProductionArgon(t *testing.T) {
	if productionArgon != (argonParams{time: 1, memory: 64 * 1024, threads: 2}) {
		t.Fatalf("production parameters changed: %+v; update doc.go and accounts.go", productionArgon)
	}
	start := time.Now()
	h := hashPassword("correct horse", productionArgon)
	t.Logf("one production hash: %v", time.Since(start))
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=65536,t=1,p=2\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(h) {
		t.Fatalf("PHC string %q", h)
	}
	if ok, err := checkPassword(h, "correct horse"); !ok || err != nil {
		t.Fatalf("check: %v %v", ok, err)
	}
	if ok, _ := checkPassword(h, "correct horsE"); ok {
		t.Fatal("wrong password verified")
	}
	for _, bad := range []string{
		"", "$argon2i$v=19$m=65536,t=1,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=1,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=65536,t=1$c2FsdHNhbHQ$aGFzaA",
	} {
		if _, err := checkPassword(bad, "x"); err == nil {
			t.Errorf("PHC %q accepted", bad)
		}
	}
}
