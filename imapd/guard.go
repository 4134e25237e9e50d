package imapd

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
)

// Bounds on one command, checked before go-imap reads any of it.
const (
	// maxCommandLine bounds a command's octets outside its literals: above
	// RFC 7162 §4's 8,192 and below go-imap's own 50 KiB, past which go-imap
	// answers SERVERBUG and reads the rest of the line as new commands.
	maxCommandLine = 48 << 10
	// maxLiteral is the largest literal: go-imap holds string literals in
	// memory and takes none larger (APPEND, which streams, is refused here
	// anyway).
	maxLiteral = 4096
	// maxLiterals bounds the literals of one command together; without it
	// one line of literal headers makes go-imap hold some 20 MiB.
	maxLiterals = 64 << 10
	// maxNesting bounds parenthesised lists and SEARCH's NOT and OR chains;
	// a real client nests two or three deep.
	maxNesting = 64
	// maxContinuation bounds a line sent after a continuation request: an
	// AUTHENTICATE response or IDLE's DONE.
	maxContinuation = 8 << 10
	// commandReadTimeout bounds the time from a command's first octet to
	// its last. go-imap allows 30 s from the first octet it reads, which
	// with the guard is the whole command already.
	commandReadTimeout = time.Minute
)

// guardConn stands between a client's connection and go-imap's parser,
// which answers some malformed commands with NO [SERVERBUG] and drops the
// connection on others (issue 12). It reads each command whole — line,
// literals and all — checks it, and either answers it with BAD itself or
// passes it on, one line or literal per Read so that go-imap never holds
// more than the part it is parsing. It also terminates TLS, so that it
// sees commands in the clear: go-imap gets the guard, never a *tls.Conn.
//
// On the way out it watches go-imap's answers: a continuation request
// ("+") means the next line is an AUTHENTICATE response or DONE, not a
// command; the tagged answer ends the command, and whatever go-imap left
// of it unread is dropped (a literal after a syntax error would otherwise
// be read as the next command); and a NO [SERVERBUG] to a command comes
// from go-imap's parser (the session's own faults are typed errors), so it
// becomes BAD [CLIENTBUG].
type guardConn struct {
	net.Conn // the client's connection: TCP, or TLS over it
	s        *Server
	in       *bufio.Reader
	tls      bool
	session  *session // set by newSession (under mu, which Shutdown's drain reads it with)

	segs [][]byte // the checked command, line by line and literal by literal
	end  error    // once set, every Read returns it

	wmu     sync.Mutex    // orders writes to the client
	byeSaid chan struct{} // closed once Shutdown's BYE is written (drain.go)

	mu        sync.Mutex // guards the fields below
	tag       string     // the tag of the command go-imap has
	name      string     // its name, in upper case ("UID FETCH")
	answered  bool       // go-imap wrote its tagged answer
	conts     int        // continuation requests go-imap wrote
	contsRead int        // of which a line was passed on
	out       outScanner
	handedOff bool // after STARTTLS the connection belongs to a new guard
	waiting   bool // in await: waiting on the client
	leaving   bool // Shutdown's BYE is due
}

var errGuardClosed = errors.New("imapd: connection closed by the command check")

func newGuard(s *Server, c net.Conn, isTLS bool) *guardConn {
	g := &guardConn{Conn: c, s: s, in: bufio.NewReaderSize(c, 4096), tls: isTLS, byeSaid: make(chan struct{})}
	g.out.atStart = true
	return g
}

func (g *guardConn) Close() error {
	g.mu.Lock()
	handedOff := g.handedOff
	g.mu.Unlock()
	if handedOff {
		return nil
	}
	return g.Conn.Close()
}

// Read gives go-imap the next checked line or literal.
func (g *guardConn) Read(p []byte) (int, error) {
	if g.end != nil {
		return 0, g.end
	}
	n, err := g.read(p)
	if err != nil {
		g.end = err
	}
	return n, err
}

