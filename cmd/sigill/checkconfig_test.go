package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"sigill/config/configtest"
)

func TestCheckConfigAcceptsTheExample(t *testing.T) {
	path := configtest.Example(t, time.Now().Add(400*24*time.Hour))
	stdout, stderr, code := run(t, "", "check-config", "-config", path)
	if code != 0 || !strings.HasPrefix(stdout, "OK ") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
}

func TestCheckConfigNamesATypo(t *testing.T) {
	path := configtest.Example(t, time.Now().Add(400*24*time.Hour))
	text, _ := os.ReadFile(path)
	typo := strings.Replace(string(text), "max_recipients = 50", "max_recipients = 50\nmax_recipents = 60", 1)
	retention := strings.Replace(typo, `retention = "720h"`, `retention = "30 days"`, 1)
	configtest.Write(t, path, []byte(retention))
	_, stderr, code := run(t, "", "check-config", "-config", path)
	if code != 1 {
		t.Errorf("exit %d; want 1", code)
	}
	if !strings.Contains(stderr, "smtp.max_recipents: unknown key") {
		t.Errorf("the typo'd key is not named:\n%s", stderr)
	}
	// The unknown key does not hide the faults after it.
	if !strings.Contains(stderr, `vault.retention: "30 days" is not a duration; write it like 720h`) {
		t.Errorf("the bad duration is not named:\n%s", stderr)
	}
}

func TestCheckConfigWarnsOfExpiry(t *testing.T) {
	path := configtest.Example(t, time.Now().Add(12*24*time.Hour))
	stdout, _, code := run(t, "", "check-config", "-config", path)
	if code != 0 || !strings.Contains(stdout, "warning: bankid.certificate_file") {
		t.Errorf("exit %d; want 0 with a warning for the BankID certificate:\n%s", code, stdout)
	}
}

func TestServeRefusesABadConfig(t *testing.T) {
	path := configtest.Example(t, time.Now().Add(400*24*time.Hour))
	text, _ := os.ReadFile(path)
	configtest.Write(t, path, []byte(strings.Replace(string(text), `environment = "production"`, `environment = "simulator"`, 1)))
	_, stderr, code := run(t, "", "serve", "-config", path)
	if code != 1 || !strings.Contains(stderr, "bankid.environment") {
		t.Errorf("serve with the simulator: exit %d\n%s", code, stderr)
	}
}
