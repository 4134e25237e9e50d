package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/user"
	"strings"
	"time"

	"golang.org/x/term"

	"sigill/addressing"
	"sigill/apikey"
	"sigill/audit"
	"sigill/vault"
)

// actorHeader carries, to the admin listener, who runs the command (the
// system user: cliActor), for the staff audit records. The admin token
// proves only that the caller may read the vault file; the name is the
// caller's word, as the system user's name is.
const actorHeader = "X-Sigill-Actor"

// cliActor names the person at the command line in the audit trail.
func cliActor() string {
	name := fmt.Sprint(os.Getuid())
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	return "cli:" + name
}

// actorOf is who is behind an admin listener request.
func actorOf(r *http.Request) string {
	if a := r.Header.Get(actorHeader); strings.HasPrefix(a, "cli:") && len(a) <= 100 {
		return a
	}
	return "cli:unknown"
}

// parseAuditTime reads -since and -until: a DURATION back from now (7d),
// or a TIME as "sigill message expire" takes one, or a date (Swedish
// time, midnight).
func parseAuditTime(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseInLocation(time.DateOnly, s, stockholm); err == nil {
		return d, nil
	}
	req, err := parseExpiryRequest(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a DURATION back from now (7d), a date (2026-12-01) nor a TIME (2026-12-24T12:00:00+01:00, or 2026-12-24 12:00 in Swedish time)", s)
	}
	if req.Lifetime > 0 {
		return now.Add(-req.Lifetime.Duration()), nil
	}
	return req.Expires, nil
}

// parseNumber reads a personal number as an admin writes it (12 or 10
// digits, with or without - or +) into its 12 digits.
func parseNumber(s string) (string, error) {
	n, err := addressing.ParsePersonalNumber(s, time.Now())
	if err != nil {
		return "", fmt.Errorf("%q is not a personal number: %v", addressing.MaskPersonalNumbers(s), err)
	}
	return n, nil
}

// auditQuery is an export's filter as the CLI sends it to the daemon.
type auditQuery struct {
	Since  time.Time `json:"since,omitzero"`
	Until  time.Time `json:"until,omitzero"`
	Number string    `json:"pnr,omitempty"`
}

// staffLogin is an administrator's account and password, given with -as
// to sign an erasure or its approval.
type staffLogin struct {
	Account  string `json:"account,omitempty"`
	Password string `json:"password,omitempty"`
}

type gdprRequest struct {
	Number string     `json:"pnr,omitempty"`
	As     staffLogin `json:"as"`
}

// trailStore is what `sigill audit` and `sigill gdpr` need: the running
// daemon through its admin listener, or the vault file.
type trailStore interface {
	ExportAudit(q auditQuery) ([]audit.Entry, error)
	ExportPerson(pnr string) (audit.PersonExport, error)
	RequestErasure(pnr string, as staffLogin) (audit.ErasureRequest, error)
	ApproveErasure(id string, as staffLogin) (audit.ErasureRequest, error)
	ErasureRequests() ([]audit.ErasureRequest, error)
	Close() error
}

func (l vaultLocation) trail() (trailStore, error) {
	return daemonOrFile(l, func(a *adminClient) trailStore { return a }, func(f openFile) trailStore {
		return fileTrail{v: f.v, trail: f.trail, twoPerson: f.cfg.GDPR.TwoPerson, actor: cliActor(), closes: true}
	})
}

// fileTrail is trailStore on an open vault: the CLI's when no daemon runs,
// and the daemon's own behind its admin routes (one per request, with the
// caller as actor).
type fileTrail struct {
	v         *vault.Vault
	trail     *audit.Store
	twoPerson bool
	actor     string
	closes    bool
}

func (f fileTrail) ExportAudit(q auditQuery) ([]audit.Entry, error) {
	return f.trail.Export(context.Background(), audit.Filter{Since: q.Since, Until: q.Until, PersonalNumber: q.Number}, f.actor)
}

func (f fileTrail) ExportPerson(pnr string) (audit.PersonExport, error) {
	return f.trail.ExportPerson(context.Background(), pnr, f.actor)
}

