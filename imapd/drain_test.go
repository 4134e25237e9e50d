package imapd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigill/vault"
)

// shutdown runs Shutdown on a goroutine and waits until it has begun: the
// listener refuses new connections.
func (e *env) shutdown(ctx context.Context) <-chan error {
	e.t.Helper()
	done := make(chan error, 1)
	srv := e.srv
	go func() { done <- srv.Shutdown(ctx) }()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			return done
		}
		c.Close()
		if time.Now().After(deadline) {
			e.t.Fatal("the listener still takes connections 30 s after Shutdown began")
		}
	}
}

// wantByeThenEOF reads the untagged BYE and then the connection's orderly
// end: a FIN, not a reset.
func wantByeThenEOF(t *testing.T, c *rawConn, who string) {
	t.Helper()
	if s := c.line(); s != "* BYE "+byeText {
		t.Errorf("%s: %q; want * BYE %s", who, s, byeText)
	}
	if rest, err := io.ReadAll(c.r); err != nil || len(rest) > 0 {
		t.Errorf("%s: after BYE: %q, %v; want the connection closed cleanly", who, rest, err)
	}
}

// Sessions that wait on their client, in IDLE, between commands or before
// logging in, get BYE at once and a clean close; Shutdown then returns.
func TestShutdownSaysByeToWaitingSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	id := e.send(anna, anna, "Provsvar")
	e.record(id, vault.EventDelivered, "", "")

	idle := e.dialRaw(30 * time.Second) // a bound for a BYE that never comes
	idle.cmd("a1", "LOGIN "+anna+" "+annaPass)
	idle.cmd("a2", "SELECT INBOX")
	idle.send("a3 IDLE")
	if s := idle.line(); !strings.HasPrefix(s, "+") {
		t.Fatalf("IDLE: %q", s)
	}
	between := e.dialRaw(30 * time.Second)
	between.cmd("b1", "LOGIN "+bo+" "+boPass)
	greeted := e.dialRaw(30 * time.Second)

	done := e.shutdown(context.Background())
	wantByeThenEOF(t, idle, "in IDLE")
	wantByeThenEOF(t, between, "between commands")
	wantByeThenEOF(t, greeted, "before LOGIN")
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if strings.Contains(e.logs.String(), "level=WARN") {
		t.Errorf("the drain logged warnings:\n%s", e.logs)
	}
}

// smallBuffers keeps the kernel from buffering a large answer: the server's
// send buffer and the client's receive buffer are a few KiB, so a FETCH of
// many receipts stays in progress until the client reads it.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		c.(*net.TCPConn).SetWriteBuffer(4096)
	}
	return c, err
}

func dialSmall(t testing.TB, addr string) *rawConn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(60 * time.Second)) // a bound for an answer that never comes
	c := &rawConn{t: t, c: conn, r: bufio.NewReader(conn)}
	c.line()
	return c
}

// fetchInFlight files n receipts for anna, serves them through small
// buffers and leaves a client's FETCH of them all under way: the first
// response has come, and the rest cannot fit in the buffers until the client
// reads.
func (e *env) fetchInFlight(n int) *rawConn {
	e.t.Helper()
	for i := range n {
		id := e.send(anna, anna, fmt.Sprintf("Provsvar %d", i))
		e.record(id, vault.EventDelivered, "", "")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	go e.srv.Serve(smallBuffers{ln})
	c := dialSmall(e.t, e.addr)
	c.cmd("a1", "LOGIN "+anna+" "+annaPass)
	c.cmd("a2", "SELECT INBOX")
	c.send("a3 FETCH 1:* (UID BODY.PEEK[])")
	if s := c.line(); !strings.HasPrefix(s, "* 1 FETCH (") {
		e.t.Fatalf("FETCH: %q", s)
	}
	return c
}

// A session executing a command when the drain starts finishes it: every
// FETCH response and the tagged OK arrive, then BYE.
func TestShutdownLetsACommandFinish(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	const n = 40
	c := e.fetchInFlight(n)
	done := e.shutdown(context.Background())

	fetched := 1
	for _, s := range c.until("a3") {
		if strings.HasPrefix(s, "* ") && strings.Contains(s, " FETCH (") {
			fetched++
		}
		if strings.HasPrefix(s, "a3 ") && !strings.HasPrefix(s, "a3 OK") {
			t.Errorf("FETCH during the drain: %q", s)
		}
	}
	if fetched != n {
		t.Errorf("%d FETCH responses during the drain; want %d", fetched, n)
	}
	wantByeThenEOF(t, c, "after its FETCH")
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// When the context ends first, Shutdown cuts what is left and says so.
func TestShutdownCutsAtTheDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.fetchInFlight(40) // and the client never reads the rest of the answer
	ctx, cancel := context.WithCancel(context.Background())
	done := e.shutdown(ctx)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown with its context ended: %v; want context.Canceled", err)
	}
	if _, err := io.ReadAll(c.r); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the cut connection: %v", err)
	}
}

// A Serve that starts after Shutdown (a SIGTERM right after the start)
// closes its listener and returns nil, as after Close: nothing to report.
func TestServeAfterShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	if err := e.srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Serve(ln); err != nil {
		t.Errorf("Serve after Shutdown: %v", err)
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("the listener given to Serve after Shutdown still takes connections")
	}
}
