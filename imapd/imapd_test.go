package imapd

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"sigill/internal/authgate"
	"sigill/internal/testenv"
	"sigill/vault"
)

func TestFetch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	id := e.send(anna, anna, "Provsvar")
	e.record(id, vault.EventDelivered, "", "")
	e.record(id, vault.EventOpened, pn1, "Anna Andersson")

	c, sel := e.login(anna, annaPass, nil)
	if sel.NumMessages != 2 || sel.UIDNext != 3 || sel.UIDValidity == 0 {
		t.Fatalf("select: %+v", sel)
	}
	body := &imap.FetchItemBodySection{Peek: true}
	msgs := fetch(t, c, imap.SeqSetNum(1, 2), &imap.FetchOptions{
		UID: true, Flags: true, Envelope: true, RFC822Size: true, InternalDate: true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true}, BodySection: []*imap.FetchItemBodySection{body},
	})
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	for i, m := range msgs {
		want := e.want(anna, uint32(i+1))
		got := m.FindBodySection(body)
		if m.UID != imap.UID(i+1) || !bytes.Equal(got, want) || m.RFC822Size != int64(len(want)) {
			t.Errorf("message %d: UID %d, size %d, %d bytes; want %d bytes", i+1, m.UID, m.RFC822Size, len(got), len(want))
		}
		if hasFlag(m.Flags, imap.FlagSeen) {
			t.Errorf("message %d is \\Seen before it was read", i+1)
		}
		if m.Envelope == nil || len(m.Envelope.InReplyTo) != 1 || m.Envelope.InReplyTo[0] != "Provsvar@kommun.test" {
			t.Errorf("envelope %+v", m.Envelope)
		}
		mp, ok := m.BodyStructure.(*imap.BodyStructureMultiPart)
		if !ok || mp.Subtype != "report" || len(mp.Children) != 2 {
			t.Errorf("body structure %#v", m.BodyStructure)
		}
	}
	if s := msgs[1].Envelope.Subject; s != "Läst: Provsvar — Anna Andersson 19990807-****" {
		t.Errorf("subject %q", s)
	}
	if s := msgs[0].Envelope.Subject; !strings.HasPrefix(s, "Levererat: Provsvar") {
		t.Errorf("subject %q", s)
	}

	// BODY.PEEK[] left \Seen alone; BODY[] sets it, and says so.
	msgs = fetch(t, c, imap.UIDSetNum(2), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}})
	if len(msgs) != 1 || !hasFlag(msgs[0].Flags, imap.FlagSeen) {
		t.Fatalf("after BODY[]: %+v", msgs)
	}
	msgs = fetch(t, c, imap.SeqSetNum(1, 2), &imap.FetchOptions{Flags: true})
	if hasFlag(msgs[0].Flags, imap.FlagSeen) || !hasFlag(msgs[1].Flags, imap.FlagSeen) {
		t.Errorf("flags %v %v", msgs[0].Flags, msgs[1].Flags)
	}

	// A part, a header field and BINARY.
	part := &imap.FetchItemBodySection{Part: []int{2}, Peek: true}
	hdr := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Auto-Submitted"}, Peek: true}
	msgs = fetch(t, c, imap.SeqSetNum(2), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{part, hdr}})
	if got := string(msgs[0].FindBodySection(part)); !strings.Contains(got, "Disposition: automatic-action/MDN-sent-automatically; displayed") {
		t.Errorf("part 2:\n%s", got)
	}
	if got := string(msgs[0].FindBodySection(hdr)); got != "Auto-Submitted: auto-replied\r\n\r\n" {
		t.Errorf("header field: %q", got)
	}
}

