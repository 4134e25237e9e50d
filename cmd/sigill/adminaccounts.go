package main

import (
	"encoding/json"
	"net/http"

	"sigill/audit"
	"sigill/vault"
)

// The admin listener's routes for roles, disabling, the second factor and
// app passwords: what `sigill user` asks a running daemon (adminClient's
// methods below), answered by the same vault operations as on the file.
func accountRoutes(private func(string, http.HandlerFunc), vlt *vault.Vault, trail *audit.Store) {
	v := func(r *http.Request) accountStore {
		return auditedAccounts{accountStore: vaultAccounts{vlt}, trail: trail, actor: actorOf(r)}
	}
	private("POST /admins/{address}", func(w http.ResponseWriter, r *http.Request) {
		answer(w, v(r).AddAdmin(r.PathValue("address"), readSecret(r)))
	})
	private("POST /accounts/{address}/disabled", func(w http.ResponseWriter, r *http.Request) {
		answer(w, v(r).SetDisabled(r.PathValue("address"), true))
	})
	private("DELETE /accounts/{address}/disabled", func(w http.ResponseWriter, r *http.Request) {
		answer(w, v(r).SetDisabled(r.PathValue("address"), false))
	})
	private("POST /accounts/{address}/totp", func(w http.ResponseWriter, r *http.Request) {
		e, err := v(r).EnrollTOTP(r.PathValue("address"))
		answerJSON(w, e, err)
	})
	private("POST /accounts/{address}/totp/confirm", func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Code string }
		json.NewDecoder(http.MaxBytesReader(nil, r.Body, 4096)).Decode(&body)
		codes, err := v(r).ConfirmTOTP(r.PathValue("address"), body.Code)
		answerJSON(w, codes, err)
	})
	private("DELETE /accounts/{address}/totp", func(w http.ResponseWriter, r *http.Request) {
		answer(w, v(r).ResetSecondFactor(r.PathValue("address")))
	})
	private("POST /accounts/{address}/recovery-codes", func(w http.ResponseWriter, r *http.Request) {
		codes, err := v(r).RegenerateRecoveryCodes(r.PathValue("address"))
		answerJSON(w, codes, err)
	})
	private("GET /accounts/{address}/app-passwords", func(w http.ResponseWriter, r *http.Request) {
		list, err := v(r).AppPasswords(r.PathValue("address"))
		answerJSON(w, list, err)
	})
	private("POST /accounts/{address}/app-passwords", func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Name string }
		json.NewDecoder(http.MaxBytesReader(nil, r.Body, 4096)).Decode(&body)
		p, secret, err := v(r).CreateAppPassword(r.PathValue("address"), body.Name)
		answerJSON(w, createdAppPassword{p, secret}, err)
	})
	private("DELETE /accounts/{address}/app-passwords/{id}", func(w http.ResponseWriter, r *http.Request) {
		answer(w, v(r).RevokeAppPassword(r.PathValue("address"), r.PathValue("id")))
	})
}

type createdAppPassword struct {
	AppPassword vault.AppPassword
	Password    string
}

// answerJSON writes value, or the error as answer does.
func answerJSON(w http.ResponseWriter, value any, err error) {
	if err != nil {
		answer(w, err)
		return
	}
	writeJSON(w, value)
}

func (c *adminClient) AddAdmin(address, password string) error {
	return c.call(http.MethodPost, "/admins/"+address, map[string]string{"password": password})
}

func (c *adminClient) SetDisabled(address string, disabled bool) error {
	if disabled {
		return c.call(http.MethodPost, "/accounts/"+address+"/disabled", nil)
	}
	return c.call(http.MethodDelete, "/accounts/"+address+"/disabled", nil)
}

func (c *adminClient) EnrollTOTP(address string) (e vault.TOTPEnrolment, err error) {
	return e, c.decode(http.MethodPost, "/accounts/"+address+"/totp", nil, &e)
}

func (c *adminClient) ConfirmTOTP(address, code string) (codes []string, err error) {
	return codes, c.decode(http.MethodPost, "/accounts/"+address+"/totp/confirm", map[string]string{"code": code}, &codes)
}

func (c *adminClient) RegenerateRecoveryCodes(address string) (codes []string, err error) {
	return codes, c.decode(http.MethodPost, "/accounts/"+address+"/recovery-codes", nil, &codes)
}

func (c *adminClient) ResetSecondFactor(address string) error {
	return c.call(http.MethodDelete, "/accounts/"+address+"/totp", nil)
}

func (c *adminClient) CreateAppPassword(address, name string) (vault.AppPassword, string, error) {
	var out createdAppPassword
	err := c.decode(http.MethodPost, "/accounts/"+address+"/app-passwords", map[string]string{"name": name}, &out)
	return out.AppPassword, out.Password, err
}

func (c *adminClient) AppPasswords(address string) (list []vault.AppPassword, err error) {
	return list, c.decode(http.MethodGet, "/accounts/"+address+"/app-passwords", nil, &list)
}

func (c *adminClient) RevokeAppPassword(address, id string) error {
	return c.call(http.MethodDelete, "/accounts/"+address+"/app-passwords/"+id, nil)
}

// decode sends one request and decodes its JSON answer into out.
func (c *adminClient) decode(method, path string, body, out any) error {
	resp, err := c.do(method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}
