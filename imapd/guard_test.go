package imapd

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigill/vault"
)

// loggedInRaw is a raw connection logged in as anna with INBOX (one
// receipt) selected.
func loggedInRaw(t *testing.T, e *env) *rawConn {
	t.Helper()
	id := e.send(anna, anna, "Provsvar")
	e.record(id, vault.EventDelivered, "", "")
	c := e.dialRaw(20 * time.Second)
	if out := c.cmd("l1", "LOGIN "+anna+" "+annaPass); !strings.HasPrefix(out[len(out)-1], "l1 OK") {
		t.Fatalf("LOGIN: %q", out)
	}
	if out := c.cmd("l2", "SELECT INBOX"); !strings.HasPrefix(out[len(out)-1], "l2 OK") {
		t.Fatalf("SELECT: %q", out)
	}
	return c
}

// stillServes checks that the session answers a NOOP after a refusal.
func stillServes(t *testing.T, c *rawConn, after string) {
	t.Helper()
	if out := c.cmd("n1", "NOOP"); !strings.HasPrefix(out[len(out)-1], "n1 OK") {
		t.Errorf("after %s, NOOP: %q", after, out)
	}
}

// TestMalformedCommands: what issue 12 found answered with SERVERBUG or a
// dropped connection is a BAD with the reason now, and the session goes on.
func TestMalformedCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := loggedInRaw(t, e)
	for _, tc := range []struct {
		name, line string
		want       string // the answer's start
		words      string // in the answer
	}{
		{"the issue's sequence set", "b0 FETCH 0:99999999999999999999 FLAGS", "b0 BAD", "0 is not"},
		{"sequence number out of range", "b1 FETCH 1:99999999999999999999 FLAGS", "b1 BAD", "4294967295"},
		{"sequence number zero", "b2 UID FETCH 0 FLAGS", "b2 BAD", "0 is not"},
		{"2,000 nested parentheses", "b3 SEARCH " + strings.Repeat("(", 2000) + "ALL" + strings.Repeat(")", 2000), "b3 BAD", "nest"},
		{"100,000 NOT", "b4 SEARCH " + strings.Repeat("NOT ", 100000) + "ALL", "b4 BAD [TOOBIG]", "too long"},
		{"10,000 NOT (within the line limit)", "b5 SEARCH " + strings.Repeat("NOT ", 10000) + "ALL", "b5 BAD", "nest"},
		{"a NUL byte in the tag", "b6\x00 NOOP", "* BAD", "NUL"},
		{"a NUL byte in an argument", "b7 SELECT IN\x00BOX", "b7 BAD", "NUL"},
		{"an untagged line", "* BOGUS", "* BAD", "tag"},
		{"a bare UID", "b8 UID", "b8 BAD", "UID"},
		{"UID and a space", "b9 UID ", "b9 BAD", "UID"},
		{"an empty line", "", "* BAD", "empty"},
		{"a tag alone", "b10", "b10 BAD", "command"},
		{"a bare CR", "b11 NO\rOP", "b11 BAD", "CR"},
		{"an unterminated quoted string", `b12 SEARCH SUBJECT "abc`, "b12 BAD", "quoted"},
		{"an unknown search key", "b13 SEARCH FOO", "b13 BAD", "SEARCH"},
		{"a mailbox name that is not modified UTF-7", "b14 STATUS &Jjo (MESSAGES)", "b14 BAD", "STATUS"},
		{"a bad date", "b15 SEARCH SINCE 99-Foo-2020", "b15 BAD", "SEARCH"},
	} {
		c.send(tc.line)
		out := c.until(strings.Fields(tc.want)[0])
		got := out[len(out)-1]
		if !strings.HasPrefix(got, tc.want) || !strings.Contains(got, tc.words) || strings.Contains(got, "SERVERBUG") {
			t.Errorf("%s: %q, want %q with %q", tc.name, got, tc.want, tc.words)
		}
		stillServes(t, c, tc.name)
	}
}

