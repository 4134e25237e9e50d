package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"sigill/apikey"
	"sigill/audit"
	"sigill/vault"
)

func runAPIKey(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	c := newCLI("apikey", `Usage: sigill apikey create ACCOUNT [-name NAME] [-scopes a,b,...] [-rate N] | list | revoke ID [-config FILE | -data DIR]

Keys for the REST API (/api/v1/ on staff.listen). A key belongs to a staff
account, which is the sender of what is sent with it, and carries scopes:
`+strings.Join(apikey.Scopes, ", ")+`
(default: `+strings.Join(apikey.DefaultScopes, ",")+`).
  create ACCOUNT   make a key; it is printed once, alone on the last line,
                   and only a hash of it is kept; -rate N lets it make N
                   requests a second instead of the API's 10
  list             list the keys (never the keys themselves)
  revoke ID        end a key for good
Removing an account ends its keys. While sigill runs, the change goes
through its admin listener and takes effect at once.`, stdout, stderr)
	where := vaultFlags(c.fs)
	name := c.fs.String("name", "", "create: what the key is for (e.g. the system that uses it)")
	scopes := c.fs.String("scopes", "", "create: comma-separated scopes (default "+strings.Join(apikey.DefaultScopes, ",")+")")
	perSecond := c.fs.Float64("rate", 0, "create: requests a second the key may make (default: the API's 10)")
	positional, code, done := c.parse(args)
	if done {
		return code
	}
	if len(positional) == 0 {
		return c.fail("missing what to do: create, list or revoke")
	}
	verb, rest := positional[0], positional[1:]
	wantArgs := map[string]int{"create": 1, "revoke": 1, "list": 0}
	n, ok := wantArgs[verb]
	if !ok {
		return c.fail("%q is not something apikey does; write create, list or revoke", verb)
	}
	what := map[string]string{"create": "the ACCOUNT the key is for", "revoke": "the ID of the key (see 'sigill apikey list')"}[verb]
	if code, done := c.wantArgs(rest, n, what); done {
		return code
	}
	var scopeList []string
	if *scopes != "" {
		scopeList = strings.Split(*scopes, ",")
		if err := apikey.CheckScopes(scopeList); err != nil {
			return c.fail("-scopes: %v", err)
		}
	}
	if *perSecond < 0 {
		return c.fail("-rate: a number of requests a second above 0, not %g", *perSecond)
	}
	keys, err := where.apiKeys()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer keys.Close()

	switch verb {
	case "list":
		list, err := keys.Keys()
		if err != nil {
			fmt.Fprintln(stderr, "sigill apikey list:", err)
			return 1
		}
		for _, k := range list {
			state := "active"
			if k.Revoked != nil {
				state = "revoked " + k.Revoked.Format(time.DateOnly)
			}
			if k.Rate > 0 {
				state += fmt.Sprintf(", %g requests a second", k.Rate)
			}
			fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\tcreated %s\t%s\n", k.ID, k.Account, strings.Join(k.Scopes, ","), k.Name, k.Created.Format(time.DateOnly), state)
		}
		return 0
	case "revoke":
		if err := keys.RevokeKey(rest[0]); err != nil {
			fmt.Fprintf(stderr, "sigill apikey revoke %s: %v\n", rest[0], err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: revoked\n", rest[0])
		return 0
	}
	made, key, err := keys.CreateKey(rest[0], *name, scopeList, *perSecond)
	if err != nil {
		fmt.Fprintf(stderr, "sigill apikey create %s: %v\n", rest[0], err)
		return 1
	}
	fmt.Fprintf(stdout, "key %s for %s, scopes %s; shown only now, keep it secret:\n%s\n", made.ID, made.Account, strings.Join(made.Scopes, ","), key)
	return 0
}

// keyStore is what `sigill apikey` needs: the running daemon through its
// admin listener, or the vault file when nothing holds it.
type keyStore interface {
	CreateKey(account, name string, scopes []string, perSecond float64) (apikey.Key, string, error)
	Keys() ([]apikey.Key, error)
	RevokeKey(id string) error
	Close() error
}

func (l vaultLocation) apiKeys() (keyStore, error) {
	return daemonOrFile(l, func(a *adminClient) keyStore { return a }, func(f openFile) keyStore {
		return auditedKeys{keyStore: fileKeys{v: f.v, keys: f.keys}, trail: f.trail, actor: cliActor()}
	})
}

// fileKeys is keyStore on the vault file, opened by this command.
type fileKeys struct {
	v    *vault.Vault
	keys *apikey.Store
}

func (f fileKeys) CreateKey(account, name string, scopes []string, perSecond float64) (apikey.Key, string, error) {
	return f.keys.Create(context.Background(), account, name, scopes, apikey.WithRate(perSecond))
}
func (f fileKeys) Keys() ([]apikey.Key, error) { return f.keys.List() }
func (f fileKeys) RevokeKey(id string) error   { return f.keys.Revoke(context.Background(), id) }
func (f fileKeys) Close() error                { return f.v.Close() }

// The admin listener's side: the daemon's store, to the same keyStore.

type createKeyRequest struct {
	Account string   `json:"account"`
	Name    string   `json:"name"`
	Scopes  []string `json:"scopes"`
	Rate    float64  `json:"rate,omitempty"`
}

type createKeyAnswer struct {
	Key    apikey.Key `json:"key"`
	Secret string     `json:"secret"`
}

func apiKeyRoutes(private func(string, http.HandlerFunc), keys *apikey.Store, trail *audit.Store) {
	audited := func(r *http.Request) keyStore {
		return auditedKeys{keyStore: fileKeys{keys: keys}, trail: trail, actor: actorOf(r)}
	}
	private("GET /apikeys", func(w http.ResponseWriter, r *http.Request) {
		list, err := keys.List()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, list)
	})
	private("POST /apikeys", func(w http.ResponseWriter, r *http.Request) {
		var req createKeyRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		made, key, err := audited(r).CreateKey(req.Account, req.Name, req.Scopes, req.Rate)
		if err != nil {
			answerKeys(w, err)
			return
		}
		writeJSON(w, createKeyAnswer{Key: made, Secret: key})
	})
	private("DELETE /apikeys/{id}", func(w http.ResponseWriter, r *http.Request) {
		answerKeys(w, audited(r).RevokeKey(r.PathValue("id")))
	})
}

func answerKeys(w http.ResponseWriter, err error) {
	if errors.Is(err, apikey.ErrNotFound) {
		err = fmt.Errorf("%w (%w)", err, vault.ErrNotFound)
	}
	answer(w, err)
}

func (c *adminClient) CreateKey(account, name string, scopes []string, perSecond float64) (apikey.Key, string, error) {
	resp, err := c.do(http.MethodPost, "/apikeys", createKeyRequest{Account: account, Name: name, Scopes: scopes, Rate: perSecond})
	if err != nil {
		return apikey.Key{}, "", err
	}
	defer resp.Body.Close()
	var a createKeyAnswer
	err = json.NewDecoder(resp.Body).Decode(&a)
	return a.Key, a.Secret, err
}

func (c *adminClient) Keys() ([]apikey.Key, error) {
	resp, err := c.do(http.MethodGet, "/apikeys", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var list []apikey.Key
	return list, json.NewDecoder(resp.Body).Decode(&list)
}

func (c *adminClient) RevokeKey(id string) error {
	err := c.call(http.MethodDelete, "/apikeys/"+id, nil)
	if errors.Is(err, vault.ErrNotFound) {
		return apikey.ErrNotFound
	}
	return err
}
