package main

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"

	"sigill/bankid"
	"sigill/config"
	"sigill/internal/testenv"
)

// `sigill bankid-simulator` as a staging gateway uses it: the [bankid] lines
// it prints make a client that signs in against it, its phone approves over
// JSON, its files are in -dir, and SIGTERM stops it cleanly.
func TestBankIDSimulatorCommand(t *testing.T) {
	sim := startBankIDSimulator(t)
	cmd, dir, listen, phone, out, stderr := sim.cmd, sim.dir, sim.listen, sim.phone, sim.banner, sim.stderr

	// The printed [bankid] block is TOML that sigill's configuration takes.
	block := sim.bankIDBlock()
	var settings struct {
		BankID config.BankID `toml:"bankid"`
	}
	if err := toml.Unmarshal([]byte(block), &settings); err != nil {
		t.Fatalf("the printed block is not TOML: %v\n%s", err, block)
	}
	b := settings.BankID
	// Over the example's defaults, the block passes validation: whatever
	// else a bare block lacks (the defaults' /etc/sigill files), no fault
	// names a bankid key.
	if _, err := config.Parse([]byte(block)); err != nil && strings.Contains(err.Error(), "bankid.") {
		t.Errorf("the printed block over the defaults: %v", err)
	}
	if b.Environment != "test" || b.URL != "https://"+listen+"/rp/v6.0/" || b.CAFile != filepath.Join(dir, "ca.pem") ||
		b.CertificateFile != filepath.Join(dir, "rp.p12") || b.CertificatePasswordFile != filepath.Join(dir, "rp.p12.password") {
		t.Errorf("printed settings: %+v", b)
	}
	phoneURL := "http://" + phone + "/dev/bankid"
	if !strings.Contains(out, "The phone: "+phoneURL+"\n") {
		t.Errorf("the banner does not give the phone page %s:\n%s", phoneURL, out)
	}
	for name, mode := range map[string]os.FileMode{"ca.pem": 0o644, "rp.p12": 0o600, "rp.p12.password": 0o600, "server.pem": 0o644, "server.key": 0o600} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v, mode %v; want %v", name, err, fi.Mode().Perm(), mode)
		}
	}

	// A client made from exactly those settings signs in against it.
	p12, _ := os.ReadFile(b.CertificateFile)
	password, _ := os.ReadFile(b.CertificatePasswordFile)
	signInAtSimulator(t, bankid.Config{
		Environment: bankid.Test,
		BaseURL:     b.URL,
		P12:         p12,
		P12Password: strings.TrimSpace(string(password)),
		CAFile:      b.CAFile,
	}, phoneURL)

	// server.pem and server.key make a TLS server that ca.pem vouches for.
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := os.ReadFile(b.CAFile)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	leaf, _ := x509.ParseCertificate(pair.Certificate[0])
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "127.0.0.1"}); err != nil {
		t.Errorf("server.pem for 127.0.0.1 under ca.pem: %v", err)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Error("still running 20 s after SIGTERM")
	}
}

// bankIDSimulator is a `sigill bankid-simulator` child process, killed when
// the test ends, with the banner it printed.
type bankIDSimulator struct {
	cmd                *exec.Cmd
	dir, listen, phone string
	banner             string
	stderr             *testenv.SyncBuffer
}

func startBankIDSimulator(t *testing.T) *bankIDSimulator {
	t.Helper()
	sim := &bankIDSimulator{dir: filepath.Join(t.TempDir(), "sim"), listen: freePort(t), phone: freePort(t)}
	sim.cmd = exec.Command(sigillBin, "bankid-simulator", "-dir", sim.dir, "-listen", sim.listen, "-phone", sim.phone)
	sim.banner, sim.stderr = startUntil(t, sim.cmd, "A TLS pair", 30*time.Second)
	return sim
}

// bankIDBlock is the [bankid] block the simulator printed, for a
// configuration file.
func (sim *bankIDSimulator) bankIDBlock() string {
	block := sim.banner[strings.Index(sim.banner, "[bankid]"):]
	return block[:strings.Index(block, "\n\n")+1]
}

// Anyone may sign in as anyone at the simulator: it refuses to listen
// anywhere but loopback, and says why.
func TestBankIDSimulatorLoopbackOnly(t *testing.T) {
	for _, args := range [][]string{
		{"-listen", "0.0.0.0:0"},
		{"-phone", ":0"},
		{"-listen", "192.0.2.7:8081"},
	} {
		_, stderr, code := run(t, "", append([]string{"bankid-simulator", "-dir", t.TempDir()}, args...)...)
		if code != 2 || !strings.Contains(stderr, args[0]+" "+args[1]) || !strings.Contains(stderr, "loopback") {
			t.Errorf("%v: exit %d, %q; want 2 and a refusal naming the flag and loopback", args, code, stderr)
		}
	}
}

// The simulator rewrites rp.p12 and the rest at every start: it refuses a
// folder that holds files and is not its own, and takes its own again.
func TestBankIDSimulatorKeepsOffOtherFolders(t *testing.T) {
	dir := t.TempDir()
	production := filepath.Join(dir, "rp.p12")
	if err := os.WriteFile(production, []byte("the production RP certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := run(t, "", "bankid-simulator", "-dir", dir, "-listen", "127.0.0.1:0", "-phone", "127.0.0.1:0")
	if code != 1 || !strings.Contains(stderr, "-dir") || !strings.Contains(stderr, "not the simulator's") {
		t.Errorf("a foreign folder: exit %d, %q; want 1 and a refusal naming -dir", code, stderr)
	}
	if b, _ := os.ReadFile(production); string(b) != "the production RP certificate" {
		t.Errorf("the foreign folder's rp.p12 was touched: %q", b)
	}
	own := filepath.Join(t.TempDir(), "sim")
	if err := claimSimulatorDir(own); err != nil {
		t.Fatalf("a new folder: %v", err)
	}
	os.WriteFile(filepath.Join(own, "ca.pem"), []byte("x"), 0o600)
	if err := claimSimulatorDir(own); err != nil {
		t.Errorf("the simulator's own folder, with files, refused: %v", err)
	}
}

// serve hands bankid.url to the BankID client; "" keeps BankID's own URL.
func TestBankIDConfigCarriesURL(t *testing.T) {
	cfg := config.Default()
	cfg.BankID.Environment, cfg.BankID.URL, cfg.BankID.CAFile = "test", "https://127.0.0.1:8081/rp/v6.0/", "/tmp/ca.pem"
	if got := bankidConfig(cfg); got.BaseURL != cfg.BankID.URL || got.CAFile != "/tmp/ca.pem" || got.Environment != bankid.Test {
		t.Errorf("bankidConfig: %+v", got)
	}
	if got := bankidConfig(config.Default()); got.BaseURL != "" {
		t.Errorf("the example's BaseURL %q, want empty (BankID's production URL)", got.BaseURL)
	}
}
