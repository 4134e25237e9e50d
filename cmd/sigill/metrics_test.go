package main

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"sigill/config"
)

// scrape reads /metrics into series → value; a series is written as
// Prometheus writes it, e.g. `sigill_auth_failures_total{protocol="smtp"}`.
func scrape(t *testing.T, admin string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	series := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		at := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[at+1:], 64); err == nil {
			series[line[:at]] = v
		}
	}
	return series
}

// After an SMTP, IMAP and reader exchange against `sigill dev`, every
// metric an admin alerts on is on /metrics with the value the exchange
// gives it.
func TestMetricsAfterAnExchange(t *testing.T) {
	data := t.TempDir()
	d := startDev(t, data)
	submission := d.addr(config.DevSubmissionPort)
	login := sasl.NewLoginClient(config.DevAccount, devPassword)

	// SMTP: two messages in; a recipient without login= and a Subject with
	// a personal number refused.
	allowedID, err := sendDev(submission, login, config.DevAccount, devRcpt, devMessage("Provsvar"))
	if err != nil {
		t.Fatal(err)
	}
	// Two logins, so BankID takes the order from anyone (with one, it
	// would take it only from that person) and sigill does the refusing.
	otherRcpt := "0701234568&login=198611239883&login=200211242383&@secure.test"
	deniedID, err := sendDev(submission, sasl.NewLoginClient(config.DevAccount, devPassword), config.DevAccount, otherRcpt, devMessage("Remissvar"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sendDev(submission, sasl.NewLoginClient(config.DevAccount, devPassword), config.DevAccount, "0701234567@secure.test", devMessage("x")); err == nil {
		t.Fatal("a recipient without login= was taken")
	}
	if _, err := sendDev(submission, sasl.NewLoginClient(config.DevAccount, devPassword), config.DevAccount, devRcpt, devMessage("Provsvar 19990807-2391")); err == nil {
		t.Fatal("a personal number in the Subject was taken")
	}

	// The reader: one opens, another is denied.
	if _, _, status := signInAtReader(t, d, waitForNotification(t, data, allowedID).Link, "199908072391"); status != "complete" {
		t.Fatalf("the allowed reader: %s", status)
	}
	if _, _, status := signInAtReader(t, d, waitForNotification(t, data, deniedID).Link, "199908072391"); status != "denied" {
		t.Fatalf("the other reader: %s", status)
	}

	// IMAP: one session stays logged in; one login fails.
	imapAddr := d.addr(config.DevIMAPPort)
	session, err := imapclient.DialInsecure(imapAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	if err := session.Login(config.DevAccount, devPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	wrong, err := imapclient.DialInsecure(imapAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := wrong.Login(config.DevAccount, "not the password").Wait(); err == nil {
		t.Fatal("IMAP took a wrong password")
	}
	wrong.Close()

	// SMTP AUTH: wrong passwords until the address is throttled (the gate
	// is shared with IMAP, which spent one of its failures).
	smtpAuth := func(password string) error {
		c, err := smtp.Dial(submission)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.Auth(sasl.NewPlainClient("", config.DevAccount, password))
	}
	for range 4 {
		if err := smtpAuth("not the password"); err == nil {
			t.Fatal("SMTP took a wrong password")
		}
	}
	if err := smtpAuth(devPassword); err == nil || !strings.Contains(err.Error(), "Too many failed logins") {
		t.Fatalf("the sixth login in a row: %v; want it throttled", err)
	}

	admin := d.addr(config.DevAdminPort)
	if resp, err := http.Get("http://" + admin + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
		body := ""
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			body = string(b)
		}
		t.Fatalf("/readyz of sigill dev: %v %s", err, body)
	}
	m := scrape(t, admin)
	for _, want := range []struct {
		series   string
		min, max float64
	}{
		{`sigill_smtp_recipients_refused_total{reason="no_login"}`, 1, 1},
		{`sigill_smtp_recipients_refused_total{reason="not_our_domain"}`, 0, 0},
		{`sigill_smtp_messages_refused_total{reason="personal_number_in_subject"}`, 1, 1},
		{`sigill_smtp_messages_refused_total{reason="too_large"}`, 0, 0},
		{`sigill_smtp_messages_accepted_total{listener="submission"}`, 2, 2},
		{`sigill_auth_failures_total{protocol="smtp"}`, 4, 4},
		{`sigill_auth_failures_total{protocol="imap"}`, 1, 1},
		{`sigill_auth_throttled_total{protocol="smtp"}`, 1, 1},
		{`sigill_auth_throttled_total{protocol="imap"}`, 0, 0},
		{`sigill_bankid_orders_started_total`, 2, 2},
		{`sigill_bankid_orders_total{hint="",outcome="complete"}`, 2, 2},
		{`sigill_bankid_orders_total{hint="",outcome="cancelled"}`, 0, 0},
		{`sigill_reader_opens_total`, 1, 1},
		{`sigill_reader_denials_total{reason="not_allowed"}`, 1, 1},
		{`sigill_reader_denials_total{reason="risk_high"}`, 0, 0},
		{`sigill_reader_requests_total{code="200"}`, 6, 1000},
		{`sigill_notifier_sends_total{provider="log",result="ok"}`, 2, 2},
		{`sigill_notifier_receipts_sent_total`, 0, 0}, // dev files receipts in IMAP only
		{`sigill_imap_sessions`, 1, 1},
		{`sigill_dependency_up{dependency="store"}`, 1, 1},
		{`sigill_dependency_up{dependency="bankid"}`, 1, 1},
	} {
		got, ok := m[want.series]
		if !ok {
			t.Errorf("/metrics has no %s", want.series)
		} else if got < want.min || got > want.max {
			t.Errorf("%s = %v; want %v to %v", want.series, got, want.min, want.max)
		}
	}
	if t.Failed() {
		var names []string
		for s := range m {
			if strings.HasPrefix(s, "sigill_") {
				names = append(names, s)
			}
		}
		t.Logf("sigill's series: %s", strings.Join(names, "\n"))
	}
}
