package imapd

import (
	"context"
	"io"
	"net"

	"github.com/emersion/go-imap/v2"
)

// Draining (Shutdown). go-imap's Server.Close cuts every connection at once
// and offers no graceful stop; the guard (guard.go) knows when a session
// waits on its client, since it does the waiting: for the next command, or
// for the line after a continuation request (IDLE's DONE, an AUTHENTICATE
// response). A session that waits when the drain starts gets an untagged
// BYE at once, which RFC 9051 §7.1.5 allows when the server shuts down; a
// session executing a command finishes it and sends its answer (go-imap
// answers one command at a time and asks the guard for more only after its
// tagged answer), and gets BYE when it next waits. Once BYE is due nothing
// more the client sends is run.

const byeText = "Server shutting down; reconnect in a moment"

// await runs fill, the guard's wait for its client, as Shutdown needs to
// see it. When BYE is due — the drain had begun, or began while fill waited
// — what fill read is dropped, and await returns io.EOF once go-imap has
// written BYE and closed the connection, so that go-imap ends the session
// quietly (IDLE included).
func (g *guardConn) await(fill func() error) error {
	g.mu.Lock()
	g.waiting = true
	due := g.s.draining.Load() && g.startLeaving()
	g.mu.Unlock()
	var err error
	if due {
		go g.sayBye()
	} else {
		err = fill()
	}
	g.mu.Lock()
	g.waiting = false
	leaving := g.leaving
	g.mu.Unlock()
	if leaving {
		<-g.byeSaid
		return io.EOF
	}
	return err
}

// drain is Shutdown's word to this connection: BYE now if it waits on its
// client, otherwise when it next does.
func (g *guardConn) drain() {
	g.mu.Lock()
	due := g.waiting && g.startLeaving()
	g.mu.Unlock()
	if due {
		go g.sayBye()
	}
}

// startLeaving reports whether BYE is now due, once. With g.mu held.
func (g *guardConn) startLeaving() bool {
	if g.leaving || g.session == nil {
		return false
	}
	g.leaving = true
	return true
}

// sayBye writes BYE through go-imap, which puts it between two responses,
// never inside one (an IDLE update may be on its way), and closes the
// connection. It runs on a goroutine of its own, as the connection's
// goroutine may be in a read.
func (g *guardConn) sayBye() {
	defer close(g.byeSaid)
	g.session.conn.Bye(byeText)
}

// track registers a new session's guard for Shutdown, or refuses the
// session with BYE when the server drains (go-imap sends that as the
// greeting).
func (s *Server) track(g *guardConn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining.Load() {
		return &imap.Error{Type: imap.StatusResponseTypeBye, Text: byeText}
	}
	s.guards[g] = struct{}{}
	return nil
}

func (s *Server) untrack(g *guardConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.guards, g)
	if len(s.guards) == 0 && s.drained != nil {
		closeOnce(s.drained)
	}
}

func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// Shutdown stops taking connections and ends the open ones gracefully (see
// the top of drain.go): BYE at once to a session that waits on its client,
// after its answer to one executing a command. It returns when every
// session has ended, or when ctx ends; then, as after Close, nothing is
// left open. It returns ctx's error if sessions had to be cut.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	if s.drained == nil {
		s.drained = make(chan struct{})
	}
	if len(s.guards) == 0 {
		closeOnce(s.drained)
	}
	drained := s.drained
	guards := make([]*guardConn, 0, len(s.guards))
	for g := range s.guards {
		guards = append(guards, g)
	}
	s.mu.Unlock()
	for _, g := range guards {
		g.drain()
	}
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.Close()
	return err
}

// closedAfterBye is the error of a write after BYE closed the connection:
// net.ErrClosed, which go-imap takes for a connection gone and does not log.
func (g *guardConn) closedAfterBye(err error) error {
	g.mu.Lock()
	leaving := g.leaving
	g.mu.Unlock()
	if leaving {
		return net.ErrClosed
	}
	return err
}