func TestSeenPersists(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	id := e.send(anna, anna, "Beslut")
	e.record(id, vault.EventOpened, pn1, "Anna Andersson")
	e.record(id, vault.EventDelivered, "", "")

	c, sel := e.login(anna, annaPass, nil)
	validity := sel.UIDValidity
	fetch(t, c, imap.UIDSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}})
	if _, err := c.Store(imap.UIDSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged, "$label1"}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	c.Logout().Wait()

	check := func(when string, c *imapclient.Client) {
		t.Helper()
		msgs := fetch(t, c, imap.SeqSetNum(1, 2), &imap.FetchOptions{UID: true, Flags: true})
		if len(msgs) != 2 || !hasFlag(msgs[0].Flags, imap.FlagSeen) || hasFlag(msgs[0].Flags, imap.FlagFlagged) ||
			hasFlag(msgs[1].Flags, imap.FlagSeen) || !hasFlag(msgs[1].Flags, imap.FlagFlagged) || hasFlag(msgs[1].Flags, "$label1") {
			t.Errorf("%s: %v / %v", when, msgs[0].Flags, msgs[1].Flags)
		}
	}
	c, _ = e.login(anna, annaPass, nil)
	check("next session", c)
	c.Logout().Wait()

	e.restart()
	c, sel = e.login(anna, annaPass, nil)
	check("after restart", c)
	if sel.UIDValidity != validity || sel.UIDNext != 3 || sel.NumMessages != 2 {
		t.Errorf("after restart: %+v, UIDVALIDITY was %d", sel, validity)
	}
	// UIDs keep growing across restarts.
	e.record(id, vault.EventExpired, "", "")
	waitExists(t, c, 3)
	msgs := fetch(t, c, imap.SeqSetNum(3), &imap.FetchOptions{UID: true})
	if len(msgs) != 1 || msgs[0].UID != 3 {
		t.Errorf("new receipt after restart: %+v", msgs)
	}
}

func TestUIDValidityStable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	// The first SELECT fixes UIDVALIDITY, before any receipt exists…
	c, sel := e.login(bo, boPass, nil)
	if sel.NumMessages != 0 || sel.UIDNext != 1 || sel.UIDValidity == 0 {
		t.Fatalf("empty: %+v", sel)
	}
	c.Logout().Wait()
	// …and the first receipt keeps it.
	id := e.send(bo, bo, "Kallelse")
	e.record(id, vault.EventDelivered, "", "")
	e.restart()
	_, sel2 := e.login(bo, boPass, nil)
	if sel2.UIDValidity != sel.UIDValidity || sel2.NumMessages != 1 || sel2.UIDNext != 2 {
		t.Errorf("after a receipt and a restart: %+v, was %+v", sel2, sel)
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	id := e.send(anna, anna, "Remiss")
	e.record(id, vault.EventDelivered, "", "")
	c, _ := e.login(anna, annaPass, nil)

	refusal(t, "CREATE", c.Create("Archive", nil).Wait(), imap.ResponseCodeCannot, "only INBOX")
	refusal(t, "DELETE", c.Delete("INBOX").Wait(), imap.ResponseCodeCannot, "cannot be deleted")
	refusal(t, "RENAME", c.Rename("INBOX", "Old", nil).Wait(), imap.ResponseCodeCannot, "only INBOX")
	_, err := c.Copy(imap.SeqSetNum(1), "INBOX").Wait()
	refusal(t, "COPY", err, imap.ResponseCodeCannot, "only INBOX")
	_, err = c.Move(imap.SeqSetNum(1), "Trash").Wait()
	refusal(t, "MOVE", err, imap.ResponseCodeCannot, "audit trail")
	_, err = c.Expunge().Collect()
	refusal(t, "EXPUNGE", err, imap.ResponseCodeCannot, "audit trail")
	_, err = c.UIDExpunge(imap.UIDSetNum(1)).Collect()
	refusal(t, "UID EXPUNGE", err, imap.ResponseCodeCannot, "audit trail")
	_, err = c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect()
	refusal(t, `STORE \Deleted`, err, imap.ResponseCodeCannot, `\Deleted`)
	msg := []byte("Subject: x\r\n\r\nx\r\n")
	ac := c.Append("INBOX", int64(len(msg)), nil)
	ac.Write(msg)
	ac.Close()
	_, err = ac.Wait()
	refusal(t, "APPEND", err, imap.ResponseCodeCannot, "only the receipts")
	_, err = c.Select("Sent", nil).Wait()
	refusal(t, "SELECT Sent", err, imap.ResponseCodeNonExistent, "only INBOX")
	_, err = c.Status("Drafts", &imap.StatusOptions{NumMessages: true}).Wait()
	refusal(t, "STATUS Drafts", err, imap.ResponseCodeNonExistent, "only INBOX")

	// Nothing changed, and flags still can.
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Collect()
	if err != nil || len(msgs) != 1 || !hasFlag(msgs[0].Flags, imap.FlagFlagged) || hasFlag(msgs[0].Flags, imap.FlagDeleted) {
		t.Fatalf("STORE \\Flagged: %v %+v", err, msgs)
	}
	// CLOSE works: it expunges nothing.
	if err := c.UnselectAndExpunge().Wait(); err != nil {
		t.Errorf("CLOSE: %v", err)
	}
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true, UIDNext: true, NumUnseen: true}).Wait()
	if err != nil || *st.NumMessages != 1 || st.UIDNext != 2 || *st.NumUnseen != 1 {
		t.Errorf("status: %v %+v", err, st)
	}
	list, err := c.List("", "*", nil).Collect()
	if err != nil || len(list) != 1 || list[0].Mailbox != "INBOX" {
		t.Errorf("LIST: %v %+v", err, list)
	}
}

