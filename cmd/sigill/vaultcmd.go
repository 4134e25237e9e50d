package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"sigill/apikey"
	"sigill/audit"
	"sigill/config"
	"sigill/passkey"
	"sigill/vault"
)

// vaultLocation is the -config / -data pair every vault-touching command takes.
type vaultLocation struct {
	configPath, dataDir, store, keyFile *string
}

func vaultFlags(fs *flag.FlagSet) vaultLocation {
	return vaultLocation{
		configPath: fs.String("config", "", "the configuration file whose vault.path (or store.url) to use"),
		dataDir:    fs.String("data", "./sigill-data", "the data folder of 'sigill dev' (when -config is not given)"),
		store:      fs.String("store", "", "the PostgreSQL store of 'sigill dev -store URL' (when -config is not given)"),
		keyFile:    fs.String("key-file", "", "the key file of 'sigill dev -key-file FILE' (when -config is not given)"),
	}
}

func (l vaultLocation) config() (*config.Config, error) {
	if *l.configPath != "" && (*l.store != "" || *l.keyFile != "") {
		return nil, errors.New("-store and -key-file are for what 'sigill dev' was given; with -config, the configuration's store.url and vault.key_file count")
	}
	cfg, err := loadOrDev(*l.configPath, *l.dataDir)
	if err == nil && (*l.store != "" || *l.keyFile != "") {
		cfg.Store.URL, cfg.Vault.KeyFile = *l.store, *l.keyFile
		err = cfg.Validate()
	}
	return cfg, err
}

func (l vaultLocation) open() (*vault.Vault, error) {
	v, _, _, err := l.openStores()
	return v, err
}

// openStores opens the vault file, and the API keys and audit records
// kept in it.
func (l vaultLocation) openStores() (*vault.Vault, *apikey.Store, *audit.Store, error) {
	cfg, err := l.config()
	if err != nil {
		return nil, nil, nil, err
	}
	if _, err := os.Stat(cfg.Vault.Path); err != nil && cfg.Store.URL == "" {
		return nil, nil, nil, fmt.Errorf("no vault at %s (%v); start sigill once, or name the right -data or -config", cfg.Vault.Path, err)
	}
	v, _, keys, trail, err := openVault(cfg)
	return v, keys, trail, err
}

// accountStore is what `sigill user` needs: the running daemon through its
// admin listener, or the vault file when nothing holds it.
type accountStore interface {
	Accounts() ([]vault.Account, error)
	AddAccount(address, password string) error
	SetPassword(address, password string) error
	RemoveAccount(address string) error
	AddAdmin(address, password string) error
	SetDisabled(address string, disabled bool) error
	EnrollTOTP(address string) (vault.TOTPEnrolment, error)
	ConfirmTOTP(address, code string) ([]string, error)
	RegenerateRecoveryCodes(address string) ([]string, error)
	ResetSecondFactor(address string) error
	CreateAppPassword(address, name string) (vault.AppPassword, string, error)
	AppPasswords(address string) ([]vault.AppPassword, error)
	RevokeAppPassword(address, id string) error
	Close() error
}

func (l vaultLocation) accounts() (accountStore, error) {
	return daemonOrFile(l, func(a *adminClient) accountStore { return a }, func(f openFile) accountStore {
		return auditedAccounts{accountStore: vaultAccounts{f.v}, trail: f.trail, actor: cliActor()}
	})
}

// openFile is the vault file as a command opened it.
type openFile struct {
	cfg   *config.Config
	v     *vault.Vault
	keys  *apikey.Store
	trail *audit.Store
}

// daemonOrFile is what a command that works while sigill runs talks to:
// the daemon's admin listener when one answers (daemon), else the vault
// file it opens (file).
func daemonOrFile[T any](l vaultLocation, daemon func(*adminClient) T, file func(openFile) T) (T, error) {
	var none T
	cfg, err := l.config()
	if err != nil {
		return none, err
	}
	if admin, err := runningAdmin(cfg); err == nil {
		return daemon(admin), nil
	}
	v, keys, trail, err := l.openStores()
	if err != nil {
		return none, err
	}
	return file(openFile{cfg: cfg, v: v, keys: keys, trail: trail}), nil
}

// vaultAccounts is the vault file as an accountStore: its own operations,
// but the reset of the second factor that takes the passkeys too, as the
// daemon's admin listener and the staff web do.
type vaultAccounts struct{ *vault.Vault }

func (v vaultAccounts) ResetSecondFactor(address string) error {
	return passkey.ResetSecondFactor(v.Vault, address)
}