// TestLiterals: a literal is read and passed on whole, a too big one is
// refused before the client sends it, and a non-synchronizing literal where
// no string belongs is skipped rather than read as the next command.
func TestLiterals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.dialRaw(20 * time.Second)

	var many strings.Builder
	many.WriteString("l5 SEARCH")
	for range 20 {
		many.WriteString(" SUBJECT {4000+}\r\n" + strings.Repeat("x", 4000))
	}
	for _, tc := range []struct {
		what  string
		steps [][2]string // a line to send, and how the answer to it starts
	}{
		{"LOGIN with synchronizing literals, each asked for", [][2]string{
			{"l1 LOGIN {" + strconv.Itoa(len(anna)) + "}", "+ "},
			{anna + " {" + strconv.Itoa(len(annaPass)) + "}", "+ "},
			{annaPass, "l1 OK"},
		}},
		{"a literal of 5,000 octets, refused instead of the continuation",
			[][2]string{{"l2 SEARCH SUBJECT {5000}", "l2 BAD [TOOBIG]"}}},
		{"a non-synchronizing literal where NOOP takes no argument",
			[][2]string{{"l3 NOOP {9+}\r\nl4 LOGOUT", "l3 BAD"}}},
		{"a synchronizing one there: asked for, then dropped with the command",
			[][2]string{{"l4 NOOP {9}", "+ "}, {"l5 LOGOUT", "l4 BAD"}}},
		{"20 non-synchronizing literals of 4,000 octets: too much together",
			[][2]string{{many.String(), "l5 BAD [TOOBIG]"}}},
		{"a line too long, then a non-synchronizing literal, skipped with it",
			[][2]string{{"l6 SEARCH " + strings.Repeat("x", 50000) + " {9+}\r\nl7 LOGOUT", "l6 BAD [TOOBIG]"}}},
		{"APPEND keeps its own refusal, even for a message too big to take",
			[][2]string{{"l8 APPEND INBOX {100000}", "l8 NO [CANNOT] APPEND refused"}}},
	} {
		for _, step := range tc.steps {
			c.send(step[0])
			if got := c.line(); !strings.HasPrefix(got, step[1]) {
				t.Errorf("%s: %q, want %q", tc.what, got, step[1])
			}
		}
		stillServes(t, c, tc.what)
	}

	// A non-synchronizing literal over 4 KiB comes whether or not the
	// server wants it (RFC 7888): the connection ends.
	c.send("l9 SEARCH SUBJECT {5000+}")
	if got := c.line(); !strings.HasPrefix(got, "l9 BAD [TOOBIG]") {
		t.Errorf("a non-synchronizing literal of 5,000 octets: %q", got)
	}
	if got := c.line(); !strings.HasPrefix(got, "* BYE") {
		t.Errorf("a non-synchronizing literal of 5,000 octets: %q, want BYE", got)
	}
	if s, err := c.r.ReadString('\n'); err == nil {
		t.Errorf("after BYE: %q", s)
	}
}

