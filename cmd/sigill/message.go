package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"sigill/addressing"
	"sigill/vault"
)

func runMessage(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	c := newCLI("message", `Usage: sigill message expire ID DURATION|TIME | revoke [-recipient N] [-reason TEXT] ID [-config FILE | -data DIR]

  expire ID DURATION   the message may be read for DURATION after it was
                       received, as exp= in an address: 30m, 36h, 7d, 2w
  expire ID TIME       the message may be read until TIME: 2026-12-24T12:00:00+01:00,
                       or 2026-12-24 12:00 (Swedish time)
  revoke ID            withdraw the message for every recipient, or with
                       -recipient N for one (counted from 0, in the order of
                       the addresses); -reason is kept in the audit trail and
                       the sender's receipts
ID is the id of "250 2.0.0 <ID> queued".

expire shortens or extends a message's lifetime, for every recipient, before
it expires; at most vault.max_retention after it was received. The change is
recorded in the message's events (expiry_changed, by admin).

revoke withdraws it: the link says so from then on, a notification not yet
sent is not sent, the sender gets a receipt, and no copy of the vault made
afterwards opens the withdrawn copies with their links. Asking again is
harmless. Recorded as a revoked event (by admin).

While sigill runs, both go through its admin listener.`, stdout, stderr)
	where := vaultFlags(c.fs)
	recipient := c.fs.Int("recipient", -1, "revoke: withdraw only this recipient's copy (from 0); all when not given")
	reason := c.fs.String("reason", "", "revoke: why (at most 500 characters, no personal number)")
	positional, code, done := c.parse(args)
	if done {
		return code
	}
	if len(positional) == 0 {
		return c.fail("missing what to do: expire or revoke")
	}
	switch positional[0] {
	case "revoke":
		if code, done := c.wantArgs(positional[1:], 1, "the message ID"); done {
			return code
		}
		return revokeMessage(c, where, positional[1], *recipient, *reason)
	case "expire":
	default:
		return c.fail("%q is not something message does; write expire or revoke", positional[0])
	}
	if *recipient != -1 || *reason != "" {
		return c.fail("-recipient and -reason are revoke's; expire changes the message for every recipient")
	}
	if code, done := c.wantArgs(positional[1:], 2, "the message ID and the new DURATION or TIME"); done {
		return code
	}
	id := positional[1]
	req, err := parseExpiryRequest(positional[2])
	if err != nil {
		return c.fail("%v", err)
	}
	cfg, err := where.config()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	var ans expiryAnswer
	if admin, err2 := runningAdmin(cfg); err2 == nil {
		ans, err = admin.setExpiry(id, req)
	} else {
		v, err2 := where.open()
		if err2 != nil {
			fmt.Fprintln(stderr, err2)
			return 1
		}
		ans, err = setExpiry(v, id, req)
		v.Close()
	}
	if err != nil {
		fmt.Fprintf(stderr, "sigill message expire %s: %v\n", id, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: readable until %s (was %s)\n", id, swedishTime(ans.Expires), swedishTime(ans.Old))
	return 0
}

// expiryRequest is a new expiry as the admin wrote it: a lifetime counted
// from the message's receipt, or an instant.
type expiryRequest struct {
	Lifetime addressing.Lifetime `json:"lifetime,omitempty"`
	Expires  time.Time           `json:"expires,omitzero"`
}

// expiryAnswer is what a change did.
type expiryAnswer struct {
	ID       string    `json:"id"`
	Received time.Time `json:"received"`
	Old      time.Time `json:"old"`
	Expires  time.Time `json:"expires"`
}

// stockholm is the time zone of the times an admin writes and reads.
var stockholm = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		return time.UTC
	}
	return loc
}()

func swedishTime(t time.Time) string { return t.In(stockholm).Format("2006-01-02 15:04:05 MST") }

// parseExpiryRequest reads DURATION (addressing's notation) or TIME
// (RFC 3339, or a date and time in Swedish time).
func parseExpiryRequest(s string) (expiryRequest, error) {
	l, at, err := addressing.ParseExpiry(s, stockholm)
	if err != nil {
		return expiryRequest{}, err
	}
	return expiryRequest{Lifetime: l, Expires: at}, nil
}

// setExpiry applies req to message id: what the admin listener does for the
// CLI, and the CLI itself when no sigill runs.
func setExpiry(v *vault.Vault, id string, req expiryRequest) (expiryAnswer, error) {
	c, err := v.ChangeExpiry(id, vault.ExpiryChange{Lifetime: req.Lifetime.Duration(), At: req.Expires}, "admin")
	if err != nil {
		return expiryAnswer{}, err
	}
	return expiryAnswer{ID: id, Received: c.Received, Old: c.Old, Expires: c.Expires}, nil
}

func (c *adminClient) setExpiry(id string, req expiryRequest) (expiryAnswer, error) {
	resp, err := c.do(http.MethodPut, "/messages/"+url.PathEscape(id)+"/expiry", req)
	if err != nil {
		if errors.Is(err, vault.ErrNotFound) {
			return expiryAnswer{}, fmt.Errorf("no message %s: %w", id, err)
		}
		return expiryAnswer{}, err
	}
	defer resp.Body.Close()
	var ans expiryAnswer
	return ans, json.NewDecoder(resp.Body).Decode(&ans)
}

// serveSetExpiry is PUT /messages/{id}/expiry on the admin listener.
func serveSetExpiry(v *vault.Vault) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req expiryRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
			http.Error(w, "the body is not an expiry: "+strings.TrimSpace(err.Error()), http.StatusBadRequest)
			return
		}
		ans, err := setExpiry(v, r.PathValue("id"), req)
		if err != nil {
			answer(w, err)
			return
		}
		writeJSON(w, ans)
	}
}