func runVault(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	c := newCLI("vault", `Usage: sigill vault stats|backup FILE|verify|migrate -to URL [-config FILE | -data DIR | -store URL]

  stats         messages, recipients, outbox depth and store size, as JSON
  backup FILE   a consistent copy of the vault, taken while sigill runs
                (bbolt; a PostgreSQL store is backed up with pg_dump)
  verify        check the store's structure (a bbolt file: sigill must be stopped)
  migrate -to postgres://…
                copy the bbolt vault (sigill stopped) into an empty
                PostgreSQL store, and say what was copied
While sigill runs it holds the vault file; stats and backup then ask it over
its admin listener (admin.listen, loopback only).`, stdout, stderr)
	migrateTo := c.fs.String("to", "", "migrate: the empty PostgreSQL store to copy the vault into")
	where := vaultFlags(c.fs)
	positional, code, done := c.parse(args)
	if done {
		return code
	}
	if len(positional) == 0 {
		return c.fail("missing what to do: stats, backup FILE, verify or migrate -to URL")
	}
	verb := positional[0]
	switch verb {
	case "stats", "verify":
		code, done = c.wantArgs(positional[1:], 0, "")
	case "backup":
		code, done = c.wantArgs(positional[1:], 1, "the FILE to write the backup to")
	case "migrate":
		code, done = c.wantArgs(positional[1:], 0, "")
		if !done && *migrateTo == "" {
			return c.fail("migrate needs -to postgres://user@host/database, an empty PostgreSQL store")
		}
	default:
		return c.fail("%q is not something vault does; write stats, backup FILE, verify or migrate -to URL", verb)
	}
	if verb != "migrate" && *migrateTo != "" {
		return c.fail("-to is for migrate")
	}
	if done {
		return code
	}
	file := ""
	if verb == "backup" {
		file = positional[1]
	}
	cfg, err := where.config()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	switch {
	case verb == "migrate":
		if err := migrateVault(cfg, *migrateTo, stdout); err != nil {
			fmt.Fprintln(stderr, "sigill vault migrate:", err)
			return 1
		}
		return 0
	case verb == "verify" && cfg.Store.URL != "":
		if err := verifyPostgres(cfg.Store.URL); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintln(stdout, "OK", storeName(cfg.Store.URL))
		return 0
	case verb == "verify":
		if err := vault.Verify(cfg.Vault.Path); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintln(stdout, "OK", cfg.Vault.Path)
		return 0
	case verb == "backup" && cfg.Store.URL != "":
		fmt.Fprint(stderr, pgBackupAdvice(cfg))
		return 1
	}

	// The daemon, when it runs, answers for the vault it holds.
	if admin, err := runningAdmin(cfg); err == nil {
		if err := viaAdmin(admin, verb, file, cfg.Vault.Path, stdout); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	}
	v, err := where.open()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer v.Close()
	switch verb {
	case "stats":
		st, err := v.Stats()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		out, _ := json.Marshal(st)
		fmt.Fprintln(stdout, string(out))
	case "backup":
		copied, err := writeBackup(file, v.Backup)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		reportBackup(stdout, file, copied, cfg.Vault.Path)
	}
	return 0
}

func viaAdmin(admin *adminClient, verb, file, vaultPath string, stdout io.Writer) error {
	resp, err := admin.do(http.MethodGet, "/vault/"+verb, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if verb == "stats" {
		_, err = io.Copy(stdout, resp.Body)
		return err
	}
	copied, err := writeBackup(file, func(w io.Writer) (int64, error) { return io.Copy(w, resp.Body) })
	if err != nil {
		return err
	}
	reportBackup(stdout, file, copied, vaultPath)
	return nil
}

// reportBackup says how large the copy is and, when it is smaller than the
// vault file (it nearly always is), why that is no loss: bbolt grows its
// file ahead of need (by 16 MiB at a time once past its first map), and
// Tx.WriteTo copies the pages up to the highest one ever used, not the
// reserved space after it. Pages freed inside that range (expired content)
// are copied as they are and reused by later writes.
func reportBackup(w io.Writer, path string, copied int64, vaultPath string) {
	fmt.Fprintf(w, "backup written to %s: %s, verified\n", path, byteCount(copied))
	fi, err := os.Stat(vaultPath)
	if err != nil || fi.Size() <= copied {
		return
	}
	fmt.Fprintf(w, "The vault file %s is %s. The copy is smaller and complete: bbolt reserves space at the end of its file\n"+
		"ahead of need (16 MiB at a time), and a copy ends at the last page in use. Restored, the copy grows the same way.\n",
		vaultPath, byteCount(fi.Size()))
	fmt.Fprintf(w, "The copy holds neither the key file %s.key (keep it apart) nor the key store %s.keys: a copy of the key store\n"+
		"keeps every message live now readable with the backup for as long as it exists (README: \"Decisions worth knowing\").\n", vaultPath, vaultPath)
}

// byteCount is n in bytes and, from 1 KiB, in binary units too: "24576 bytes (24.0 KiB)".
func byteCount(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	v, unit := float64(n)/1024, "KiB"
	for _, u := range []string{"MiB", "GiB", "TiB"} {
		if v < 1024 {
			break
		}
		v, unit = v/1024, u
	}
	return fmt.Sprintf("%d bytes (%.1f %s)", n, v, unit)
}

// writeBackup writes beside the target and renames, so a half-written
// backup never carries the name of a good one. It returns the bytes copied.
func writeBackup(path string, write func(io.Writer) (int64, error)) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".partial-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	copied, err := write(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return copied, errors.Join(fmt.Errorf("backup to %s failed", path), err)
	}
	return copied, vault.Verify(path)
}
