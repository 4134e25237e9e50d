package kv

import (
	"context"
	"sync"
)

// Hub carries wake-ups from Notify to Listen inside one process: what an
// engine whose store no other process opens (boltkv, walkv) serves Listen
// with. The zero Hub is ready to use.
type Hub struct {
	mu        sync.Mutex
	listeners map[string][]chan struct{}
}

// Listen is Engine.Listen's contract: the channel receives after each
// Notify(channel), without blocking Notify (wake-ups merge), and is
// closed when ctx ends.
func (h *Hub) Listen(ctx context.Context, channel string) <-chan struct{} {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.listeners == nil {
		h.listeners = make(map[string][]chan struct{})
	}
	h.listeners[channel] = append(h.listeners[channel], ch)
	h.mu.Unlock()
	go func() {
		<-ctx.Done()
		h.mu.Lock()
		defer h.mu.Unlock()
		l := h.listeners[channel]
		for i, c := range l {
			if c == ch {
				h.listeners[channel] = append(l[:i:i], l[i+1:]...)
				break
			}
		}
		if len(h.listeners[channel]) == 0 {
			delete(h.listeners, channel)
		}
		close(ch) // under h.mu: no Notify sends to it any more
	}()
	return ch
}

// Notify wakes every listener of channel.
func (h *Hub) Notify(channel string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ch := range h.listeners[channel] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
