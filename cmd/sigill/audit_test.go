package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"

	"sigill/audit"
	"sigill/config"
	"sigill/vault/vaulttest"
)

// The audit trail and a GDPR erasure against the built binary, while
// `sigill dev` runs (through its admin listener) and after (on the file):
// a link opened twice is two opens in `sigill audit export -pnr`, with the
// browser's user agent, and a refused person's try is there too; `sigill
// gdpr export` lists the number's messages without content; `sigill gdpr
// erase` leaves the number nowhere in the vault file's live data, shreds
// the message only that number could open, and is itself in the trail, as
// are a wrong SMTP password and an API key made with the CLI.
func TestAuditAndGDPRAgainstTheBinary(t *testing.T) {
	const (
		pnr    = "199908072391"
		other  = "198611239883"
		shared = "0701234567&login=19990807-2391&login=200211242383&@secure.test"
	)
	data := t.TempDir()
	d := startDev(t, data)
	alone := submitForE2E(t, d, devRcpt, "Provsvar", "värdet är 4,2")
	both := submitForE2E(t, d, shared, "Kallelse", "tid 10.00")
	link := waitForNotification(t, data, alone).Link
	for range 2 {
		web, _ := signInByLink(t, d, link, pnr)
		var opened struct{ Errand string }
		getJSON(t, web, "GET", link+"/message.json", &opened)
	}
	// An order for a link that names one person is that person's: the
	// refused try is at the message for two.
	if _, _, status := signInAtReader(t, d, waitForNotification(t, data, both).Link, other); status != "denied" {
		t.Fatalf("%s at a message for %s: %q, want denied", other, pnr, status)
	}

	if _, err := sendDev(d.addr(config.DevSubmissionPort), sasl.NewLoginClient(config.DevAccount, "a wrong password"), config.DevAccount, devRcpt, devMessage("x")); err == nil {
		t.Fatal("a wrong password was taken")
	}

	if _, errOut, code := run(t, "", "apikey", "create", "-data", data, config.DevAccount, "-scopes", "audit:read"); code != 0 {
		t.Fatalf("sigill apikey create: %d %s", code, errOut)
	}

	out, errOut, code := run(t, "", "audit", "export", "-data", data, "-pnr", pnr, "-format", "csv")
	if code != 0 {
		t.Fatalf("sigill audit export: %d %s", code, errOut)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) == 0 || !slices.Equal(rows[0], audit.CSVHeader) {
		t.Fatalf("the export is no CSV with the header %v: %v\n%s", audit.CSVHeader, err, out)
	}
	col := func(name string) int { return slices.Index(audit.CSVHeader, name) }
	opens, denials := 0, 0
	for _, r := range rows[1:] {
		switch {
		case r[col("action")] == "opened" && r[col("message")] == alone && r[col("personal_number")] == pnr &&
			r[col("ip")] == "127.0.0.1" && r[col("user_agent")] == "Go-http-client/1.1" && r[col("name")] == "Anna Andersson":
			opens++
		case r[col("action")] == "denied" && r[col("personal_number")] == other:
			denials++
		}
	}
	if opens != 2 || denials != 1 {
		t.Errorf("the trail of %s holds %d opens and %d denials, want 2 and 1:\n%s", pnr, opens, denials, out)
	}

	out, errOut, code = run(t, "", "gdpr", "export", "-data", data, pnr)
	if code != 0 {
		t.Fatalf("sigill gdpr export: %d %s", code, errOut)
	}
	var exp audit.PersonExport
	if err := json.Unmarshal([]byte(out), &exp); err != nil {
		t.Fatalf("sigill gdpr export wrote no JSON: %v\n%s", err, out)
	}
	var ids []string
	for _, m := range exp.Messages {
		ids = append(ids, m.ID)
		if m.Content != nil {
			t.Errorf("message %s has content in the export", m.ID)
		}
	}
	slices.Sort(ids)
	want := []string{alone, both}
	slices.Sort(want)
	if !slices.Equal(ids, want) || !strings.Contains(exp.ContentNote, "cannot decrypt") {
		t.Errorf("gdpr export lists %v, want %v, and says why there is no content: %q", ids, want, exp.ContentNote)
	}

	// Before: the number is in the live data (so the scan below can see it).
	before, err := vaulttest.LiveContains(filepath.Join(data, "sigill.db"), pnr)
	if err != nil || !slices.ContainsFunc(before, func(f vaulttest.LiveFinding) bool { return f.Bucket == "recipients" }) ||
		!slices.ContainsFunc(before, func(f vaulttest.LiveFinding) bool { return f.Bucket == "events" }) {
		t.Fatalf("before the erasure the live data's recipients and events do not hold the number: %v %v", before, err)
	}

	out, errOut, code = run(t, "", "gdpr", "erase", "-data", data, "19990807-2391")
	if code != 0 || !strings.Contains(out, "1 messages shredded") {
		t.Fatalf("sigill gdpr erase: %d %s %s", code, out, errOut)
	}
	out, _, _ = run(t, "", "gdpr", "export", "-data", data, pnr)
	if err := json.Unmarshal([]byte(out), &exp); err != nil || len(exp.Messages) != 0 {
		t.Errorf("after the erasure gdpr export finds %d messages (%v)", len(exp.Messages), err)
	}
	d.stop(t)

	// On the file now: the erasure and the exports are in the trail.
	out, errOut, code = run(t, "", "audit", "export", "-data", data, "-format", "json", "-since", "1d")
	if code != 0 {
		t.Fatalf("sigill audit export on the file: %d %s", code, errOut)
	}
	var entries []audit.Entry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(entries, func(e audit.Entry) bool {
		return e.Action == audit.ActionSignInFailed && e.Actor == config.DevAccount && e.IP == "127.0.0.1" && strings.HasPrefix(e.Detail, "smtp: ")
	}) {
		t.Errorf("the wrong SMTP password is not in the trail")
	}
	for _, action := range []string{audit.ActionAPIKeyCreated, audit.ActionAuditExport, audit.ActionGDPRExport, audit.ActionErased} {
		if !slices.ContainsFunc(entries, func(e audit.Entry) bool { return e.Action == action && strings.HasPrefix(e.Actor, "cli:") }) {
			t.Errorf("no %s by cli:USER in the trail", action)
		}
	}
	if !slices.ContainsFunc(entries, func(e audit.Entry) bool { return e.Action == "expired" && e.Message == alone }) {
		t.Errorf("the message only %s could open was not shredded (no expired event)", pnr)
	}
	if strings.Contains(out, pnr) || strings.Contains(out, "19990807-") {
		t.Errorf("the whole trail still names the erased number")
	}
	pseudonymised := 0
	for _, e := range entries {
		if strings.HasPrefix(e.PersonalNumber, "erased:") {
			pseudonymised++
			if e.Name != "" || e.IP != "" || e.UserAgent != "" {
				t.Errorf("an erased person's event keeps their name, IP or user agent: %+v", e)
			}
		}
	}
	if pseudonymised != 2 {
		t.Errorf("%d events pseudonymised, want the 2 opens", pseudonymised)
	}

	// (The simulator names everyone Anna Andersson, the refused person
	// too, so the name is no needle here; the loop above checks it.)
	needles := []string{pnr, "19990807-2391", "9908072391", "990807-2391"}
	found, err := vaulttest.LiveContains(filepath.Join(data, "sigill.db"), needles...)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Errorf("after the erasure the vault's live data holds %s", f)
	}
	raw, _ := os.ReadFile(filepath.Join(data, "sigill.db"))
	for _, n := range needles {
		if strings.Contains(string(raw), n) {
			t.Logf("free pages still hold %q (until bbolt reuses them)", n)
		}
	}
}

