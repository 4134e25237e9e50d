package staffweb

import (
	"context"
	"encoding/csv"
	"html"
	"net/http"
	"strings"
	"testing"

	"sigill/audit"
	"sigill/vault"
)

func TestSentLogShowsWhoHasAndHasNotRead(t *testing.T) {
	e := sendingEnv(t)
	b := e.browser()
	b.signIn(staffAddr, nil)
	first := b.sendOne("Provsvar", "0701234567 199908072391", "anna.svensson@example.com *")
	e.clock.Advance(20 * 60e9) // within the session's idle timeout
	b.get("/messages")
	e.clock.Advance(10 * 60e9) // 10:30 in Stockholm
	second := b.sendOne("Remissvar", "0701234568 198611239883")

	log := b.get("/messages")
	if log.status != 200 || strings.Count(log.body, "Not read (notice waiting)") != 3 {
		t.Fatalf("GET /messages: %d %s", log.status, log.body)
	}
	if strings.Index(log.body, "Remissvar") > strings.Index(log.body, "Provsvar") {
		t.Error("the log is not newest first")
	}
	// Swedish local time: 09:00 UTC on 28 November is 10:00 in Stockholm.
	if !strings.Contains(log.body, `<time datetime="2026-11-28T10:00:00&#43;01:00">28 November 2026 at 10:00</time>`) {
		t.Errorf("the log's times are not Swedish local time: %s", log.body)
	}

	e.record(vault.Event{MessageID: first, Recipient: 0, Kind: vault.EventNotified, Detail: "46elks"})
	e.record(vault.Event{MessageID: first, Recipient: 0, Kind: vault.EventOpened, PersonalNumber: "199908072391", Name: "Test Testsson"})
	e.record(vault.Event{MessageID: first, Recipient: 0, Kind: vault.EventDelivered}) // late: hides no open
	e.record(vault.Event{MessageID: second, Recipient: 0, Kind: vault.EventDenied, PersonalNumber: "200211242383", Name: "Anna Andersson"})
	log = b.get("/messages")
	log.body = html.UnescapeString(log.body)
	for _, want := range []string{
		`<li data-status="opened">+46701234567: <span class="status">Opened by Test Testsson 19990807-****</span></li>`,
		`<li data-status="accepted">anna.svensson@example.com: <span class="status">Not read (notice waiting)</span></li>`,
		`<li data-status="denied">+46701234568: <span class="status">Not read; denied: Anna Andersson 20021124-****</span></li>`,
	} {
		if !strings.Contains(log.body, want) {
			t.Errorf("the log lacks %s\n%s", want, log.body)
		}
	}
	if strings.Contains(log.body, "199908072391") || strings.Contains(log.body, "200211242383") {
		t.Error("the log shows a whole personal number")
	}

	// Search by errand, by recipient as typed, by date.
	for query, want := range map[string][]string{
		"q=remiss":                         {"Remissvar"},
		"who=070-123+45+67":                {"Provsvar"},
		"who=19861123-9883":                {"Remissvar"},
		"who=anna.svensson":                {"Provsvar"},
		"from=2026-11-28&until=2026-11-28": {"Provsvar", "Remissvar"},
		"from=2026-11-29":                  nil,
	} {
		a := b.get("/messages?" + query)
		for _, errand := range []string{"Provsvar", "Remissvar"} {
			listed := strings.Contains(a.body, ">"+errand+"</a>")
			if listed != contains(want, errand) {
				t.Errorf("?%s: %s listed %v", query, errand, listed)
			}
		}
	}
	if a := b.get("/messages?from=28/11"); a.status != http.StatusUnprocessableEntity ||
		!strings.Contains(a.body, "28/11 is not a date; write YYYY-MM-DD.") || !strings.Contains(a.body, `aria-invalid="true"`) {
		t.Errorf("a wrong date: %d %s", a.status, a.body)
	}

	// The CSV: one row per recipient, every match.
	a := b.get("/messages.csv?q=prov")
	rows, err := csv.NewReader(strings.NewReader(a.body)).ReadAll()
	if err != nil || a.header.Get("Content-Type") != "text/csv; charset=utf-8" || len(rows) != 3 {
		t.Fatalf("CSV: %v %q %s", err, a.header.Get("Content-Type"), a.body)
	}
	if got := strings.Join(rows[1], "|"); got != "2026-11-28 10:00:00|"+first+"|Provsvar|0|sms|+46701234567|opened|Opened by Test Testsson 19990807-****|2026-11-28 10:30:00" {
		t.Errorf("CSV row: %s", got)
	}

	// Another account sees none of it.
	if err := e.v.AddAccount("bo@staff.test", staffPassword); err != nil {
		t.Fatal(err)
	}
	bo := e.browser()
	bo.signIn("bo@staff.test", nil)
	if a := bo.get("/messages"); strings.Contains(a.body, "Provsvar") || !strings.Contains(a.body, "No messages.") {
		t.Errorf("another account's log: %s", a.body)
	}
	if a := bo.get("/messages/" + first); a.status != http.StatusNotFound {
		t.Errorf("another account's message: %d", a.status)
	}
	if a := bo.post("/messages/"+first+"/revoke", nil); a.status != http.StatusNotFound {
		t.Errorf("another account withdraws: %d", a.status)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestCSVCellsDoNotRunAsFormulas(t *testing.T) {
	for in, want := range map[string]string{
		"=HYPERLINK(\"x\")": "'=HYPERLINK(\"x\")",
		"+46701234567":      "+46701234567",
		"+1+2":              "'+1+2",
		"@SUM(A1)":          "'@SUM(A1)",
		"Provsvar":          "Provsvar",
	} {
		if got := csvCell(in); got != want {
			t.Errorf("csvCell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMessagePageTimelineAndWithdraw(t *testing.T) {
	e := sendingEnv(t)
	b := e.browser()
	b.signIn(staffAddr, nil)
	id := b.sendOne("Provsvar", "0701234567 199908072391 19861123*", "anna.svensson@example.com *")
	tokens := map[int]string{}
	jobs, _ := e.v.PendingJobs()
	for _, j := range jobs {
		tokens[j.Recipient] = j.Token
	}
	e.record(vault.Event{MessageID: id, Kind: vault.EventNotified, Detail: "46elks"})
	for range 2 { // every open is an event
		e.record(vault.Event{MessageID: id, Kind: vault.EventOpened, PersonalNumber: "199908072391", Name: "Test Testsson"})
	}
	e.record(vault.Event{MessageID: id, Kind: vault.EventDenied, PersonalNumber: "200211242383", Name: "Anna Andersson"})
	e.record(vault.Event{MessageID: id, Kind: vault.EventReplied, PersonalNumber: "199908072391", Name: "Test Testsson"}) // changes no status
	e.record(vault.Event{MessageID: id, Kind: vault.EventExpiryChanged, By: "admin", Detail: "from … to …"})

	page := b.get("/messages/" + id)
	page.body = html.UnescapeString(page.body)
	for _, want := range []string{
		"<h1>Provsvar</h1>",
		"Notice sent via 46elks",
		"Denied: Anna Andersson 20021124-**** tried to open it",
		"Answered by Test Testsson 19990807-**** (the answer is in your mailbox)",
		"Lifetime changed by admin</li>",
		"<dd>19990807-****, born 1986-11-23</dd>",
		"<dd>0701234567&login=19990807-****&login=19861123*&lang=sv&@secure.test</dd>",
		`<dd class="status" data-status="opened" aria-live="polite">Opened by Test Testsson 19990807-****</dd>`,
		`<input type="hidden" name="recipient" value="1">`,
		"Withdraw for every recipient",
	} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the message page lacks %s", want)
		}
	}
	if n := strings.Count(page.body, "Opened by Test Testsson 19990807-****</li>"); n != 2 {
		t.Errorf("%d opens in the timeline, want 2", n)
	}
	if strings.Contains(page.body, "199908072391") {
		t.Error("the page shows a whole personal number")
	}

	// A reason with a personal number is refused next to its field (it
	// shows in receipts), what was typed kept; nothing is withdrawn.
	a := b.post("/messages/"+id+"/revoke", map[string][]string{"recipient": {"1"}, "reason": {"Fel person, 19990807-2391"}})
	if body := html.UnescapeString(a.body); a.status != http.StatusUnprocessableEntity ||
		!strings.Contains(body, `<p class="error" id="reason-1-error">The reason was refused: it holds a personal number (19990807-****)`) ||
		!strings.Contains(body, `value="Fel person, 19990807-2391" aria-invalid="true" aria-describedby="reason-1-error"`) {
		t.Errorf("a reason with a personal number: %d %s", a.status, body)
	}
	if link := reLangLink.FindString(a.body); !strings.HasPrefix(link, `href="/messages/`+id+`?lang=`) {
		t.Errorf("the refused withdrawal's page switches language at %s, want its message's page", link)
	}
	if state, _, _ := e.v.Lookup(tokens[1]); state == vault.LinkRevoked {
		t.Error("a refused withdrawal withdrew the link")
	}
	// Withdraw the second recipient: its link says so, the first's opens.
	a = b.post("/messages/"+id+"/revoke", map[string][]string{"recipient": {"1"}, "reason": {"Fel mottagare"}})
	if a.status != http.StatusSeeOther || a.location != "/messages/"+id {
		t.Fatalf("withdraw: %d → %s", a.status, a.location)
	}
	if state, _, _ := e.v.Lookup(tokens[1]); state != vault.LinkRevoked {
		t.Errorf("the withdrawn link is %v", state)
	}
	if state, _, _ := e.v.Lookup(tokens[0]); state == vault.LinkRevoked {
		t.Error("the other recipient's link is withdrawn too")
	}
	page = b.get("/messages/" + id)
	if !strings.Contains(page.body, "The message has been withdrawn.") || !strings.Contains(page.body, `data-status="revoked" aria-live="polite">Withdrawn</dd>`) ||
		!strings.Contains(page.body, "Withdrawn by anna@staff.test: Fel mottagare") || strings.Contains(page.body, `name="recipient" value="1"`) {
		t.Errorf("after withdrawing: %s", page.body)
	}
	if a := b.post("/messages/"+id+"/revoke", map[string][]string{"recipient": {"7"}}); a.status != http.StatusBadRequest {
		t.Errorf("an index out of range: %d", a.status)
	}
	// Without recipient: every one; the one withdrawn before is not again.
	b.post("/messages/"+id+"/revoke", nil)
	events, _ := e.v.Events(id)
	revoked := 0
	for _, ev := range events {
		if ev.Kind == vault.EventRevoked {
			revoked++
		}
	}
	if state, _, _ := e.v.Lookup(tokens[0]); state != vault.LinkRevoked || revoked != 2 {
		t.Errorf("withdrawing all: link %v, %d revoked events", state, revoked)
	}
	// Each look at the page is in the audit trail, with the message's id.
	entries, err := e.trail.Export(context.Background(), audit.Filter{}, "cli:test")
	if err != nil {
		t.Fatal(err)
	}
	looks := 0
	for _, en := range entries {
		if en.Action == audit.ActionMessageViewed && en.Target == id && en.Actor == staffAddr && en.Detail == "staff web: message page" {
			looks++
		}
	}
	if looks != 2 { // the page before and after the withdrawal
		t.Errorf("%d looks at the message page in the audit trail, want 2", looks)
	}
	if a := b.get("/messages/nosuchid"); a.status != http.StatusNotFound {
		t.Errorf("an unknown id: %d", a.status)
	}
}