func (g *guardConn) read(p []byte) (int, error) {
	g.mu.Lock()
	if g.answered {
		g.segs = nil // the rest of a command go-imap refused
	}
	cont := g.conts > g.contsRead
	g.contsRead = g.conts
	g.mu.Unlock()
	if len(g.segs) == 0 {
		if err := g.await(func() error { return g.fill(cont) }); err != nil {
			return 0, err
		}
	}
	n := copy(p, g.segs[0])
	if g.segs[0] = g.segs[0][n:]; len(g.segs[0]) == 0 {
		g.segs = g.segs[1:]
	}
	return n, nil
}

// fill waits for what the client sends next and queues it for go-imap: the
// line after a continuation request, or the next command that passes.
func (g *guardConn) fill(cont bool) error {
	if cont {
		line, err := g.readLine(maxContinuation)
		if errors.Is(err, errLineTooLong) {
			return g.bye("The response to the continuation request is too long")
		}
		if err != nil {
			return err
		}
		g.segs = [][]byte{line}
	}
	for len(g.segs) == 0 {
		if err := g.nextCommand(); err != nil {
			return err
		}
	}
	return nil
}

// Write passes go-imap's answers on, as outScanner allows.
func (g *guardConn) Write(p []byte) (int, error) {
	g.mu.Lock()
	out, conts, answered := g.out.scan(p, g.tag, g.name)
	g.conts += conts
	g.answered = g.answered || answered
	g.mu.Unlock()
	g.wmu.Lock()
	defer g.wmu.Unlock()
	if _, err := g.Conn.Write(out); err != nil {
		return 0, g.closedAfterBye(err)
	}
	return len(p), nil
}

// reply writes an answer of the guard's own.
func (g *guardConn) reply(tag string, e *imap.Error) error {
	if tag == "" {
		tag = "*"
	}
	line := tag + " " + string(e.Type)
	if e.Code != "" {
		line += " [" + string(e.Code) + "]"
	}
	return g.writeLine(line + " " + e.Text)
}

func (g *guardConn) writeLine(line string) error {
	g.wmu.Lock()
	defer g.wmu.Unlock()
	_, err := io.WriteString(g.Conn, line+"\r\n")
	return err
}

// bye says why and closes the connection; go-imap then sees it closed.
func (g *guardConn) bye(text string) error {
	g.reply("", &imap.Error{Type: imap.StatusResponseTypeBye, Text: text})
	g.Conn.Close()
	return errGuardClosed
}

func bad(text string) *imap.Error {
	return &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug, Text: text}
}

func tooBig(text string) *imap.Error {
	return &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeTooBig, Text: text}
}

var errLineTooLong = errors.New("line too long")

// readLine reads up to and including '\n'; past limit octets it returns
// what it has and errLineTooLong.
func (g *guardConn) readLine(limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := g.in.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > limit {
			return line, errLineTooLong
		}
		if err == nil {
			return line, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, err
		}
	}
}

// command is what nextCommand has read of one.
type command struct {
	tag, name string
	lineBytes int // octets outside literals
	litBytes  int
	depth     int // parentheses open at the end of the last line
}