// Two-person approval as the CLI signs it (the same code behind the admin
// listener): without -as, with a wrong password or a staff account that
// is no administrator it is refused; the administrator who asked cannot
// approve; another can.
func TestGDPRTwoPersonSigning(t *testing.T) {
	cfg := config.Dev(t.TempDir(), 0)
	if err := os.MkdirAll(filepath.Dir(cfg.Vault.Path), 0o700); err != nil {
		t.Fatal(err)
	}
	v, _, _, trail, err := openVault(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	const pw = "a long enough password"
	for _, a := range []string{"chef@staff.test", "biträdande@staff.test"} {
		if err := v.AddAdmin(a, pw); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.AddAccount("anna@staff.test", pw); err != nil {
		t.Fatal(err)
	}
	f := fileTrail{v: v, trail: trail, twoPerson: true, actor: "cli:root"}
	const pnr = "199908072391"
	for as, want := range map[staffLogin]string{
		{}: "-as", {Account: "chef@staff.test", Password: "wrong"}: "bad credentials", {Account: "anna@staff.test", Password: pw}: "not an administrator",
	} {
		if _, err := f.RequestErasure(pnr, as); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("erase as %q: %v, want %q", as.Account, err, want)
		}
	}
	req, err := f.RequestErasure(pnr, staffLogin{Account: "Chef@staff.test", Password: pw})
	if err != nil || !req.Pending() || req.RequestedBy != "chef@staff.test" {
		t.Fatalf("erase as chef: %+v %v", req, err)
	}
	if _, err := f.ApproveErasure(req.ID, staffLogin{Account: "chef@staff.test", Password: pw}); !errors.Is(err, audit.ErrSameApprover) {
		t.Errorf("approved by the one who asked: %v", err)
	}
	done, err := f.ApproveErasure(req.ID, staffLogin{Account: "biträdande@staff.test", Password: pw})
	if err != nil || done.Pending() || done.ApprovedBy != "biträdande@staff.test" {
		t.Errorf("approved by another administrator: %+v %v", done, err)
	}
	entries, err := f.ExportAudit(auditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(entries, func(e audit.Entry) bool { return e.Action == audit.ActionSignInFailed && e.Target == "chef@staff.test" }) {
		t.Errorf("the wrong password at -as is not in the trail")
	}
}
