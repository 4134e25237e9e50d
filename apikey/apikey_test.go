package apikey_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigill/apikey"
	"sigill/vault"
)

func open(t *testing.T, path string) (*vault.Vault, *apikey.Store) {
	t.Helper()
	keys := apikey.New()
	v, err := vault.Open(vault.Options{Path: path, Hooks: []vault.Hook{keys.Hook()}})
	if err != nil {
		t.Fatal(err)
	}
	keys.Attach(v)
	return v, keys
}

func setup(t *testing.T) (*vault.Vault, *apikey.Store) {
	t.Helper()
	v, keys := open(t, filepath.Join(t.TempDir(), "sigill.db"))
	t.Cleanup(func() { v.Close() })
	if err := v.AddAccount("anna@staff.test", "a long enough password"); err != nil {
		t.Fatal(err)
	}
	return v, keys
}

var keyForm = regexp.MustCompile(`^sgl_[A-Za-z0-9_-]{43}$`)

func TestCreateAuthenticateRevoke(t *testing.T) {
	ctx := context.Background()
	_, keys := setup(t)
	made, key, err := keys.Create(ctx, "Anna@Staff.test", "journal", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !keyForm.MatchString(key) {
		t.Errorf("key %q is not sgl_ and 43 characters of A-Za-z0-9_-", key)
	}
	if made.Account != "anna@staff.test" || made.Name != "journal" || !slices.Equal(made.Scopes, apikey.DefaultScopes) {
		t.Errorf("made %+v", made)
	}
	got, err := keys.Authenticate(key)
	if err != nil || got.ID != made.ID {
		t.Fatalf("Authenticate = %+v, %v", got, err)
	}
	if !got.Allows(apikey.ScopeSend) || got.Allows(apikey.ScopeAudit) {
		t.Errorf("default scopes allow send %v, audit %v", got.Allows(apikey.ScopeSend), got.Allows(apikey.ScopeAudit))
	}
	for _, wrong := range []string{"", key[:len(key)-1], key + "x", strings.ToUpper(key), "Bearer " + key} {
		if _, err := keys.Authenticate(wrong); !errors.Is(err, apikey.ErrUnknownKey) {
			t.Errorf("Authenticate(%q) = %v", wrong, err)
		}
	}
	if err := keys.Revoke(ctx, made.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Authenticate(key); !errors.Is(err, apikey.ErrUnknownKey) {
		t.Errorf("a revoked key: %v", err)
	}
	list, err := keys.List()
	if err != nil || len(list) != 1 || list[0].Revoked == nil {
		t.Errorf("List after revoke = %+v, %v", list, err)
	}
	if err := keys.Revoke(ctx, "nosuchid"); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("Revoke(unknown) = %v", err)
	}
}

// Only the hash is stored: the key's bytes are nowhere in the vault file.
func TestOnlyTheHashIsStored(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sigill.db")
	v, keys := open(t, path)
	if err := v.AddAccount("anna@staff.test", "a long enough password"); err != nil {
		t.Fatal(err)
	}
	_, key, err := keys.Create(context.Background(), "anna@staff.test", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(file), key[len(apikey.Prefix):len(apikey.Prefix)+16]) {
		t.Error("the vault file holds the key")
	}
	// And it survives a restart, found by its hash.
	v, keys = open(t, path)
	defer v.Close()
	if _, err := keys.Authenticate(key); err != nil {
		t.Errorf("after reopening: %v", err)
	}
}

func TestAccountRemovedEndsItsKeys(t *testing.T) {
	ctx := context.Background()
	v, keys := setup(t)
	_, key, err := keys.Create(ctx, "anna@staff.test", "", []string{apikey.ScopeSend})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.RemoveAccount("anna@staff.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Authenticate(key); !errors.Is(err, apikey.ErrUnknownKey) {
		t.Errorf("the key of a removed account: %v", err)
	}
	// An account made again with the same address does not revive it.
	if err := v.AddAccount("anna@staff.test", "another long password"); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Authenticate(key); !errors.Is(err, apikey.ErrUnknownKey) {
		t.Errorf("the key of a removed account, the address made again: %v", err)
	}
}

// A disabled account's keys open nothing until it is enabled again.
func TestAccountDisabledEndsItsKeys(t *testing.T) {
	ctx := context.Background()
	v, keys := setup(t)
	_, key, err := keys.Create(ctx, "anna@staff.test", "", []string{apikey.ScopeSend})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.SetDisabled("anna@staff.test", true); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Authenticate(key); !errors.Is(err, apikey.ErrUnknownKey) {
		t.Errorf("the key of a disabled account: %v", err)
	}
	if err := v.SetDisabled("anna@staff.test", false); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Authenticate(key); err != nil {
		t.Errorf("the key once the account is enabled again: %v", err)
	}
}

func TestCreateRefuses(t *testing.T) {
	ctx := context.Background()
	_, keys := setup(t)
	if _, _, err := keys.Create(ctx, "nobody@staff.test", "", nil); !errors.Is(err, apikey.ErrNoAccount) {
		t.Errorf("unknown account: %v", err)
	}
	if _, _, err := keys.Create(ctx, "anna@staff.test", "", []string{"messages:sned"}); err == nil || !strings.Contains(err.Error(), "messages:send") {
		t.Errorf("unknown scope: %v (want the scopes named)", err)
	}
	if _, _, err := keys.Create(ctx, "anna@staff.test", "a\nb", nil); err == nil {
		t.Error("a name with a newline was taken")
	}
	if list, _ := keys.List(); len(list) != 0 {
		t.Errorf("refused creates left keys: %+v", list)
	}
}