// nextCommand reads one command and queues it for go-imap, or answers it.
func (g *guardConn) nextCommand() error {
	// Waiting for a command, go-imap's deadline holds (35 minutes once
	// logged in); once it has begun, the rest must follow briskly.
	if _, err := g.in.Peek(1); err != nil {
		return err
	}
	g.Conn.SetReadDeadline(time.Now().Add(commandReadTimeout))
	var cmd command
	var segs [][]byte
	for first := true; ; first = false {
		line, err := g.readLine(maxCommandLine - cmd.lineBytes)
		if errors.Is(err, errLineTooLong) {
			if first {
				cmd.tag, _ = splitTag(line)
			}
			g.reply(cmd.tag, tooBig(fmt.Sprintf("Command line too long: the limit is %d octets outside literals", maxCommandLine)))
			return g.discard(line)
		}
		if err != nil {
			return err
		}
		cmd.lineBytes += len(line)
		if first {
			if refusal := cmd.parseStart(line); refusal != nil {
				g.reply(cmd.tag, refusal)
				return g.discard(line)
			}
		}
		if refusal := cmd.scanLine(line); refusal != nil {
			g.reply(cmd.tag, refusal)
			return g.discard(line)
		}
		size, nonSync, isLit := literalHeader(line)
		if !isLit {
			segs = append(segs, line)
			break
		}
		if size > maxLiteral || cmd.litBytes+int(size) > maxLiterals {
			refusal := tooBig(fmt.Sprintf("Literal too big: the limit is %d octets each and %d in one command", maxLiteral, maxLiterals))
			if cmd.name == "APPEND" {
				refusal = errAppend
			}
			g.reply(cmd.tag, refusal)
			return g.discard(line)
		}
		cmd.litBytes += int(size)
		if !nonSync {
			// The guard asks for the literal itself and passes it on as
			// non-synchronizing, so go-imap does not ask again.
			if err := g.writeLine("+ Ready for literal data"); err != nil {
				return err
			}
			line = asNonSync(line)
		}
		lit := make([]byte, size)
		if _, err := io.ReadFull(g.in, lit); err != nil {
			return err
		}
		segs = append(segs, line, lit)
	}
	if g.startTLS(cmd, segs) {
		return io.EOF // go-imap ends its session quietly; a new one goes on in TLS
	}
	// Every command of a logged-in session runs on a login that still
	// holds; NOOPs would otherwise keep a disabled account's session open.
	g.mu.Lock()
	ss := g.session
	g.mu.Unlock()
	if ss != nil {
		if why := ss.loginLost(); why != "" {
			return g.bye(why)
		}
	}
	g.mu.Lock()
	g.tag, g.name, g.answered = cmd.tag, cmd.name, false
	g.mu.Unlock()
	g.segs = segs
	return nil
}

// discard skips the rest of a refused command: up to the end of the line,
// and past any non-synchronizing literal the client sends regardless. A
// synchronizing one the client does not send, having had BAD instead of the
// continuation request (RFC 9051 §2.2.1).
func (g *guardConn) discard(line []byte) error {
	for {
		for len(line) == 0 || line[len(line)-1] != '\n' {
			chunk, err := g.in.ReadSlice('\n')
			if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
				return err
			}
			// Keep only the tail, where a literal header would be.
			line = append(line[max(0, len(line)-32):], chunk...)
		}
		size, nonSync, isLit := literalHeader(line)
		if !isLit || !nonSync {
			return nil
		}
		if size > maxLiteral {
			return g.bye("Non-synchronizing literals are limited to 4096 octets (RFC 7888)")
		}
		if _, err := g.in.Discard(int(size)); err != nil {
			return err
		}
		line = nil
	}
}

// startTLS answers STARTTLS on a plain connection before login: it does
// the handshake and hands the connection to the server for TLS ones, where
// go-imap knows it is encrypted. Anything else about STARTTLS (no TLS
// configured, already TLS, logged in, arguments) is go-imap's to answer.
func (g *guardConn) startTLS(cmd command, segs [][]byte) bool {
	if cmd.name != "STARTTLS" || g.tls || g.s.o.TLS == nil || len(segs) != 1 ||
		!strings.EqualFold(strings.TrimRight(string(segs[0]), " \r\n"), cmd.tag+" STARTTLS") ||
		(g.session != nil && g.session.account != "") {
		return false
	}
	if err := g.reply(cmd.tag, &imap.Error{Type: imap.StatusResponseTypeOK, Text: "Begin TLS negotiation now"}); err != nil {
		g.Conn.Close()
		return true
	}
	// Octets the client sent after STARTTLS (RFC 9051 §6.2.1 forbids it:
	// plaintext injection) go into the handshake, which then fails.
	tc := tls.Server(bufferedConn{g.Conn, g.in}, g.s.o.TLS)
	tc.SetDeadline(time.Now().Add(time.Minute))
	if err := tc.Handshake(); err != nil {
		g.s.log.Info("imap: STARTTLS handshake failed", "peer", g.RemoteAddr().String(), "err", err)
		g.Conn.Close()
		return true
	}
	tc.SetDeadline(time.Time{})
	g.mu.Lock()
	g.handedOff = true
	g.mu.Unlock()
	next := newGuard(g.s, tc, true)
	next.out.skipLines = 1 // go-imap's greeting: after STARTTLS there is none
	g.s.serveQueue(g.s.tlsConns)
	g.s.tlsConns.push(next)
	return true
}