func TestExamine(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	id := e.send(anna, anna, "Intyg")
	e.record(id, vault.EventDelivered, "", "")
	c := e.dial(nil)
	if err := c.Login(anna, annaPass).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs := fetch(t, c, imap.SeqSetNum(1), &imap.FetchOptions{Flags: true, BodySection: []*imap.FetchItemBodySection{{}}})
	if hasFlag(msgs[0].Flags, imap.FlagSeen) {
		t.Error("BODY[] after EXAMINE set \\Seen")
	}
	_, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Collect()
	refusal(t, "STORE after EXAMINE", err, imap.ResponseCodeCannot, "EXAMINE")
}

func TestAccountsApart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	a := e.send(anna, anna, "Annas")
	e.record(a, vault.EventDelivered, "", "")
	b := e.send(bo, bo, "Bos")
	e.record(b, vault.EventDelivered, "", "")
	e.record(b, vault.EventDenied, pn3, "Per Persson")
	// Relayed mail: the receipts go to the account with the sender's address.
	r := e.send("", "Bo@Staff.Test", "Relayed")
	e.record(r, vault.EventDelivered, "", "")
	// And to nobody when no account has it.
	x := e.send("", "someone@elsewhere.test", "Nobody")
	e.record(x, vault.EventDelivered, "", "")

	for _, acct := range []struct {
		user, pass string
		errands    []string
	}{
		{anna, annaPass, []string{"Annas"}},
		{bo, boPass, []string{"Bos", "Bos", "Relayed"}},
	} {
		c, sel := e.login(acct.user, acct.pass, nil)
		if int(sel.NumMessages) != len(acct.errands) {
			t.Errorf("%s sees %d receipts, want %d", acct.user, sel.NumMessages, len(acct.errands))
			continue
		}
		msgs := fetch(t, c, imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{Envelope: true, UID: true})
		for i, m := range msgs {
			if !strings.Contains(m.Envelope.Subject, ": "+acct.errands[i]) {
				t.Errorf("%s message %d: %q", acct.user, i+1, m.Envelope.Subject)
			}
		}
		// A UID of the other account's mailbox is not there.
		if got := fetch(t, c, imap.UIDSetNum(4, 5, 6), &imap.FetchOptions{UID: true}); len(got) != 0 {
			t.Errorf("%s fetched UIDs 4-6: %d messages", acct.user, len(got))
		}
		c.Logout().Wait()
	}
	// The relay sender's account is made later: its receipt is there.
	if err := e.v.AddAccount("someone@elsewhere.test", "pw-someone"); err != nil {
		t.Fatal(err)
	}
	_, sel := e.login("someone@elsewhere.test", "pw-someone", nil)
	if sel.NumMessages != 1 {
		t.Errorf("late account sees %d receipts", sel.NumMessages)
	}
}

