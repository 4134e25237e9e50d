package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"sigill/vault"
)

// revokeRequest is what `sigill message revoke` asks of the admin
// listener: Recipient -1 for every recipient.
type revokeRequest struct {
	Recipient int    `json:"recipient"`
	Reason    string `json:"reason,omitempty"`
}

// revokeAnswer is what a withdrawal did.
type revokeAnswer struct {
	ID string `json:"id"`
	vault.Revocation
	// Unreplaced is set when the copies were withdrawn but the key of
	// their hour could not be replaced yet (see vault.RevokeRecipients).
	Unreplaced string `json:"unreplaced,omitempty"`
}

// revokeMessage is `sigill message revoke`.
func revokeMessage(c *cli, where vaultLocation, id string, recipient int, reason string) int {
	if recipient < -1 {
		return c.fail("-recipient %d is not a recipient; they count from 0", recipient)
	}
	if err := vault.CheckReason(reason); err != nil {
		return c.fail("-reason: %v", err)
	}
	cfg, err := where.config()
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	req := revokeRequest{Recipient: recipient, Reason: reason}
	var ans revokeAnswer
	if admin, err2 := runningAdmin(cfg); err2 == nil {
		ans, err = admin.revoke(id, req)
	} else {
		v, err2 := where.open()
		if err2 != nil {
			fmt.Fprintln(c.stderr, err2)
			return 1
		}
		ans, err = revoke(v, id, req)
		v.Close()
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "sigill message revoke %s: %v\n", id, err)
		return 1
	}
	switch {
	case len(ans.Revoked) == 0:
		fmt.Fprintf(c.stdout, "%s: already withdrawn for %s; nothing changed\n", id, recipientList(ans.Already))
	default:
		fmt.Fprintf(c.stdout, "%s: withdrawn for %s", id, recipientList(ans.Revoked))
		if len(ans.Already) > 0 {
			fmt.Fprintf(c.stdout, " (already for %s)", recipientList(ans.Already))
		}
		fmt.Fprintln(c.stdout)
	}
	if ans.Unreplaced != "" {
		fmt.Fprintf(c.stderr, "sigill message revoke %s: %s\n", id, ans.Unreplaced)
	} else if !ans.Final {
		fmt.Fprintf(c.stderr, "sigill message revoke %s: the links are refused, but this message was accepted before single recipients could be withdrawn for good: a copy of the vault opens it with such a link until it expires (withdraw every recipient to shred it now)\n", id)
	}
	return 0
}

func recipientList(rs []int) string {
	words := make([]string, len(rs))
	for i, r := range rs {
		words[i] = fmt.Sprint(r)
	}
	if len(rs) == 1 {
		return "recipient " + words[0]
	}
	return "recipients " + strings.Join(words, ", ")
}

// revoke withdraws message id as req asks, as the administrator: what the
// admin listener does for the CLI, and the CLI itself when no sigill runs.
func revoke(v *vault.Vault, id string, req revokeRequest) (revokeAnswer, error) {
	res, err := v.Revoke(context.Background(), id, req.Recipient, req.Reason, "admin")
	if err != nil && len(res.Revoked) == 0 {
		return revokeAnswer{}, err
	}
	ans := revokeAnswer{ID: id, Revocation: res}
	if err != nil {
		ans.Unreplaced = err.Error()
	}
	return ans, nil
}

func (c *adminClient) revoke(id string, req revokeRequest) (revokeAnswer, error) {
	resp, err := c.do(http.MethodPost, "/messages/"+url.PathEscape(id)+"/revoke", req)
	if err != nil {
		if errors.Is(err, vault.ErrNotFound) {
			return revokeAnswer{}, fmt.Errorf("no message %s, or no such recipient in it: %w", id, err)
		}
		return revokeAnswer{}, err
	}
	defer resp.Body.Close()
	var ans revokeAnswer
	return ans, json.NewDecoder(resp.Body).Decode(&ans)
}

// serveRevoke is POST /messages/{id}/revoke on the admin listener.
func serveRevoke(v *vault.Vault) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req revokeRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8192)).Decode(&req); err != nil {
			http.Error(w, "the body is not a withdrawal: "+strings.TrimSpace(err.Error()), http.StatusBadRequest)
			return
		}
		ans, err := revoke(v, r.PathValue("id"), req)
		answerJSON(w, ans, err)
	}
}
