package vault

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"sigill/internal/pgtest"
	"sigill/vault/kv/pgkv"
)

// The vault's own tests run on bbolt, and on PostgreSQL with
// SIGILL_TEST_ENGINE=postgres (go test ./vault/ with it set runs them all
// there). TestOnPostgreSQL runs a subset there on every go test whenever
// PostgreSQL is installed (always in CI).
const testEngineVar = "SIGILL_TEST_ENGINE"

func onPostgres() bool { return os.Getenv(testEngineVar) == "postgres" }

// pgURLs remembers the URL each PostgreSQL engine of a test was opened on,
// for reopen (Close closes the engine with the vault).
var pgURLs sync.Map // *pgkv.Engine → string

// useTestEngine puts o on a PostgreSQL store of its own (a schema in the
// test binary's cluster) when the run is on PostgreSQL and the test has not
// chosen an engine itself.
func useTestEngine(t testing.TB, o *Options) {
	t.Helper()
	if !onPostgres() || o.Engine != nil {
		return
	}
	url := pgtest.Shared(t).NewSchema(t)
	openPG(t, o, url)
}

func reopenTestEngine(t testing.TB, o *Options) {
	t.Helper()
	old, ok := o.Engine.(*pgkv.Engine)
	if !ok {
		return
	}
	url, ok := pgURLs.Load(old)
	if !ok {
		t.Fatal("reopen: a PostgreSQL engine the test helpers did not open")
	}
	openPG(t, o, url.(string))
}

func openPG(t testing.TB, o *Options, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := pgkv.Open(ctx, url)
	if err != nil {
		t.Fatalf("open the PostgreSQL store: %v", err)
	}
	pgURLs.Store(e, url)
	t.Cleanup(func() { e.Close() }) // the vault closes it too; twice is harmless
	o.Engine = e
	o.KeyStoreBackend = e.KeyStore(ErrNoKeyStore)
}

// sameStore is fresh Options for the store o was opened on.
func sameStore(t testing.TB, o Options) Options {
	t.Helper()
	fresh := Options{Path: o.Path}
	if url, ok := pgURLs.Load(o.Engine); ok {
		openPG(t, &fresh, url.(string))
	}
	return fresh
}

// boltOnly skips a test that is about bbolt itself (its file, pages, file
// lock or the key store file) in a run on PostgreSQL.
func boltOnly(t testing.TB, why string) {
	t.Helper()
	if onPostgres() {
		t.Skipf("bbolt only: %s", why)
	}
}

// onPostgresSubset is what TestOnPostgreSQL runs: the records, their
// transactions and the nodes' sharing, on the engine several nodes use.
var onPostgresSubset = []string{
	// accepting: one transaction per group, committed before the 250
	"TestAcceptConcurrent", "TestAcceptRefused", "TestAcceptWithin", "TestCommitFailure", "TestInDoubt",
	"TestRideAlong", "TestGroupRequestError",
	// messages, links and events
	"TestIDsAndTokens", "TestLinkStates", "TestEvents", "TestLetterByID", "TestReplies", "TestCancelWhileQueued",
	// hooks: other rooms' tables in the same transaction
	"TestHookAppended", "TestHookFailureRollsBack", "TestHookTables", "TestHookTxAccount",
	// the outbox: claims, leases (SKIP LOCKED), outcomes
	"TestClaimJobs", "TestClaimConcurrent", "TestCompleteJob", "TestRetryAndFail", "TestReleaseClaims",
	"TestReleaseOwnClaims", "TestClaimAfterSweep", "TestBornLeasedAcrossNodes", "TestHandoffRoom",
	// the key store in its row, expiry and the sweep
	"TestOutboxKeyLife", "TestFailingJobKeepsNoKeyAlive", "TestReplacedKeySurvivesRestart",
	"TestLifetimeOfMessage", "TestSetExpiryRefusals", "TestRunSweeper", "TestEscrow",
	// staff accounts
	"TestAccounts", "TestStillValid",
}

// TestOnPostgreSQL runs onPostgresSubset of this package's tests again on
// PostgreSQL, in a child test process (SIGILL_TEST_ENGINE=postgres), when
// PostgreSQL is installed; without it the test is skipped naming the
// package, and fails under CI=true.
func TestOnPostgreSQL(t *testing.T) {
	if onPostgres() {
		t.Skip("this run is on PostgreSQL already")
	}
	pgtest.Available(t)
	run := "^(" + strings.Join(onPostgresSubset, "|") + ")$"
	args := []string{"-test.run=" + run, "-test.count=1", "-test.v"}
	if d, ok := t.Deadline(); ok {
		args = append(args, "-test.timeout="+time.Until(d).Round(time.Second).String())
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), testEngineVar+"=postgres")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the vault's tests on PostgreSQL (%s=postgres go test -run '%s' ./vault/): %v\n%s", testEngineVar, run, err, out)
	}
	for _, name := range onPostgresSubset { // none renamed away, none skipped
		if !strings.Contains(string(out), "--- PASS: "+name+" ") {
			t.Errorf("%s did not pass on PostgreSQL", name)
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("on PostgreSQL:\n%s", out)
	}
}
