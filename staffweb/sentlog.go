package staffweb

import (
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigill/addressing"
	"sigill/vault"
	"sigill/vault/sentindex"
)

// The sent log: the signed-in account's messages, newest first, each with
// one status per recipient, searchable by errand, recipient and date, and
// as CSV. It reads package sentindex, as the REST API's list does, so the
// two never disagree.

func init() {
	mount(func(s *Server, mux *http.ServeMux) {
		s.handle(mux, "GET /messages", s.SignedIn(s.sentLog))
		s.handle(mux, "GET /messages.csv", s.SignedIn(s.sentLogCSV))
	})
	addTexts(map[string]string{
		"SentTitle":       "Skickade meddelanden",
		"SearchLegend":    "Sök",
		"SearchErrand":    "Ärende innehåller",
		"SearchRecipient": "Mottagare (mobilnummer, e-postadress eller personnummer)",
		"SearchFrom":      "Skickat från och med",
		"SearchUntil":     "Skickat till och med",
		"SearchButton":    "Sök",
		"SearchClear":     "Visa alla",
		"DateHint":        "ÅÅÅÅ-MM-DD",
		"FaultDate":       "%s är inget datum; skriv ÅÅÅÅ-MM-DD.",
		"ColSent":         "Skickat",
		"ColErrand":       "Ärende",
		"ColRecipients":   "Mottagare och status",
		"NoMessages":      "Inga meddelanden.",
		"Older":           "Äldre meddelanden",
		"ExportCSV":       "Hämta som CSV",
		"StatusQueued":    "Inte läst (aviseringen väntar)",
		"StatusNotified":  "Inte läst (aviserad)",
		"StatusDelivered": "Inte läst (aviseringen levererad)",
		"StatusFailed":    "Inte läst (aviseringen misslyckades)",
		"StatusDenied":    "Inte läst; nekad: %s",
		"StatusOpened":    "Öppnat av %s",
		"StatusExpired":   "Utgånget",
		"StatusRevoked":   "Återkallat",
		"CSVSent":         "skickat",
		"CSVMessage":      "meddelande",
		"CSVErrand":       "ärende",
		"CSVRecipient":    "mottagare",
		"CSVChannel":      "kanal",
		"CSVTo":           "till",
		"CSVStatus":       "status",
		"CSVStatusText":   "status i klartext",
		"CSVLastEvent":    "senaste händelse",
		"ChannelSMS":      "SMS",
		"ChannelEmail":    "e-post",
		"SomeoneUnnamed":  "okänd",
	}, map[string]string{
		"SentTitle":       "Sent messages",
		"SearchLegend":    "Search",
		"SearchErrand":    "Errand contains",
		"SearchRecipient": "Recipient (mobile number, e-mail address or personal number)",
		"SearchFrom":      "Sent from",
		"SearchUntil":     "Sent until",
		"SearchButton":    "Search",
		"SearchClear":     "Show all",
		"DateHint":        "YYYY-MM-DD",
		"FaultDate":       "%s is not a date; write YYYY-MM-DD.",
		"ColSent":         "Sent",
		"ColErrand":       "Errand",
		"ColRecipients":   "Recipients and status",
		"NoMessages":      "No messages.",
		"Older":           "Older messages",
		"ExportCSV":       "Download as CSV",
		"StatusQueued":    "Not read (notice waiting)",
		"StatusNotified":  "Not read (notified)",
		"StatusDelivered": "Not read (notice delivered)",
		"StatusFailed":    "Not read (notice failed)",
		"StatusDenied":    "Not read; denied: %s",
		"StatusOpened":    "Opened by %s",
		"StatusExpired":   "Expired",
		"StatusRevoked":   "Withdrawn",
		"CSVSent":         "sent",
		"CSVMessage":      "message",
		"CSVErrand":       "errand",
		"CSVRecipient":    "recipient",
		"CSVChannel":      "channel",
		"CSVTo":           "to",
		"CSVStatus":       "status",
		"CSVStatusText":   "status in words",
		"CSVLastEvent":    "last event",
		"ChannelSMS":      "SMS",
		"ChannelEmail":    "e-mail",
		"SomeoneUnnamed":  "unknown",
	})
}

// logPage is how many messages a page of the log shows.
const logPage = 50

// logSearch is the log's query: errand and recipient contain (without
// case), sent within [From, Until] in Swedish local dates.
type logSearch struct {
	Errand, Recipient, From, Until string
	from, until                    time.Time // zero: open
	Faults                         map[string]string
}

