package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"sigill/config"
)

// A From header nobody vouched for, through the dev binary: a staff member
// (submission) and a relay peer each write From: "Region Chef"
// <chef@region.example>. The notice names the organisation and the sender
// the gateway vouches for — the account, or the relay's envelope sender —
// and the page shows that sender, with the forged one only as "on behalf
// of" (smtp.from_header's default).
func TestForgedFromShowsTheVouchedSender(t *testing.T) {
	data := t.TempDir()
	d := startDev(t, data)
	const forged = `"Region Chef" <chef@region.example>`
	msg := func(subject string) string {
		return "From: " + forged + "\r\nTo: <" + devRcpt + ">\r\nSubject: " + subject +
			"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHej! Ring oss.\r\n"
	}
	submitted, err := sendDev(d.addr(config.DevSubmissionPort), sasl.NewLoginClient(config.DevAccount, devPassword), config.DevAccount, devRcpt, msg("Kallelse"))
	if err != nil {
		t.Fatal(err)
	}
	const relaySender = "clinic@staff.test"
	c, err := smtp.Dial(d.addr(config.DevRelayPort))
	if err != nil {
		t.Fatal(err)
	}
	relayed, err := transact(c, relaySender, devRcpt, msg("Beslut"))
	c.Close()
	if err != nil {
		t.Fatal(err)
	}

	for _, m := range []struct{ id, vouched string }{{submitted, config.DevAccount}, {relayed, relaySender}} {
		note := waitForNotification(t, data, m.id)
		if !strings.HasPrefix(note.Text, "sigill dev ("+m.vouched+"): ") || strings.Contains(note.Text, "Chef") || strings.Contains(note.Text, "region.example") {
			t.Errorf("notice %q: wants the organisation and %s, and nothing of the From header", note.Text, m.vouched)
		}
		resp, err := http.Get(note.Link)
		if err != nil {
			t.Fatal(err)
		}
		landing, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(landing), "<dd>"+m.vouched+"</dd>") || strings.Contains(string(landing), "Chef") {
			t.Errorf("the landing page does not name %s alone:\n%s", m.vouched, landing)
		}
		web, _ := signInByLink(t, d, note.Link, "199908072391")
		var opened struct {
			From       string
			OnBehalfOf string `json:"on_behalf_of"`
		}
		getJSON(t, web, "GET", note.Link+"/message.json", &opened)
		if opened.From != m.vouched || opened.OnBehalfOf != "Region Chef <chef@region.example>" {
			t.Errorf("message.json from %q, on_behalf_of %q; want %s on behalf of the forged From", opened.From, opened.OnBehalfOf, m.vouched)
		}
		resp, err = web.Get(note.Link)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(page), "<dt>Från</dt><dd>"+m.vouched+"</dd>") || !strings.Contains(string(page), "<dt>På uppdrag av</dt><dd>Region Chef &lt;chef@region.example&gt;") {
			t.Errorf("the message page does not show %s on behalf of the forged From:\n%s", m.vouched, page)
		}
	}
}