func TestSearch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	id := e.send(anna, anna, "Provsvar")
	e.record(id, vault.EventDelivered, "", "")
	e.record(id, vault.EventOpened, pn1, "Anna Andersson")
	e.record(id, vault.EventDenied, pn3, "Per Persson")
	c, _ := e.login(anna, annaPass, nil)
	fetch(t, c, imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}) // \Seen

	for _, tc := range []struct {
		name string
		c    imap.SearchCriteria
		want []uint32
	}{
		{"ALL", imap.SearchCriteria{}, []uint32{1, 2, 3}},
		{"UNSEEN", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, []uint32{2, 3}},
		{"SEEN", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, []uint32{1}},
		{"DELETED", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagDeleted}}, nil},
		{"HEADER Auto-Submitted", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Auto-Submitted", Value: "auto-replied"}}}, []uint32{1, 2, 3}},
		{"SUBJECT Läst", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "läst"}}}, []uint32{2}},
		{"BODY whole number", imap.SearchCriteria{Body: []string{"20021124-2383"}}, []uint32{3}},
		{"TEXT Disposition", imap.SearchCriteria{Text: []string{"MDN-sent-automatically"}}, []uint32{2}},
		{"SINCE", imap.SearchCriteria{Since: time.Now().Add(-48 * time.Hour)}, []uint32{1, 2, 3}},
		{"BEFORE", imap.SearchCriteria{Before: time.Now().Add(-48 * time.Hour)}, nil},
		{"UID 2:*", imap.SearchCriteria{UID: []imap.UIDSet{{imap.UIDRange{Start: 2, Stop: 0}}}}, []uint32{2, 3}},
		{"NOT 1", imap.SearchCriteria{Not: []imap.SearchCriteria{{SeqNum: []imap.SeqSet{imap.SeqSetNum(1)}}}}, []uint32{2, 3}},
		{"OR", imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{SeqNum: []imap.SeqSet{imap.SeqSetNum(1)}}, {Body: []string{"Per Persson"}}}}}, []uint32{1, 3}},
		{"LARGER 1", imap.SearchCriteria{Larger: 1}, []uint32{1, 2, 3}},
	} {
		data, err := c.UIDSearch(&tc.c, nil).Wait()
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		var got []uint32
		for _, u := range data.AllUIDs() {
			got = append(got, uint32(u))
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestIdle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	id := e.send(anna, anna, "Provsvar")
	e.record(id, vault.EventDelivered, "", "")
	exists := make(chan uint32, 8)
	c, _ := e.login(anna, annaPass, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		},
	}})
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	// Another account's receipt is not announced; the own one is, at once.
	other := e.send(bo, bo, "Bos")
	e.record(other, vault.EventDelivered, "", "")
	e.record(id, vault.EventOpened, pn1, "Anna Andersson")
	select {
	case n := <-exists:
		if n != 2 {
			t.Errorf("EXISTS %d, want 2", n)
		}
	case <-time.After(30 * time.Second): // a bound for a missing push, not a speed test
		t.Fatal("no EXISTS within 30 s of a new receipt")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	msgs := fetch(t, c, imap.SeqSetNum(2), &imap.FetchOptions{UID: true, Envelope: true})
	if len(msgs) != 1 || msgs[0].UID != 2 || !strings.HasPrefix(msgs[0].Envelope.Subject, "Läst:") {
		t.Errorf("the new receipt: %+v", msgs)
	}
	select {
	case n := <-exists:
		t.Errorf("a second EXISTS %d", n)
	default:
	}
}

func TestFlagsAcrossSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	id := e.send(anna, anna, "Provsvar")
	e.record(id, vault.EventDelivered, "", "")
	var (
		mu    sync.Mutex
		flags []imap.Flag
		got   = make(chan struct{}, 4)
	)
	c1, _ := e.login(anna, annaPass, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Fetch: func(m *imapclient.FetchMessageData) {
			buf, _ := m.Collect()
			mu.Lock()
			flags = buf.Flags
			mu.Unlock()
			got <- struct{}{}
		},
	}})
	c2, _ := e.login(anna, annaPass, nil)
	if _, err := c2.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagAnswered}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	if err := c1.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("the other session was not told")
	}
	mu.Lock()
	defer mu.Unlock()
	if !hasFlag(flags, imap.FlagAnswered) {
		t.Errorf("flags %v", flags)
	}
}

func TestLoginRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.dial(nil)
	refusal(t, "wrong password", c.Login(anna, "wrong").Wait(), imap.ResponseCodeAuthenticationFailed, "")
	if err := c.Login(anna, annaPass).Wait(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(e.logs.String(), "wrong") || strings.Contains(e.logs.String(), annaPass) {
		t.Errorf("a password reached the log:\n%s", e.logs.String())
	}
	if !strings.Contains(e.logs.String(), "imap login failed") {
		t.Errorf("the failure is not logged:\n%s", e.logs.String())
	}

	// Three failures end the connection.
	c = e.dial(nil)
	for i := 0; i < 3; i++ {
		c.Login(anna, "wrong").Wait()
	}
	select {
	case <-c.Closed():
	case <-time.After(30 * time.Second):
		t.Error("still connected after three failed logins")
	}

	// A user name that is no address is not logged.
	c = e.dial(nil)
	c.Login("hunter2 secret", "x").Wait()
	if strings.Contains(e.logs.String(), "hunter2") {
		t.Errorf("a user name that may be a password was logged:\n%s", e.logs.String())
	}
}