// bufferedConn reads through the bufio.Reader that may already hold some of
// the connection's octets.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// RFC 9051 §9: tag = 1*<any ASTRING-CHAR except "+">, an atom is
// 1*ATOM-CHAR; atom-specials are ( ) { SP CTL % * " \ ]. Only 7-bit
// characters, a subset of what go-imap takes, so what passes here parses
// there the same way.
func isAtomChar(c byte) bool {
	return c > ' ' && c < 0x7f && !strings.ContainsRune(`(){%*"\]`, rune(c))
}

func isTagChar(c byte) bool { return isAtomChar(c) && c != '+' }

// splitTag returns a line's tag, if it starts with a valid one, and the rest.
func splitTag(line []byte) (string, []byte) {
	i := 0
	for i < len(line) && isTagChar(line[i]) {
		i++
	}
	if i == 0 || i == len(line) || (line[i] != ' ' && line[i] != '\r' && line[i] != '\n') {
		return "", line
	}
	return string(line[:i]), line[i:]
}

// parseStart checks the tag and the command name (and UID's sub-command),
// which go-imap cannot answer but by closing the connection.
func (cmd *command) parseStart(line []byte) *imap.Error {
	body := bytes.TrimRight(line, "\r\n")
	if len(body) == 0 {
		return bad("Syntax error: an empty line; a command is a tag, a space and a command name")
	}
	if i := bytes.IndexByte(body, 0); i >= 0 {
		if tag, _ := splitTag(line); tag != "" {
			cmd.tag = tag
		}
		return bad("Syntax error: a NUL octet is not allowed in a command (RFC 9051 §4)")
	}
	tag, rest := splitTag(line)
	if tag == "" {
		return bad("Syntax error: a command starts with a tag (letters and digits, not * or +), then a space")
	}
	cmd.tag = tag
	name, rest, ok := atomAfterSP(rest)
	if !ok {
		return bad("Syntax error: a command name must follow the tag and a space")
	}
	cmd.name = strings.ToUpper(name)
	if cmd.name == "UID" {
		sub, r, ok := atomAfterSP(rest)
		if !ok {
			return bad("Syntax error: UID needs a command after it: UID FETCH, UID SEARCH, UID STORE, UID COPY, UID MOVE or UID EXPUNGE")
		}
		cmd.name += " " + strings.ToUpper(sub)
		rest = r
	}
	switch cmd.name {
	case "FETCH", "STORE", "COPY", "MOVE", "UID FETCH", "UID STORE", "UID COPY", "UID MOVE", "UID EXPUNGE":
		if set, _, ok := tokenAfterSP(rest, func(c byte) bool { return c == '*' || isAtomChar(c) }); ok {
			if msg := checkSequenceSet(set); msg != "" {
				return bad(cmd.name + ": " + msg)
			}
		}
	}
	return nil
}

// atomAfterSP reads " atom" followed by a space or the end of the line.
func atomAfterSP(s []byte) (atom string, rest []byte, ok bool) {
	return tokenAfterSP(s, isAtomChar)
}

