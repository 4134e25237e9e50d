package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// `sigill vault backup` says how large the copy is, and why a copy far
// smaller than the vault file is still whole — both through the running
// daemon and from the file itself.
func TestVaultBackupSaysItsSize(t *testing.T) {
	data := t.TempDir()
	vaultFile := filepath.Join(data, "sigill.db")
	check := func(when string) {
		t.Helper()
		backup := filepath.Join(t.TempDir(), "backup.db")
		stdout, stderr, code := run(t, "", "vault", "-data", data, "backup", backup)
		if code != 0 {
			t.Fatalf("%s: exit %d, %s", when, code, stderr)
		}
		copied, err := os.Stat(backup)
		if err != nil {
			t.Fatal(err)
		}
		file, err := os.Stat(vaultFile)
		if err != nil {
			t.Fatal(err)
		}
		if copied.Size() >= file.Size() {
			t.Fatalf("%s: the copy (%d bytes) is not smaller than the file (%d bytes); this test expects bbolt's reserved space", when, copied.Size(), file.Size())
		}
		for _, want := range []string{
			"backup written to " + backup + ": " + strconv.FormatInt(copied.Size(), 10) + " bytes (",
			"The vault file " + vaultFile + " is " + strconv.FormatInt(file.Size(), 10) + " bytes (",
			"bbolt reserves space at the end of its file",
			"a copy ends at the last page in use",
			"neither the key file " + vaultFile + ".key (keep it apart) nor the key store " + vaultFile + ".keys",
		} {
			if !strings.Contains(stdout, want) {
				t.Errorf("%s: %q missing from\n%s", when, want, stdout)
			}
		}
	}
	d := startDev(t, data)
	check("while sigill runs")
	d.stop(t)
	check("with sigill stopped")
}

func TestByteCount(t *testing.T) {
	for n, want := range map[int64]string{
		0:        "0 bytes",
		1023:     "1023 bytes",
		24576:    "24576 bytes (24.0 KiB)",
		16805888: "16805888 bytes (16.0 MiB)",
		3 << 30:  "3221225472 bytes (3.0 GiB)",
	} {
		if got := byteCount(n); got != want {
			t.Errorf("byteCount(%d) = %q, want %q", n, got, want)
		}
	}
}
