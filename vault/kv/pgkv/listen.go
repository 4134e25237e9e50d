package pgkv

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// listener is the engine's one LISTEN connection, outside the pool, and
// everyone waiting on a channel of it.
type listener struct {
	cfg *pgx.ConnConfig

	ctx    context.Context // ends with the engine
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	subs map[string][]chan struct{} // PostgreSQL channel → subscribers
	// listening: the channels LISTENed on the current connection; nil
	// while there is none.
	listening map[string]bool
	// failed: the last connection (or attempt) failed, and there is no
	// new one yet. missed: someone listens who may have missed a
	// notification meanwhile: wake everyone when the connection is back.
	failed, missed bool
	// ready: closed when the channel has been LISTENed (or the connection
	// is down), for a subscribe waiting on it.
	ready map[string][]chan struct{}
	// interrupt ends the loop's current wait for a notification, to LISTEN
	// to a new channel.
	interrupt context.CancelFunc
}

func newListener(cfg *pgx.ConnConfig) *listener {
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{
		cfg: cfg, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		subs: map[string][]chan struct{}{}, ready: map[string][]chan struct{}{},
	}
	go l.run()
	return l
}

func (l *listener) close() {
	l.cancel()
	<-l.done
}

// subscribe adds a subscriber to channel until ctx ends, and returns once
// the channel is LISTENed to or the connection is down.
func (l *listener) subscribe(ctx context.Context, channel string) <-chan struct{} {
	ch := make(chan struct{}, 1)
	ready := make(chan struct{})
	l.mu.Lock()
	l.subs[channel] = append(l.subs[channel], ch)
	switch {
	case l.listening == nil && l.failed:
		close(ready)
		l.missed = true
	case l.listening != nil && l.listening[channel]:
		close(ready)
	default:
		l.ready[channel] = append(l.ready[channel], ready)
		if l.interrupt != nil {
			l.interrupt()
		}
	}
	l.mu.Unlock()

	go func() {
		select {
		case <-ctx.Done():
		case <-l.ctx.Done():
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		s := l.subs[channel]
		for i, c := range s {
			if c == ch {
				l.subs[channel] = append(s[:i:i], s[i+1:]...)
				break
			}
		}
		if len(l.subs[channel]) == 0 {
			delete(l.subs, channel) // still LISTENed: a notification for no one is dropped
		}
		close(ch) // under l.mu: no wake sends to it any more
	}()

	select {
	case <-ready:
	case <-ctx.Done():
	case <-l.ctx.Done():
	}
	return ch
}

func (l *listener) wake(channel string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ch := range l.subs[channel] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// wakeMissed wakes every subscriber when some may have missed a
// notification while there was no connection.
func (l *listener) wakeMissed() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.missed {
		return
	}
	l.missed = false
	for _, s := range l.subs {
		for _, ch := range s {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// down marks the connection lost and releases subscribers waiting for a
// LISTEN: they get their wake-up when it is back.
func (l *listener) down() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.listening = nil
	l.failed = true
	if len(l.subs) > 0 {
		l.missed = true
	}
	for c, rs := range l.ready {
		for _, r := range rs {
			close(r)
		}
		delete(l.ready, c)
	}
}

func (l *listener) run() {
	defer close(l.done)
	defer l.down()
	backoff := 100 * time.Millisecond
	for l.ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(l.ctx, l.cfg)
		if err == nil {
			backoff = 100 * time.Millisecond
			err = l.serve(conn)
			conn.Close(context.Background())
		}
		l.down()
		select {
		case <-l.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// serve LISTENs on conn to every channel wanted and dispatches
// notifications, until the connection fails or the engine closes.
func (l *listener) serve(conn *pgx.Conn) error {
	l.mu.Lock()
	l.listening = map[string]bool{}
	l.failed = false
	l.mu.Unlock()
	for {
		// LISTEN to what is wanted and not yet listened to.
		l.mu.Lock()
		var want []string
		for c := range l.subs {
			if !l.listening[c] {
				want = append(want, c)
			}
		}
		for c := range l.ready {
			if !l.listening[c] {
				want = append(want, c)
			}
		}
		l.mu.Unlock()
		for _, c := range want {
			if _, err := conn.Exec(l.ctx, "LISTEN "+pgx.Identifier{c}.Sanitize()); err != nil {
				return err
			}
			l.mu.Lock()
			l.listening[c] = true
			for _, r := range l.ready[c] {
				close(r)
			}
			delete(l.ready, c)
			l.mu.Unlock()
		}
		l.wakeMissed()

		wait, interrupt := context.WithCancel(l.ctx)
		l.mu.Lock()
		l.interrupt = interrupt
		pending := len(l.ready) > 0
		l.mu.Unlock()
		if pending {
			interrupt()
		}
		n, err := conn.WaitForNotification(wait)
		l.mu.Lock()
		l.interrupt = nil
		l.mu.Unlock()
		interrupted := wait.Err() != nil && l.ctx.Err() == nil
		interrupt()
		if err != nil {
			if interrupted && !conn.IsClosed() {
				continue
			}
			return err
		}
		l.wake(n.Channel)
	}
}