func (s *Server) readSearch(r *http.Request) logSearch {
	q := r.URL.Query()
	ls := logSearch{
		Errand: strings.TrimSpace(q.Get("q")), Recipient: strings.TrimSpace(q.Get("who")),
		From: strings.TrimSpace(q.Get("from")), Until: strings.TrimSpace(q.Get("until")),
		Faults: map[string]string{},
	}
	day := func(field, v string) time.Time {
		if v == "" {
			return time.Time{}
		}
		t, err := time.ParseInLocation("2006-01-02", v, s.stockholm)
		if err != nil {
			ls.Faults[field] = s.wordf(r, "FaultDate", v)
		}
		return t
	}
	ls.from = day("from", ls.From)
	if u := day("until", ls.Until); !u.IsZero() {
		ls.until = u.AddDate(0, 0, 1) // the whole day
	}
	return ls
}

// Query is the search as a URL query (for the next page and the CSV).
func (ls logSearch) Query() string {
	v := url.Values{}
	for k, s := range map[string]string{"q": ls.Errand, "who": ls.Recipient, "from": ls.From, "until": ls.Until} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v.Encode()
}

// Fault is a search field's fault ("" for none).
func (ls logSearch) Fault(field string) string { return ls.Faults[field] }

// Invalid is aria-invalid's value for a search field.
func (ls logSearch) Invalid(field string) string {
	if ls.Faults[field] != "" {
		return "true"
	}
	return "false"
}

func (ls logSearch) matches(m sentindex.Message) bool {
	if !ls.from.IsZero() && m.Created.Before(ls.from) {
		return false
	}
	if !ls.until.IsZero() && !m.Created.Before(ls.until) {
		return false
	}
	if ls.Errand != "" && !strings.Contains(strings.ToLower(m.Errand), strings.ToLower(ls.Errand)) {
		return false
	}
	if ls.Recipient == "" {
		return true
	}
	want := strings.ToLower(ls.Recipient)
	digits := onlyDigits(want)
	// A personal number in any of its written forms finds who may open.
	pnr, _ := addressing.ParsePersonalNumber(ls.Recipient, m.Created)
	for _, r := range m.Recipients {
		if pnr != "" && slices.Contains(r.Rcpt.Logins, pnr) {
			return true
		}
		if strings.Contains(strings.ToLower(r.Rcpt.To), want) || strings.Contains(strings.ToLower(r.Address), want) {
			return true
		}
		// A number searched as typed (070-123 45 67) finds +46701234567.
		if r.Rcpt.Channel == addressing.SMS && len(digits) >= 6 &&
			(strings.Contains(r.Rcpt.To, digits) || strings.Contains(r.Rcpt.To, strings.TrimPrefix(digits, "0"))) {
			return true
		}
	}
	return false
}

func onlyDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// owned reads the account's messages that match, newest first, after the
// id after, at most limit (0: all); next is the last id when more match.
// A search reads messages from the newest until it has a page of matches
// (the index has no other order): fine for the thousands of messages a
// clerk sends in a retention period, to be given an index of errands and
// recipients when an account holds far more.
func (s *Server) owned(owner, after string, ls logSearch, limit int) (msgs []sentindex.Message, next string, err error) {
	err = s.opt.Vault.View(sentindex.Tables, func(tx vault.Tx) error {
		ids, _, err := sentindex.Messages(tx, owner, after, nil, 0)
		if err != nil {
			return err
		}
		for _, id := range ids {
			m, err := sentindex.Read(tx, id)
			if errors.Is(err, vault.ErrNotFound) {
				continue // purged meanwhile
			}
			if err != nil {
				return err
			}
			if !ls.matches(m) {
				continue
			}
			if limit > 0 && len(msgs) == limit {
				next = msgs[len(msgs)-1].ID
				return nil
			}
			msgs = append(msgs, m)
		}
		return nil
	})
	return msgs, next, err
}

func ownerOf(sess *Session) string { return strings.ToLower(sess.Account.Address) }

// logRow is one message of the log.
type logRow struct {
	ID, Errand string
	Sent       time.Time
	Recipients []recipientStatus
}

// recipientStatus is one recipient's status as the log and the message
// page show it.
type recipientStatus struct {
	Index       int
	Channel, To string
	Status      string // the kind: a class for the style sheet, and CSV's status
	Text        string // in words: "Opened by Test Testsson 19990807-****"
	LastEvent   time.Time
}

type logData struct {
	Search logSearch
	Rows   []logRow
	Next   string
}