// Reconnecting brings no new tries: failures count per address, in the gate
// that cmd shares with SMTP submission.
func TestLoginThrottledAcrossConnections(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for i := 0; i < authgate.DefaultBurst; i++ {
		c := e.dial(nil)
		refusal(t, "wrong password", c.Login(anna, "wrong").Wait(), imap.ResponseCodeAuthenticationFailed, "")
		c.Close()
	}
	c := e.dial(nil)
	err := c.Login(anna, annaPass).Wait()
	if err == nil || !strings.Contains(err.Error(), "Too many failed logins") {
		t.Fatalf("the right password after %d failures from the same address: %v; want a refusal", authgate.DefaultBurst, err)
	}
}

func TestTLSRequired(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := testTLS(t)
	e := newEnv(t, func(o *Options) { o.InsecureAuth = false; o.TLS = serverTLS })

	// Plain: LOGINDISABLED, and LOGIN refused.
	c := e.dial(nil)
	if err := c.WaitGreeting(); err != nil {
		t.Fatal(err)
	}
	caps := c.Caps()
	if !caps.Has(imap.CapLoginDisabled) || !caps.Has(imap.CapStartTLS) || caps.Has("AUTH=PLAIN") {
		t.Errorf("plain caps %v", caps)
	}
	refusal(t, "LOGIN without TLS", c.Login(anna, annaPass).Wait(), imap.ResponseCodePrivacyRequired, "TLS")

	// STARTTLS, then LOGIN.
	sc, err := imapclient.DialStartTLS(e.addr, &imapclient.Options{TLSConfig: clientTLS})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if err := sc.Login(anna, annaPass).Wait(); err != nil {
		t.Fatalf("LOGIN after STARTTLS: %v", err)
	}

	// Implicit TLS.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.srv.ServeTLS(ln)
	tc, err := imapclient.DialTLS(ln.Addr().String(), &imapclient.Options{TLSConfig: clientTLS})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if err := tc.Login(anna, annaPass).Wait(); err != nil {
		t.Fatalf("LOGIN over TLS: %v", err)
	}
	if _, err := tc.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestLoopbackOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:1143", true}, {"[::1]:1143", true}, {"192.0.2.1:1143", false}, {"[2001:db8::1]:1143", false},
	} {
		a, err := net.ResolveTCPAddr("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		if isLoopback(a) != tc.ok {
			t.Errorf("%s: loopback %v", tc.addr, !tc.ok)
		}
	}
}

// TestRawProtocol speaks IMAP by hand where a client library would hide
// the answer: CLOSE after a refused EXPUNGE, AUTHENTICATE PLAIN, LIST.
func TestRawProtocol(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	id := e.send(anna, anna, "Provsvar")
	e.record(id, vault.EventDelivered, "", "")
	c := e.dialRaw(10 * time.Second)
	cmd := c.cmd
	last := func(out []string) string { return out[len(out)-1] }
	// base64("\x00anna@staff.test\x00anna-secret-pass")
	if got := last(cmd("a1", "AUTHENTICATE PLAIN AGFubmFAc3RhZmYudGVzdABhbm5hLXNlY3JldC1wYXNz")); !strings.HasPrefix(got, "a1 OK") {
		t.Fatalf("AUTHENTICATE PLAIN: %s", got)
	}
	if out := cmd("a2", `LIST "" "*"`); len(out) != 2 || out[0] != `* LIST (\HasNoChildren) "/" INBOX` {
		t.Errorf("LIST: %q", out)
	}
	cmd("a3", "SELECT INBOX")
	if got := last(cmd("a4", "EXPUNGE")); !strings.HasPrefix(got, "a4 NO [CANNOT]") {
		t.Errorf("EXPUNGE: %s", got)
	}
	if got := last(cmd("a5", `UID MOVE 1 Trash`)); !strings.HasPrefix(got, "a5 NO [CANNOT]") {
		t.Errorf("MOVE: %s", got)
	}
	if got := last(cmd("a6", "CLOSE")); !strings.HasPrefix(got, "a6 OK") {
		t.Errorf("CLOSE: %s", got)
	}
	if got := last(cmd("a7", "LOGOUT")); !strings.HasPrefix(got, "a7 OK") {
		t.Errorf("LOGOUT: %s", got)
	}
}

