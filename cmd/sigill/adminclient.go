package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"sigill/config"
	"sigill/vault"
)

// adminFile is where a running instance leaves its admin address and token,
// beside the vault and readable by the vault's owner only, so that the CLI
// can reach a daemon that holds the vault file.
func adminFile(cfg *config.Config) string {
	return filepath.Join(filepath.Dir(cfg.Vault.Path), "admin.json")
}

type adminClient struct {
	Addr  string `json:"addr"`
	Token string `json:"token"`
	http  *http.Client
}

// newAdminToken makes the token a starting instance writes to adminFile.
func newAdminToken() string { return rand.Text() }

func writeAdminFile(cfg *config.Config, addr, token string) error {
	data, _ := json.Marshal(adminClient{Addr: addr, Token: token})
	return os.WriteFile(adminFile(cfg), data, 0o600)
}

var errNotRunning = errors.New("no sigill answers on the admin listener")

// runningAdmin finds the admin listener of a sigill that runs on cfg's
// vault, or says errNotRunning. A file left by a killed daemon answers
// nothing, and then the vault file itself is free.
func runningAdmin(cfg *config.Config) (*adminClient, error) {
	data, err := os.ReadFile(adminFile(cfg))
	if err != nil {
		return nil, errNotRunning
	}
	var c adminClient
	if json.Unmarshal(data, &c) != nil {
		return nil, errNotRunning
	}
	c.http = &http.Client{Timeout: 10 * time.Minute}
	resp, err := c.http.Get("http://" + c.Addr + "/healthz")
	if err != nil {
		return nil, errNotRunning
	}
	resp.Body.Close()
	return &c, nil
}

// do sends one request with the token and returns the answer of a 2xx, or
// the error the daemon gave, as the vault's own error where there is one.
func (c *adminClient) do(method, path string, body any) (*http.Response, error) {
	var in io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		in = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, "http://"+c.Addr+path, in)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set(actorHeader, cliActor())
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("the running sigill does not answer: %w", err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1000))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusConflict:
		return nil, vault.ErrExists
	case http.StatusNotFound:
		return nil, vault.ErrNotFound
	}
	return nil, fmt.Errorf("the running sigill refused: %s %s", resp.Status, bytes.TrimSpace(msg))
}

func (c *adminClient) call(method, path string, body any) error {
	resp, err := c.do(method, path, body)
	if err == nil {
		resp.Body.Close()
	}
	return err
}

// The staff account operations, the same whether the daemon or the file
// answers them (see accountStore).

func (c *adminClient) Accounts() ([]vault.Account, error) {
	resp, err := c.do(http.MethodGet, "/accounts", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var accounts []vault.Account
	return accounts, json.NewDecoder(resp.Body).Decode(&accounts)
}

func (c *adminClient) AddAccount(address, password string) error {
	return c.call(http.MethodPost, "/accounts/"+address, map[string]string{"password": password})
}

func (c *adminClient) SetPassword(address, password string) error {
	return c.call(http.MethodPut, "/accounts/"+address, map[string]string{"password": password})
}

func (c *adminClient) RemoveAccount(address string) error {
	return c.call(http.MethodDelete, "/accounts/"+address, nil)
}

func (c *adminClient) Close() error { return nil }