// TestMalformedOverTLS: the same checks hold on implicit TLS and after
// STARTTLS, where the commands arrive encrypted.
func TestMalformedOverTLS(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := testTLS(t)
	e := newEnv(t, func(o *Options) { o.InsecureAuth = false; o.TLS = serverTLS })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.srv.ServeTLS(ln)

	check := func(how string, conn net.Conn) {
		t.Helper()
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		c := &rawConn{t: t, c: conn, r: bufio.NewReader(conn)}
		if out := c.cmd("t1", "LOGIN "+anna+" "+annaPass); !strings.HasPrefix(out[len(out)-1], "t1 OK") {
			t.Fatalf("%s: LOGIN: %q", how, out)
		}
		c.cmd("t2", "SELECT INBOX")
		if out := c.cmd("t3", "FETCH 0:99999999999999999999 FLAGS"); !strings.HasPrefix(out[len(out)-1], "t3 BAD") {
			t.Errorf("%s: %q", how, out)
		}
		c.send("* BOGUS")
		if got := c.line(); !strings.HasPrefix(got, "* BAD") {
			t.Errorf("%s: %q", how, got)
		}
		stillServes(t, c, how)
	}

	tc, err := tls.Dial("tcp", ln.Addr().String(), clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if _, err := bufio.NewReader(tc).ReadString('\n'); err != nil { // greeting
		t.Fatal(err)
	}
	// The greeting was read through a reader of its own; nothing else was
	// sent yet, so a fresh reader in check loses nothing.
	check("implicit TLS", tc)

	c := e.dialRaw(20 * time.Second)
	if out := c.cmd("s1", "STARTTLS"); !strings.HasPrefix(out[len(out)-1], "s1 OK") {
		t.Fatalf("STARTTLS: %q", out)
	}
	sc := tls.Client(c.c, clientTLS)
	if err := sc.Handshake(); err != nil {
		t.Fatal(err)
	}
	// After STARTTLS the server sends no second greeting: CAPABILITY is
	// the first answer, and it no longer offers STARTTLS.
	r := &rawConn{t: t, c: sc, r: bufio.NewReader(sc)}
	sc.SetDeadline(time.Now().Add(20 * time.Second))
	out := r.cmd("s2", "CAPABILITY")
	if len(out) != 2 || !strings.HasPrefix(out[0], "* CAPABILITY") || strings.Contains(out[0], "STARTTLS") ||
		strings.Contains(out[0], "LOGINDISABLED") || !strings.Contains(out[0], "AUTH=PLAIN") {
		t.Errorf("CAPABILITY after STARTTLS: %q", out)
	}
	check("STARTTLS", sc)
}

// FuzzRawCommands sends one line after login and SELECT, then a NOOP: no
// line may get SERVERBUG, panic the server or cost the connection (only
// LOGOUT ends it, with BYE), and the NOOP is answered OK. A line ending in
// a literal header of up to 4 KiB gets that many octets and a CRLF after it.
func FuzzRawCommands(f *testing.F) {
	for _, seed := range []string{
		"a FETCH 0:99999999999999999999 FLAGS",
		"a FETCH 1:* (UID FLAGS ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (SUBJECT)] BINARY.PEEK[1] RFC822.SIZE)",
		"a UID FETCH 1,3:4 (BODY.PEEK[]<0.10>)",
		"a SEARCH " + strings.Repeat("(", 2000) + "ALL" + strings.Repeat(")", 2000),
		"a SEARCH " + strings.Repeat("NOT ", 20000) + "ALL",
		"a SEARCH OR (FROM x SINCE 1-Jan-2020) NOT SEEN UNKEYWORD $Junk SUBJECT \"a b\"",
		"a SEARCH RETURN (MIN MAX COUNT SAVE) UID 1:* CHARSET UTF-8 ALL",
		"a NO\x00OP", "\x00", "* BOGUS", "a UID", "a UID BOGUS", "+ x", "a", "",
		"a STORE 1 +FLAGS.SILENT (\\Seen \\Deleted)", "a UID STORE 1 FLAGS (\\Flagged)",
		"a COPY 1 Trash", "a MOVE 1:* x", "a UID EXPUNGE 1", "a EXPUNGE", "a CLOSE", "a UNSELECT",
		"a EXAMINE INBOX", "a STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE)", "a STATUS &Jjo (MESSAGES)",
		"a LIST \"\" *", "a LIST (SUBSCRIBED) \"\" (INBOX x) RETURN (CHILDREN STATUS (MESSAGES))", "a LSUB \"\" *",
		"a NAMESPACE", "a ENABLE IMAP4rev2", "a CAPABILITY", "a IDLE", "a CREATE x", "a RENAME INBOX x",
		"a SUBSCRIBE INBOX", "a APPEND INBOX (\\Seen) {5+}\r\nhello", "a LOGIN x y", "a AUTHENTICATE PLAIN",
		"a STARTTLS", "a SEARCH SUBJECT {3+}\r\nabc SEEN", "a NOOP {11+}\r\nl4 LOGOUT", "a SELECT \"INBOX",
		"a SEARCH SUBJECT {3}", "a SEARCH BODY {4+}", "a STATUS {5}", "a\x00 NOOP {5}",
	} {
		f.Add(seed)
	}
	e := newEnv(f, nil)
	id := e.send(anna, anna, "Provsvar")
	e.record(id, vault.EventDelivered, "", "")
	e.record(id, vault.EventOpened, pn1, "Anna Andersson")

	var conn net.Conn
	var r *bufio.Reader
	// exchange sends lines and reads up to the answer tagged tag.
	exchange := func(tag string, lines ...string) ([]string, error) {
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		for _, l := range lines {
			if _, err := io.WriteString(conn, l+"\r\n"); err != nil {
				return nil, err
			}
		}
		var out []string
		for {
			s, err := r.ReadString('\n')
			if err != nil {
				return out, err
			}
			out = append(out, s)
			if strings.HasPrefix(s, tag+" ") {
				return out, nil
			}
		}
	}
	connect := func(t *testing.T) {
		t.Helper()
		var err error
		if conn, err = net.Dial("tcp", e.addr); err != nil {
			t.Fatal(err)
		}
		r = bufio.NewReader(conn)
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		if out, err := exchange("zzLogin", "zzLogin LOGIN "+anna+" "+annaPass); err != nil || !strings.HasPrefix(out[len(out)-1], "zzLogin OK") {
			t.Fatalf("LOGIN: %q %v", out, err)
		}
	}
	f.Cleanup(func() {
		if conn != nil {
			conn.Close()
		}
	})

	f.Fuzz(func(t *testing.T, line string) {
		if strings.ContainsRune(line, '\n') {
			line, _, _ = strings.Cut(line, "\n") // one line; the seeds' literals are cut off here
		}
		lines := []string{line}
		if size, _, isLit := literalHeader([]byte(line + "\r\n")); isLit && size <= maxLiteral {
			lines = []string{line + "\r\n" + strings.Repeat("x", int(size))}
		}
		if conn == nil {
			connect(t)
		}
		if out, err := exchange("zzSelect", "zzSelect SELECT INBOX"); err != nil || !strings.HasPrefix(out[len(out)-1], "zzSelect OK") {
			t.Fatalf("SELECT: %q %v", out, err)
		}
		if f := strings.Fields(line); len(f) == 2 && strings.EqualFold(f[1], "IDLE") {
			lines = append(lines, "DONE") // else the NOOP would end the IDLE
		}
		lines = append(lines, "zzNoop NOOP")
		out, err := exchange("zzNoop", lines...)
		all := strings.Join(out, "")
		if strings.Contains(all, "SERVERBUG") {
			t.Fatalf("%q: %q", line, out)
		}
		if err != nil {
			conn.Close()
			conn = nil
			if !strings.Contains(all, "* BYE") {
				t.Fatalf("%q: connection lost: %v after %q", line, err, out)
			}
			return
		}
		if got := out[len(out)-1]; !strings.HasPrefix(got, "zzNoop OK") {
			t.Fatalf("%q: NOOP: %q", line, out)
		}
	})
}

// TestContinuationBounds: a response to a continuation request over 8 KiB
// ends the connection (go-imap is mid-command, there is no BAD to give),
// and commands pipelined behind STARTTLS in the clear are never run
// (plaintext injection): they go into the TLS handshake, which fails.
func TestContinuationBounds(t *testing.T) {
	t.Parallel()
	serverTLS, _ := testTLS(t)
	e := newEnv(t, func(o *Options) { o.TLS = serverTLS })
	c := loggedInRaw(t, e)
	c.send("i1 IDLE")
	if got := c.line(); !strings.HasPrefix(got, "+ ") {
		t.Fatalf("IDLE: %q", got)
	}
	c.send(strings.Repeat("D", 9000))
	if got := c.line(); !strings.HasPrefix(got, "* BYE") {
		t.Errorf("a 9,000-octet DONE: %q", got)
	}
	if s, err := c.r.ReadString('\n'); err == nil {
		t.Errorf("after BYE: %q", s)
	}

	c = e.dialRaw(20 * time.Second)
	c.send("s1 STARTTLS\r\ns2 LOGIN " + anna + " " + annaPass)
	if got := c.line(); !strings.HasPrefix(got, "s1 OK") {
		t.Fatalf("STARTTLS: %q", got)
	}
	if s, err := c.r.ReadString('\n'); err == nil {
		t.Errorf("after STARTTLS with a command behind it: %q", s)
	}
}