func (f fileTrail) RequestErasure(pnr string, as staffLogin) (audit.ErasureRequest, error) {
	actor, err := f.signer(as)
	if err != nil {
		return audit.ErasureRequest{}, err
	}
	return f.trail.RequestErasure(context.Background(), pnr, actor, f.twoPerson)
}

func (f fileTrail) ApproveErasure(id string, as staffLogin) (audit.ErasureRequest, error) {
	actor, err := f.signer(as)
	if err != nil {
		return audit.ErasureRequest{}, err
	}
	return f.trail.ApproveErasure(context.Background(), id, actor)
}

func (f fileTrail) ErasureRequests() ([]audit.ErasureRequest, error) {
	return f.trail.ErasureRequests()
}

func (f fileTrail) Close() error {
	if f.closes {
		return f.v.Close()
	}
	return nil
}

var errNeedsAdmin = errors.New("gdpr.two_person is on: name the administrator with -as ACCOUNT (the password is read from standard input)")

// signer is who an erasure or its approval is by: with -as, an
// administrator whose password is right; without, the system user, which
// two-person approval does not take (two people need two accounts).
func (f fileTrail) signer(as staffLogin) (string, error) {
	if as.Account == "" {
		if f.twoPerson {
			return "", errNeedsAdmin
		}
		return f.actor, nil
	}
	a, err := f.v.CheckPassword(as.Account, as.Password)
	if err != nil {
		_ = f.trail.RecordStaffAudit(context.Background(), audit.StaffAudit{Actor: f.actor, Action: audit.ActionSignInFailed, Target: strings.ToLower(as.Account), Detail: "gdpr -as"})
		return "", fmt.Errorf("-as %s: %w", as.Account, err)
	}
	if !a.Admin {
		return "", fmt.Errorf("-as %s: not an administrator (sigill user admin)", a.Address)
	}
	return a.Address, nil
}

// The admin listener's routes: the same fileTrail on the daemon's vault.
// Numbers travel in request bodies, never in a URL.
func auditRoutes(private func(string, http.HandlerFunc), v *vault.Vault, trail *audit.Store, twoPerson bool) {
	at := func(r *http.Request) fileTrail {
		return fileTrail{v: v, trail: trail, twoPerson: twoPerson, actor: actorOf(r)}
	}
	private("POST /audit/export", func(w http.ResponseWriter, r *http.Request) {
		var q auditQuery
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&q); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		entries, err := at(r).ExportAudit(q)
		answerJSON(w, entries, err)
	})
	private("POST /gdpr/export", func(w http.ResponseWriter, r *http.Request) {
		var req gdprRequest
		json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req)
		exp, err := at(r).ExportPerson(req.Number)
		answerJSON(w, exp, err)
	})
	private("GET /gdpr/erasures", func(w http.ResponseWriter, r *http.Request) {
		list, err := at(r).ErasureRequests()
		answerJSON(w, list, err)
	})
	private("POST /gdpr/erasures", func(w http.ResponseWriter, r *http.Request) {
		var req gdprRequest
		json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req)
		done, err := at(r).RequestErasure(req.Number, req.As)
		answerJSON(w, done, err)
	})
	private("POST /gdpr/erasures/{id}/approve", func(w http.ResponseWriter, r *http.Request) {
		var req gdprRequest
		json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req)
		done, err := at(r).ApproveErasure(r.PathValue("id"), req.As)
		answerJSON(w, done, err)
	})
}

