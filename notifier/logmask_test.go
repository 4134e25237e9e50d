package notifier

import (
	"net/http"
	"strings"
	"testing"

	"sigill/vault"
)

// A provider's refusal that quotes a personal number reaches neither the
// log nor the failed event (and so not the failure receipt) whole.
func TestRefusalReasonIsMasked(t *testing.T) {
	e := newEnv(t)
	refusing := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "invalid recipient 199908072391", http.StatusBadRequest)
	}))
	elks, err := NewElks(ElksOptions{URL: refusing.URL + "/a1/sms", Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	e.start(elks, nil)
	a := acceptOne(t, e.v, "Provsvar", smsTo("+46701234567", pn1, "sv"))
	e.n.Kick()
	waitFor(t, "failed", func() bool { return countKind(t, e.v, a.ID, vault.EventFailed) == 1 })
	events, err := e.v.Events(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		if ev.Kind == vault.EventFailed && (strings.Contains(ev.Detail, "199908072391") || !strings.Contains(ev.Detail, "19990807-****")) {
			t.Errorf("the failed event's detail: %q", ev.Detail)
		}
	}
	if logs := e.logs.String(); strings.Contains(logs, "199908072391") || !strings.Contains(logs, "19990807-****") {
		t.Errorf("logs:\n%s", logs)
	}
}
