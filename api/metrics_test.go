package api

import "testing"

// Each request is counted under its route's pattern and its status; a
// replay under sigill_api_idempotent_replays_total too.
func TestRequestMetrics(t *testing.T) {
	e := newEnv(t, nil)
	sends := requests.WithLabelValues("POST /api/v1/messages", "201")
	invalid := requests.WithLabelValues("POST /api/v1/messages", "422")
	unauth := requests.WithLabelValues("GET /api/v1/events", "401")
	other := requests.WithLabelValues("other", "404")
	before := []float64{counterValue(sends), counterValue(invalid), counterValue(unauth), counterValue(other), counterValue(replayed)}
	e.do("POST", "/api/v1/messages", e.send, "m-1", message(nil))
	e.do("POST", "/api/v1/messages", e.send, "m-1", message(nil))
	e.do("POST", "/api/v1/messages", e.send, "m-2", message(map[string]any{"recipients": []any{}}))
	e.do("GET", "/api/v1/events", "", "", nil)
	e.do("GET", "/api/v1/nothing", e.send, "", nil)
	for i, want := range []float64{2, 1, 1, 1, 1} {
		got := []float64{counterValue(sends), counterValue(invalid), counterValue(unauth), counterValue(other), counterValue(replayed)}[i] - before[i]
		if got != want {
			t.Errorf("counter %d grew by %v, want %v", i, got, want)
		}
	}
}