func (c *adminClient) getJSON(method, path string, body, into any) error {
	resp, err := c.do(method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(into)
}

func (c *adminClient) ExportAudit(q auditQuery) ([]audit.Entry, error) {
	var out []audit.Entry
	return out, c.getJSON(http.MethodPost, "/audit/export", q, &out)
}

func (c *adminClient) ExportPerson(pnr string) (audit.PersonExport, error) {
	var out audit.PersonExport
	return out, c.getJSON(http.MethodPost, "/gdpr/export", gdprRequest{Number: pnr}, &out)
}

func (c *adminClient) RequestErasure(pnr string, as staffLogin) (audit.ErasureRequest, error) {
	var out audit.ErasureRequest
	return out, c.getJSON(http.MethodPost, "/gdpr/erasures", gdprRequest{Number: pnr, As: as}, &out)
}

func (c *adminClient) ApproveErasure(id string, as staffLogin) (audit.ErasureRequest, error) {
	var out audit.ErasureRequest
	return out, c.getJSON(http.MethodPost, "/gdpr/erasures/"+id+"/approve", gdprRequest{As: as}, &out)
}

func (c *adminClient) ErasureRequests() ([]audit.ErasureRequest, error) {
	var out []audit.ErasureRequest
	return out, c.getJSON(http.MethodGet, "/gdpr/erasures", nil, &out)
}

func runAudit(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	c := newCLI("audit", `Usage: sigill audit export [-since T] [-until T] [-pnr NUMBER] [-format csv|json] [-config FILE | -data DIR]

Writes the audit trail to standard output, oldest first: every message
event (accepted, notified, delivered, each opened and denied with the
person's number, name, IP and user agent, expired, revoked, ...) and what
staff did (sign-ins and failures, second factor, API keys, exports,
erasures). T is a DURATION back from now (7d), a date (2026-12-01, Swedish
time) or a TIME (2026-12-24T12:00:00+01:00); -since is inclusive, -until
not. -pnr NUMBER is one person's trail: every event of the messages the
number may read or read or was refused, and the staff's actions about
the number. The export itself is recorded (audit.export). While sigill
runs, it goes through its admin listener.`, stdout, stderr)
	where := vaultFlags(c.fs)
	since := c.fs.String("since", "", "from this time on (inclusive)")
	until := c.fs.String("until", "", "up to this time (exclusive)")
	pnr := c.fs.String("pnr", "", "one personal number's trail")
	format := c.fs.String("format", "csv", "csv or json")
	positional, code, done := c.parse(args)
	if done {
		return code
	}
	if len(positional) == 0 || positional[0] != "export" {
		return c.fail("missing what to do: export")
	}
	if code, done := c.wantArgs(positional[1:], 0, ""); done {
		return code
	}
	var q auditQuery
	var err error
	now := time.Now()
	if *since != "" {
		if q.Since, err = parseAuditTime(*since, now); err != nil {
			return c.fail("-since: %v", err)
		}
	}
	if *until != "" {
		if q.Until, err = parseAuditTime(*until, now); err != nil {
			return c.fail("-until: %v", err)
		}
	}
	if *pnr != "" {
		if q.Number, err = parseNumber(*pnr); err != nil {
			return c.fail("-pnr: %v", err)
		}
	}
	if *format != "csv" && *format != "json" {
		return c.fail("-format %q: write csv or json", *format)
	}
	store, err := where.trail()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer store.Close()
	entries, err := store.ExportAudit(q)
	if err != nil {
		fmt.Fprintln(stderr, "sigill audit export:", err)
		return 1
	}
	if *format == "json" {
		err = audit.WriteJSON(stdout, entries)
	} else {
		err = audit.WriteCSV(stdout, entries)
	}
	if err != nil {
		fmt.Fprintln(stderr, "sigill audit export:", err)
		return 1
	}
	return 0
}

func runGDPR(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCLI("gdpr", `Usage: sigill gdpr export [-o FILE] PNR | erase [-as ADMIN] PNR | approve [-as ADMIN] ID | requests [-config FILE | -data DIR]

Data-subject requests by personal number (GDPR).
  export PNR      every message the number may read or read or was refused,
                  with its events, as JSON (standard output, or -o FILE).
                  No content: the gateway cannot decrypt a message without
                  its link, which it does not keep (see "content_note")
  erase PNR       take the number out of the store: out of recipients and
                  events (a pseudonym "erased:ID" stands in events), out of
                  the index; messages only that number could open are
                  shredded as at expiry. That the erasure happened, by whom
                  and when, is recorded. With gdpr.two_person = true it waits
                  for another administrator's approve
  approve ID      carry out a waiting erasure (another administrator)
  requests        list the erasure requests
-as ADMIN signs with an administrator account, whose password is read from
standard input; two-person approval needs it for erase and approve. While
sigill runs, it goes through its admin listener.`, stdout, stderr)
	where := vaultFlags(c.fs)
	out := c.fs.String("o", "", "export: write to FILE (0600) instead of standard output")
	as := c.fs.String("as", "", "erase, approve: the administrator account that signs")
	positional, code, done := c.parse(args)
	if done {
		return code
	}
	if len(positional) == 0 {
		return c.fail("missing what to do: export, erase, approve or requests")
	}
	verb, rest := positional[0], positional[1:]
	n, ok := map[string]int{"export": 1, "erase": 1, "approve": 1, "requests": 0}[verb]
	if !ok {
		return c.fail("%q is not something gdpr does; write export, erase, approve or requests", verb)
	}
	what := map[string]string{"export": "the personal number (PNR)", "erase": "the personal number (PNR)", "approve": "the ID of the request (see 'sigill gdpr requests')"}[verb]
	if code, done := c.wantArgs(rest, n, what); done {
		return code
	}
	var pnr string
	if verb == "export" || verb == "erase" {
		var err error
		if pnr, err = parseNumber(rest[0]); err != nil {
			return c.fail("%v", err)
		}
	}
	login := staffLogin{Account: *as}
	if *as != "" {
		pw, err := readOnePassword(stdin, stderr, "Password of "+*as+": ")
		if err != nil {
			fmt.Fprintln(stderr, "sigill gdpr:", err)
			return 1
		}
		login.Password = pw
	}
	store, err := where.trail()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer store.Close()
	switch verb {
	case "export":
		exp, err := store.ExportPerson(pnr)
		if err != nil {
			fmt.Fprintln(stderr, "sigill gdpr export:", err)
			return 1
		}
		w := stdout
		if *out != "" {
			f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				fmt.Fprintln(stderr, "sigill gdpr export:", err)
				return 1
			}
			defer f.Close()
			w = f
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(exp); err != nil {
			fmt.Fprintln(stderr, "sigill gdpr export:", err)
			return 1
		}
		fmt.Fprintf(stderr, "%d messages of %s; no content: %s\n", len(exp.Messages), addressing.Mask(pnr), "the gateway cannot decrypt messages without their links")
		return 0
	case "requests":
		list, err := store.ErasureRequests()
		if err != nil {
			fmt.Fprintln(stderr, "sigill gdpr requests:", err)
			return 1
		}
		for _, r := range list {
			fmt.Fprintln(stdout, describeErasure(r))
		}
		return 0
	}
	var req audit.ErasureRequest
	if verb == "erase" {
		req, err = store.RequestErasure(pnr, login)
	} else {
		req, err = store.ApproveErasure(rest[0], login)
	}
	if err != nil {
		fmt.Fprintf(stderr, "sigill gdpr %s: %v\n", verb, err)
		return 1
	}
	fmt.Fprintln(stdout, describeErasure(req))
	return 0
}

func describeErasure(r audit.ErasureRequest) string {
	if r.Pending() {
		return fmt.Sprintf("%s\twaiting for approval\t%s\tasked by %s %s; another administrator: sigill gdpr approve -as ADMIN %s", r.ID, r.Masked, r.RequestedBy, swedishTime(r.Requested), r.ID)
	}
	by := r.RequestedBy
	if r.ApprovedBy != "" {
		by += ", approved by " + r.ApprovedBy
	}
	return fmt.Sprintf("%s\terased %s\t%s\t%d recipient records, %d events pseudonymised as erased:%s; %d messages shredded", r.ID, swedishTime(r.Done), by, r.Recipients, r.Events, r.ID, len(r.Shredded))
}

// readOnePassword reads an existing password: from the terminal without
// echo, or one line of standard input.
func readOnePassword(stdin io.Reader, stderr io.Writer, prompt string) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, prompt)
		pw, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		return string(pw), err
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("no password on standard input: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// auditedAccounts records in the audit trail what `sigill user` changes,
// through either door: the CLI's on the vault file, the admin listener's
// for the running daemon.
type auditedAccounts struct {
	accountStore
	trail *audit.Store
	actor string
}

func (a auditedAccounts) note(err error, action, account, detail string) error {
	if err != nil {
		return err
	}
	return a.trail.RecordStaffAudit(context.Background(), audit.StaffAudit{Actor: a.actor, Action: action, Target: strings.ToLower(account), Detail: detail})
}

func (a auditedAccounts) AddAccount(address, password string) error {
	return a.note(a.accountStore.AddAccount(address, password), audit.ActionAccount, address, "added")
}
func (a auditedAccounts) AddAdmin(address, password string) error {
	return a.note(a.accountStore.AddAdmin(address, password), audit.ActionAccount, address, "added as administrator")
}
func (a auditedAccounts) SetPassword(address, password string) error {
	return a.note(a.accountStore.SetPassword(address, password), audit.ActionAccount, address, "password set")
}
func (a auditedAccounts) RemoveAccount(address string) error {
	return a.note(a.accountStore.RemoveAccount(address), audit.ActionAccount, address, "removed")
}
func (a auditedAccounts) SetDisabled(address string, disabled bool) error {
	return a.note(a.accountStore.SetDisabled(address, disabled), audit.ActionAccount, address, map[bool]string{true: "disabled", false: "enabled"}[disabled])
}
func (a auditedAccounts) EnrollTOTP(address string) (vault.TOTPEnrolment, error) {
	e, err := a.accountStore.EnrollTOTP(address)
	return e, a.note(err, audit.ActionSecondFactor, address, "totp enrolment started")
}
func (a auditedAccounts) ConfirmTOTP(address, code string) ([]string, error) {
	codes, err := a.accountStore.ConfirmTOTP(address, code)
	return codes, a.note(err, audit.ActionSecondFactor, address, "totp confirmed")
}
func (a auditedAccounts) RegenerateRecoveryCodes(address string) ([]string, error) {
	codes, err := a.accountStore.RegenerateRecoveryCodes(address)
	return codes, a.note(err, audit.ActionSecondFactor, address, "recovery codes made anew")
}
func (a auditedAccounts) ResetSecondFactor(address string) error {
	return a.note(a.accountStore.ResetSecondFactor(address), audit.ActionSecondFactor, address, "reset")
}
func (a auditedAccounts) CreateAppPassword(address, name string) (vault.AppPassword, string, error) {
	p, secret, err := a.accountStore.CreateAppPassword(address, name)
	return p, secret, a.note(err, audit.ActionAppPassword, address, "made "+p.ID)
}
func (a auditedAccounts) RevokeAppPassword(address, id string) error {
	return a.note(a.accountStore.RevokeAppPassword(address, id), audit.ActionAppPassword, address, "revoked "+id)
}

// auditedKeys records API keys made and revoked, through either door.
type auditedKeys struct {
	keyStore
	trail *audit.Store
	actor string
}

func (k auditedKeys) CreateKey(account, name string, scopes []string, perSecond float64) (apikey.Key, string, error) {
	made, secret, err := k.keyStore.CreateKey(account, name, scopes, perSecond)
	if err != nil {
		return made, secret, err
	}
	return made, secret, k.trail.RecordStaffAudit(context.Background(), audit.StaffAudit{Actor: k.actor, Action: audit.ActionAPIKeyCreated, Target: made.ID, Detail: fmt.Sprintf("for %s, scopes %s", made.Account, strings.Join(made.Scopes, ","))})
}

func (k auditedKeys) RevokeKey(id string) error {
	if err := k.keyStore.RevokeKey(id); err != nil {
		return err
	}
	return k.trail.RecordStaffAudit(context.Background(), audit.StaffAudit{Actor: k.actor, Action: audit.ActionAPIKeyRevoked, Target: id})
}

// loginFailed records a refused SMTP or IMAP login in the audit trail
// (staff.signin_failed, the login as vault.LoggableLogin names it). The
// login gate bounds how often it runs; a record that cannot be written is
// logged, and the refusal stands.
func loginFailed(trail *audit.Store, protocol string, log *slog.Logger) func(netip.Addr, string, string) {
	return func(ip netip.Addr, login, why string) {
		err := trail.RecordStaffAudit(context.Background(), audit.StaffAudit{Actor: login, Action: audit.ActionSignInFailed, IP: ip.String(), Detail: protocol + ": " + why})
		if err != nil {
			log.Error("recording a failed login", "protocol", protocol, "err", err)
		}
	}
}
