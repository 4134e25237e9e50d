package vault

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"sigill/addressing"
	"sigill/internal/pgtest"
	"sigill/internal/testenv"
	"sigill/vault/kv/boltkv"
	"sigill/vault/kv/walkv"
)

// The only personal numbers test data may use.
const (
	pn1 = "199908072391"
	pn2 = "198611239883"
	pn3 = "200211242383"
)

func TestMain(m *testing.M) {
	// Tests hash many passwords under -race: cheap parameters, set through the
	// package's unexported hook. TestProductionArgon checks the real ones.
	argon = argonParams{time: 1, memory: 64, threads: 1}
	pgtest.Main(m) // stops the PostgreSQL cluster a run on that engine started
}

func newClock() *testenv.Clock { return testenv.NewClock(time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)) }

// openTest opens a vault in a fresh temporary folder; mod adjusts the
// options. The vault is closed when the test ends.
func openTest(t testing.TB, mod func(*Options)) (*Vault, Options) {
	t.Helper()
	dir := t.TempDir()
	o := Options{Path: filepath.Join(dir, "sigill.db"), lockTimeout: 200 * time.Millisecond}
	if mod != nil {
		mod(&o)
	}
	useTestEngine(t, &o)
	v, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v, v.opt // with the defaults Open filled in
}

func reopen(t testing.TB, v *Vault, o Options) *Vault {
	t.Helper()
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	reopenTestEngine(t, &o)
	v2, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v2.Close() })
	return v2
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func smsRecipient(number, login string) Recipient {
	return Recipient{
		Address: strings.TrimPrefix(number, "+46") + "&login=" + login + "&@secure.example.se",
		Recipient: addressing.Recipient{
			Channel: addressing.SMS, To: number, Logins: []string{login}, Born: []string{}, Lang: "sv",
		},
	}
}

func emailRecipient(to, login string) Recipient {
	return Recipient{
		Address: strings.ReplaceAll(to, "@", "=") + "&login=" + login + "&@secure.example.se",
		Recipient: addressing.Recipient{
			Channel: addressing.Email, To: to, Logins: []string{login}, Born: []string{}, Lang: "en",
		},
	}
}

// mime builds a multipart message with a text body and one base64
// attachment, as Outlook would send it.
func mime(body string, attachment []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(attachment)
	var lines []string
	for len(enc) > 76 {
		lines = append(lines, enc[:76])
		enc = enc[76:]
	}
	lines = append(lines, enc)
	return []byte("From: Handl\u00e4ggare <staff@kommun.example.se>\r\n" +
		"To: <0701234567&login=199908072391&@secure.example.se>\r\n" +
		"Subject: =?utf-8?q?Ditt_=C3=A4rende_2026-0042?=\r\n" +
		"Message-ID: <abc.123@kommun.example.se>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n" +
		"--b1\r\nContent-Type: application/pdf; name=\"beslut.pdf\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"beslut.pdf\"\r\n\r\n" +
		strings.Join(lines, "\r\n") + "\r\n--b1--\r\n")
}

func incoming(raw []byte, rcpts ...Recipient) Incoming {
	if len(rcpts) == 0 {
		rcpts = []Recipient{smsRecipient("+46701234567", pn1)}
	}
	return Incoming{
		Sender:     "staff@kommun.example.se",
		Account:    "staff@kommun.example.se",
		Errand:     "Ditt ärende 2026-0042",
		MessageID:  "abc.123@kommun.example.se",
		Raw:        raw,
		Recipients: rcpts,
	}
}

func accept(t testing.TB, v *Vault, in Incoming) Accepted {
	t.Helper()
	a, err := v.Accept(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Tokens) != len(in.Recipients) {
		t.Fatalf("%d tokens for %d recipients", len(a.Tokens), len(in.Recipients))
	}
	return a
}

func mustStats(t testing.TB, v *Vault) Stats {
	t.Helper()
	s, err := v.Stats()
	if err != nil {
		t.Fatal(err)
	}
	s.FileBytes = 0
	return s
}

func fmtStats(s Stats) string {
	return fmt.Sprintf("messages=%d recipients=%d outbox=%d events=%d", s.Messages, s.Recipients, s.Outbox, s.Events)
}

func smallRaw() []byte { return mime("kvitto "+randomHex(8), []byte("a")) }

func record(t *testing.T, v *Vault, ev Event) {
	t.Helper()
	if err := v.Record(ev); err != nil {
		t.Fatal(err)
	}
}

// notifiedBy is the outcome of a notification provider took under id.
func notifiedBy(provider, id string) Outcome {
	return Outcome{Event: EventNotified, Provider: provider, ProviderID: id}
}

// boltDB is the bbolt database under a vault opened on its file (no
// Options.Engine), for tests that look at the file itself.
func boltDB(t testing.TB, v *Vault) *bolt.DB {
	t.Helper()
	boltOnly(t, "looks at the bbolt file")
	w := v.eng.(*walkv.Engine)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return w.Inner().(*boltkv.Engine).DB()
}