func tokenAfterSP(s []byte, valid func(byte) bool) (atom string, rest []byte, ok bool) {
	if len(s) == 0 || s[0] != ' ' {
		return "", s, false
	}
	i := 1
	for i < len(s) && valid(s[i]) {
		i++
	}
	if i == 1 || (i < len(s) && s[i] != ' ' && s[i] != '\r' && s[i] != '\n') {
		return "", s, false
	}
	return string(s[1:i]), s[i:], true
}

// checkSequenceSet says what is wrong with a sequence-set (RFC 9051 §9),
// where go-imap would answer SERVERBUG; "" when nothing is, or "$".
func checkSequenceSet(set string) string {
	if set == "$" {
		return ""
	}
	for _, part := range strings.Split(set, ",") {
		ends := strings.Split(part, ":")
		if len(ends) > 2 {
			return strconv.QuoteToASCII(part) + " is not a message number or range (like 1:5, 7 or 10:*)"
		}
		for _, n := range ends {
			if n == "*" {
				continue
			}
			v, err := strconv.ParseUint(n, 10, 64)
			switch {
			case n == "" || strings.Trim(n, "0123456789") != "":
				return strconv.QuoteToASCII(part) + " is not a message number or range (like 1:5, 7 or 10:*)"
			case err == nil && v == 0:
				return "0 is not a message number: they start at 1"
			case n[0] == '0':
				return strconv.QuoteToASCII(n) + " is not a message number: no leading zeros"
			case err != nil || v > 1<<32-1:
				return n + " is out of range: message numbers and UIDs go up to 4294967295"
			}
		}
	}
	return ""
}

// scanLine checks what go-imap would misread in any line of a command: NUL,
// a CR that does not end the line, a quoted string the line does not close
// (go-imap would read on into the next line), and nesting.
func (cmd *command) scanLine(line []byte) *imap.Error {
	body := bytes.TrimSuffix(line, []byte("\n"))
	body = bytes.TrimSuffix(body, []byte("\r"))
	quoted := false
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case c == 0:
			return bad("Syntax error: a NUL octet is not allowed in a command (RFC 9051 §4)")
		case c == '\r' || c == '\n':
			return bad("Syntax error: a CR or LF may only end a line (RFC 9051 §4)")
		case quoted && c == '\\':
			i++
			if i < len(body) && (body[i] == '\r' || body[i] == '\n') {
				return bad("Syntax error: a CR or LF may only end a line (RFC 9051 §4)")
			}
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '(':
			if cmd.depth++; cmd.depth > maxNesting {
				return bad(fmt.Sprintf("Syntax error: lists nest more than %d deep", maxNesting))
			}
		case c == ')':
			cmd.depth--
		}
	}
	if quoted {
		return bad("Syntax error: a quoted string must end on the line it starts (RFC 9051 §4.3)")
	}
	return nil
}

// literalHeader finds "{n}" or "{n+}" (or "~{n}", literal8) ending a line,
// as go-imap does: it also takes one space before the CRLF, and a lone LF.
func literalHeader(line []byte) (size int64, nonSync, ok bool) {
	body := bytes.TrimSuffix(line, []byte("\n"))
	body = bytes.TrimSuffix(body, []byte("\r"))
	body = bytes.TrimSuffix(body, []byte(" "))
	if len(body) == 0 || body[len(body)-1] != '}' {
		return 0, false, false
	}
	open := bytes.LastIndexByte(body, '{')
	if open < 0 {
		return 0, false, false
	}
	digits := body[open+1 : len(body)-1]
	if len(digits) > 0 && digits[len(digits)-1] == '+' {
		nonSync, digits = true, digits[:len(digits)-1]
	}
	if len(digits) == 0 || strings.Trim(string(digits), "0123456789") != "" {
		return 0, false, false
	}
	size, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil {
		size = 1 << 62 // too big either way
	}
	return size, nonSync, true
}