// TestAuditRetention: receipts go with their events at audit retention, and
// a selected session hears EXPUNGE (and EXISTS for the sweep's "expired").
func TestAuditRetention(t *testing.T) {
	t.Parallel()
	c := testenv.NewClock(time.Now().Add(-vault.DefaultAuditRetention))
	e := newEnvClock(t, c.Now, nil)
	old := e.send(anna, anna, "Gammalt")
	e.record(old, vault.EventDelivered, "", "")
	c.Advance(24 * time.Hour)
	young := e.send(anna, anna, "Nytt")
	e.record(young, vault.EventDelivered, "", "")
	e.record(young, vault.EventOpened, pn1, "Anna Andersson")

	var (
		mu       sync.Mutex
		expunged []uint32
	)
	cl, sel := e.login(anna, annaPass, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) {
			mu.Lock()
			expunged = append(expunged, seq)
			mu.Unlock()
		},
	}})
	if sel.NumMessages != 3 {
		t.Fatalf("select: %+v", sel)
	}
	c.Advance(vault.DefaultAuditRetention - 12*time.Hour)
	if _, err := e.v.Sweep(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		if err := cl.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		done := len(expunged) > 0 && expunged[len(expunged)-1] == 1
		mu.Unlock()
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Old's own "expired" (UID 4) may have been announced before the purge
	// took it again, or not, as the vault's signals coalesced.
	mu.Lock()
	if g := fmt.Sprint(expunged); g != "[1]" && g != "[4 1]" {
		t.Errorf("EXPUNGE %v, want [1] or [4 1]", expunged)
	}
	mu.Unlock()
	// Old's receipts are gone (its "expired" came and went in one sweep);
	// young's two stay, with its "expired" after them.
	msgs := fetch(t, cl, imap.SeqSetNum(1, 2, 3, 4), &imap.FetchOptions{UID: true, Envelope: true})
	var got []string
	for _, m := range msgs {
		got = append(got, fmt.Sprintf("%d:%s", m.UID, strings.SplitN(m.Envelope.Subject, " —", 2)[0]))
	}
	if want := "2:Levererat: Nytt,3:Läst: Nytt,5:Utgånget: Nytt"; strings.Join(got, ",") != want {
		t.Errorf("after the sweep: %s, want %s", strings.Join(got, ","), want)
	}
}

// TestIdleAnnouncesWhatCameBefore: a receipt filed after SELECT and before
// IDLE is announced as soon as IDLE starts. (go-imap's own IDLE waited for
// the next receipt; a client that idles right after SELECT, as Thunderbird
// does, saw it only when it renewed IDLE.)
func TestIdleAnnouncesWhatCameBefore(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	id := e.send(anna, anna, "Provsvar")
	e.record(id, vault.EventDelivered, "", "")
	c := e.dialRaw(30 * time.Second) // a bound for a missing push
	c.cmd("a1", "LOGIN "+anna+" "+annaPass)
	c.cmd("a2", "SELECT INBOX")
	e.record(id, vault.EventOpened, pn1, "Anna Andersson")
	// Wait until the server has queued the update for this session.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		e.srv.mu.Lock()
		mb := e.srv.boxes[anna]
		e.srv.mu.Unlock()
		mb.mu.Lock()
		n := len(mb.entries)
		mb.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server never took in the second receipt")
		}
	}
	c.send("a3 IDLE")
	if s := c.line(); !strings.HasPrefix(s, "+") {
		t.Fatalf("IDLE: %q", s)
	}
	if s := c.line(); s != "* 2 EXISTS" {
		t.Fatalf("after + idling: %q, want * 2 EXISTS", s)
	}
	c.send("DONE")
	c.until("a3")
}

// A receipt fetched before an erasure of the opener's number is built
// anew after it: the cache of built receipts held the whole number and
// served it on after the vault had let it go (red team, wave 2).
func TestErasureReachesTheReceiptCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	id := e.send(anna, anna, "Provsvar")
	e.record(id, vault.EventOpened, pn2, "Bo Berg") // not among the logins: named whole
	body := &imap.FetchItemBodySection{Peek: true}
	fetchBody := func() []byte {
		c, _ := e.login(anna, annaPass, nil)
		defer c.Close()
		msgs := fetch(t, c, imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{body}})
		if len(msgs) != 1 {
			t.Fatalf("%d messages", len(msgs))
		}
		return msgs[0].FindBodySection(body)
	}
	if before := fetchBody(); !bytes.Contains(before, []byte("19861123-9883")) {
		t.Fatalf("the receipt before the erasure does not name the opener whole:\n%s", before)
	}
	if _, err := e.v.ErasePersonalNumber(context.Background(), pn2, "erased:r1", nil, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		after := fetchBody()
		if !bytes.Contains(after, []byte("9883")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the receipt after the erasure still names the number:\n%s", after)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
