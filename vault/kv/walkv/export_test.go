package walkv

// Pause holds the applier (true) or lets it go on (false), so that a test
// sees commits that are logged and not yet applied.
func (e *Engine) Pause(paused bool) {
	e.mu.Lock()
	e.paused = paused
	e.changed.Broadcast()
	e.mu.Unlock()
	e.kickApplier()
}

// Pending is how many commits are logged and not yet applied.
func (e *Engine) Pending() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.pending)
}