// asNonSync rewrites a line's "{n}" to "{n+}".
func asNonSync(line []byte) []byte {
	body := bytes.TrimRight(line, " \r\n")
	out := append([]byte{}, body[:len(body)-1]...)
	return append(out, "+}\r\n"...)
}

// outScanner follows go-imap's answers line by line, skipping literals.
type outScanner struct {
	atStart   bool
	lit       int64  // literal octets still to pass
	held      []byte // the start of a line that may be the tagged answer
	holding   bool
	tail      []byte // the end of the current line, for a literal header
	skipLines int    // lines to drop (the greeting after STARTTLS)
}

// scan returns what to send for p, how many continuation requests it
// holds and whether it holds the tagged answer to tag.
func (o *outScanner) scan(p []byte, tag, name string) (out []byte, conts int, answered bool) {
	out = make([]byte, 0, len(p))
	serverBug := tag + " NO [SERVERBUG] Internal server error\r\n"
	for i := 0; i < len(p); {
		if o.lit > 0 {
			n := int(min(o.lit, int64(len(p)-i)))
			out = append(out, p[i:i+n]...)
			o.lit -= int64(n)
			i += n
			o.atStart = false // the response goes on after its literal
			continue
		}
		c := p[i]
		i++
		if o.skipLines > 0 {
			if c == '\n' {
				o.skipLines--
			}
			continue
		}
		if o.atStart {
			o.atStart, o.tail = false, o.tail[:0]
			o.holding = tag != "" && c != '*' && c != '+'
			if c == '+' {
				conts++
			}
		}
		if len(o.tail) == 32 {
			o.tail = append(o.tail[:0], o.tail[1:]...)
		}
		o.tail = append(o.tail, c)
		if o.holding {
			o.held = append(o.held, c)
			if c != '\n' && len(o.held) < len(serverBug) {
				continue
			}
			line := o.held
			o.held, o.holding = nil, false
			if bytes.HasPrefix(line, []byte(tag+" ")) {
				answered = true
				if string(line) == serverBug {
					line = []byte(tag + " BAD [CLIENTBUG] Syntax error in the arguments of " + name + " (RFC 9051 §6)\r\n")
				}
			}
			out = append(out, line...)
		} else {
			out = append(out, c)
		}
		if c == '\n' {
			o.atStart = true
			if size, _, ok := literalHeader(o.tail); ok {
				o.lit = size
			}
		}
	}
	return out, conts, answered
}

// accept takes connections from ln, puts a guard in front of each and
// hands it to the go-imap server for its kind, until Close.
func (s *Server) accept(ln net.Listener, implicitTLS bool) error {
	s.mu.Lock()
	if s.closed || s.draining.Load() {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	q := s.plainConns
	if implicitTLS {
		q = s.tlsConns
	}
	s.serveQueue(q)
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return nil
			}
			if ne, ok := err.(interface{ Temporary() bool }); ok && ne.Temporary() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("imap: accept failed, retrying", "in", delay, "err", err)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("imapd: accept: %w", err)
		}
		delay = 0
		if implicitTLS {
			c = tls.Server(c, s.o.TLS)
		}
		q.push(newGuard(s, c, implicitTLS))
	}
}

// serveQueue starts q's go-imap server, once.
func (s *Server) serveQueue(q *connQueue) {
	srv, once := s.imap, &s.startPlain
	if q == s.tlsConns {
		srv, once = s.imapTLS, &s.startTLS
	}
	once.Do(func() { go srv.Serve(q) })
}

// connQueue is the listener a go-imap server serves: connections the
// guards have taken on.
type connQueue struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnQueue() *connQueue {
	return &connQueue{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (q *connQueue) push(c net.Conn) {
	select {
	case q.ch <- c:
	case <-q.done:
		c.Close()
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return queueAddr{} }

type queueAddr struct{}

func (queueAddr) Network() string { return "imapd" }
func (queueAddr) String() string  { return "imapd guard" }
