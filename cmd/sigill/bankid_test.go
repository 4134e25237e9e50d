package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigill/bankid"
	"sigill/config"
)

// The dev contract: the simulator's RP API on the BankID port, with the
// throwaway certificates in <data>/bankid, and its phone on the reader port.
func TestDevBankIDSimulator(t *testing.T) {
	data := t.TempDir()
	d := startDev(t, data)
	dir := filepath.Join(data, "bankid")
	p12, err := os.ReadFile(filepath.Join(dir, "rp.p12"))
	if err != nil {
		t.Fatal(err)
	}
	password, _ := os.ReadFile(filepath.Join(dir, "rp.p12.password"))
	ca, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
	signInAtSimulator(t, bankid.Config{
		BaseURL:     "https://" + d.addr(config.DevBankIDPort) + "/rp/v6.0/",
		P12:         p12,
		P12Password: strings.TrimSpace(string(password)),
		CAPEM:       ca,
	}, "http://"+d.addr(config.DevReaderPort)+"/dev/bankid")
}

// signInAtSimulator signs in as 199908072391 with a BankID client made from
// cfg: an order, its approval on the simulator's phone (phoneURL ends in
// /dev/bankid), and a collect that must be complete with that person.
func signInAtSimulator(t *testing.T, cfg bankid.Config, phoneURL string) {
	t.Helper()
	client, err := bankid.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	order, err := client.Auth(ctx, bankid.AuthRequest{EndUserIP: "127.0.0.1", UserVisibleData: "Logga in"})
	if err != nil {
		t.Fatalf("Auth against the simulator: %v", err)
	}
	resp, err := http.Post(phoneURL+"/approve", "application/json",
		strings.NewReader(`{"autoStartToken": "`+order.AutoStartToken+`", "personalNumber": "199908072391"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s/approve: %s", phoneURL, resp.Status)
	}
	got, err := client.Collect(ctx, order.OrderRef)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != "complete" || got.CompletionData == nil || got.CompletionData.User.PersonalNumber != "199908072391" {
		t.Errorf("collect after approve: %+v", got)
	}
}