func (s *Server) sentLog(w http.ResponseWriter, r *http.Request, sess *Session) {
	ls := s.readSearch(r)
	d := logData{Search: ls}
	if len(ls.Faults) == 0 {
		msgs, next, err := s.owned(ownerOf(sess), r.URL.Query().Get("after"), ls, logPage)
		if err != nil {
			s.fail(w, r, "reading the sent log", err)
			return
		}
		d.Next = next
		t := textsFor(r, s.opt.DefaultLang)
		for _, m := range msgs {
			row := logRow{ID: m.ID, Errand: m.Errand, Sent: m.Created}
			for _, rc := range m.Recipients {
				row.Recipients = append(row.Recipients, statusOf(t, rc))
			}
			d.Rows = append(d.Rows, row)
		}
	}
	status := http.StatusOK
	if len(ls.Faults) > 0 {
		status = http.StatusUnprocessableEntity
	}
	s.render(w, r, sess, status, "messages", d)
}

// statusOf words a recipient's status: who opened it (the first to, by
// name and masked number, as the receipts name them) or was denied (the
// latest), else what became of the notice.
func statusOf(t texts, rc sentindex.Recipient) recipientStatus {
	st := recipientStatus{Index: rc.Index, Channel: string(rc.Rcpt.Channel), To: rc.Rcpt.To, Status: string(rc.Status)}
	if n := len(rc.Events); n > 0 {
		st.LastEvent = rc.Events[n-1].At
	}
	var opened, denied *vault.Event
	for i := range rc.Events {
		switch ev := &rc.Events[i]; ev.Kind {
		case vault.EventOpened:
			if opened == nil {
				opened = ev
			}
		case vault.EventDenied:
			denied = ev
		}
	}
	switch rc.Status {
	case vault.EventAccepted:
		st.Text = t["StatusQueued"]
	case vault.EventNotified:
		st.Text = t["StatusNotified"]
	case vault.EventDelivered:
		st.Text = t["StatusDelivered"]
	case vault.EventFailed:
		st.Text = t["StatusFailed"]
	case vault.EventDenied:
		st.Text = fmt.Sprintf(t["StatusDenied"], who(t, *denied))
	case vault.EventOpened:
		st.Text = fmt.Sprintf(t["StatusOpened"], who(t, *opened))
	case vault.EventExpired:
		st.Text = t["StatusExpired"]
	case vault.EventRevoked:
		st.Text = t["StatusRevoked"]
	default:
		st.Text = string(rc.Status)
	}
	return st
}

// who names the person of an open or a denial: name and masked number,
// "Test Testsson 19990807-****".
func who(t texts, ev vault.Event) string {
	name := strings.TrimSpace(ev.Name)
	if name == "" {
		name = t["SomeoneUnnamed"]
	}
	if ev.PersonalNumber == "" {
		return name
	}
	return name + " " + addressing.Mask(ev.PersonalNumber)
}

// sentLogCSV is the log as CSV, one row per recipient, every match (no
// pages), times in Swedish local time.
func (s *Server) sentLogCSV(w http.ResponseWriter, r *http.Request, sess *Session) {
	ls := s.readSearch(r)
	if len(ls.Faults) > 0 {
		s.sentLog(w, r, sess)
		return
	}
	msgs, _, err := s.owned(ownerOf(sess), "", ls, 0)
	if err != nil {
		s.fail(w, r, "reading the sent log", err)
		return
	}
	t := textsFor(r, s.opt.DefaultLang)
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="sigill-sent-`+s.opt.Now().In(s.stockholm).Format("20060102-1504")+`.csv"`)
	cw := csv.NewWriter(w)
	cw.Write([]string{t["CSVSent"], t["CSVMessage"], t["CSVErrand"], t["CSVRecipient"], t["CSVChannel"], t["CSVTo"], t["CSVStatus"], t["CSVStatusText"], t["CSVLastEvent"]})
	stamp := func(tm time.Time) string {
		if tm.IsZero() {
			return ""
		}
		return tm.In(s.stockholm).Format("2006-01-02 15:04:05")
	}
	for _, m := range msgs {
		for _, rc := range m.Recipients {
			st := statusOf(t, rc)
			cw.Write([]string{stamp(m.Created), m.ID, csvCell(m.Errand), strconv.Itoa(rc.Index), st.Channel, csvCell(st.To), st.Status, csvCell(st.Text), stamp(st.LastEvent)})
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		s.opt.Logger.Warn("staffweb: writing the CSV", "err", err)
	}
}

var phoneNumber = regexp.MustCompile(`^\+[0-9]+$`)

// csvCell keeps a cell that a spreadsheet would run as a formula (=, +,
// -, @, a TAB or CR first) from running: a leading ' shows it as text. A
// phone number in E.164 stays as it is.
func csvCell(v string) string {
	if v == "" || phoneNumber.MatchString(v) {
		return v
	}
	switch v[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + v
	}
	return v
}
