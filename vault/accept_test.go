package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestAcceptDurable: once Accept has returned, the message is in the file —
// not in a buffer that Close would flush. The file is copied while the vault
// is still open (as a crash would leave it) and the copy holds everything.
func TestAcceptDurable(t *testing.T) {
	var committed atomic.Bool
	v, o := openTest(t, func(o *Options) {
		// Called once bbolt's Commit (and its fsync) has returned; slow, so
		// that a caller woken before it would notice.
		o.onBatch = func(int) { time.Sleep(50 * time.Millisecond); committed.Store(true) }
	})
	if boltDB(t, v).NoSync {
		t.Fatal("bbolt NoSync is set: commits would not be fsynced")
	}
	raw := mime("Durable "+randomHex(8), []byte("x"))
	in := incoming(raw, smsRecipient("+46701234567", pn1), emailRecipient("b@example.org", pn3))
	a := accept(t, v, in)
	if !committed.Load() {
		t.Fatal("Accept returned before its commit had returned")
	}

	// The copy is made before Close, with the vault still open.
	dir := t.TempDir()
	for _, f := range [][2]string{{o.Path, "copy.db"}, {o.Path + LogSuffix, "copy.db" + LogSuffix}, {o.KeyFile, "copy.key"}, {o.KeyStore, "copy.keys"}} {
		b, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f[1]), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Open(Options{Path: filepath.Join(dir, "copy.db"), KeyFile: filepath.Join(dir, "copy.key"), KeyStore: filepath.Join(dir, "copy.keys")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	checkStored(t, c, in, a)

	// And the ordinary way: close right after Accept, reopen.
	checkStored(t, reopen(t, v, o), in, a)
}

// checkStored checks that a message is stored whole: letter, content,
// events and outbox jobs.
func checkStored(t *testing.T, v *Vault, in Incoming, a Accepted) {
	t.Helper()
	for i, tok := range a.Tokens {
		l, raw, err := v.Decrypt(tok)
		if err != nil {
			t.Fatalf("recipient %d: %v", i, err)
		}
		if !bytes.Equal(raw, in.Raw) {
			t.Fatalf("recipient %d: other bytes", i)
		}
		r := in.Recipients[i]
		if l.ID != a.ID || l.Recipient != i || l.Errand != in.Errand || l.Sender != in.Sender ||
			l.Account != in.Account || l.MessageID != in.MessageID || l.Received.IsZero() || l.Expired ||
			l.Rcpt.Address != r.Address || l.Rcpt.To != r.To || l.Rcpt.Channel != r.Channel ||
			!slices.Equal(l.Rcpt.Logins, r.Logins) || l.Rcpt.Lang != r.Lang {
			t.Fatalf("recipient %d: letter %+v", i, l)
		}
	}
	evs, err := v.Events(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) < len(in.Recipients) {
		t.Fatalf("%d events, want at least %d", len(evs), len(in.Recipients))
	}
	for i, ev := range evs[:len(in.Recipients)] {
		if ev.Kind != EventAccepted || ev.Recipient != i || ev.MessageID != a.ID || ev.Seq == 0 {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
	jobs, err := v.PendingJobs()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, j := range jobs {
		if j.MessageID != a.ID {
			continue
		}
		n++
		r := in.Recipients[j.Recipient]
		if j.Kind != JobNotify || j.Token != a.Tokens[j.Recipient] || j.Channel != r.Channel || j.To != r.To ||
			j.Lang != r.Lang || j.Errand != in.Errand || j.ID == 0 || j.Due.IsZero() || j.Created.IsZero() {
			t.Fatalf("job %+v", j)
		}
	}
	if n != len(in.Recipients) {
		t.Fatalf("%d jobs for %s, want %d", n, a.ID, len(in.Recipients))
	}
}

// TestAcceptConcurrent: 200 Accepts from 16 goroutines, all found after a
// reopen with their jobs; the committer groups them.
func TestAcceptConcurrent(t *testing.T) {
	var (
		mu     sync.Mutex
		groups []int
	)
	v, o := openTest(t, func(o *Options) {
		o.onBatch = func(n int) { mu.Lock(); groups = append(groups, n); mu.Unlock() }
	})
	const workers, total = 16, 200
	type result struct {
		in Incoming
		a  Accepted
	}
	results := make(chan result, total)
	errs := make(chan error, total)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < total; i += workers {
				in := incoming([]byte(fmt.Sprintf("Subject: %d\r\n\r\nbody %d %s\r\n", i, i, randomHex(8))),
					smsRecipient("+46701234567", pn1))
				a, err := v.Accept(context.Background(), in)
				if err != nil {
					errs <- err
					return
				}
				results <- result{in, a}
			}
		}()
	}
	wg.Wait()
	close(results)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	mu.Lock()
	t.Logf("%d commits for %d accepts, largest group %d", len(groups), total, slices.Max(groups))
	mu.Unlock()

	v = reopen(t, v, o)
	ids := map[string]bool{}
	tokens := map[string]bool{}
	for r := range results {
		if ids[r.a.ID] || tokens[r.a.Tokens[0]] {
			t.Fatalf("id or token handed out twice: %s", r.a.ID)
		}
		ids[r.a.ID], tokens[r.a.Tokens[0]] = true, true
		_, raw, err := v.Decrypt(r.a.Tokens[0])
		if err != nil || !bytes.Equal(raw, r.in.Raw) {
			t.Fatalf("%s: %v", r.a.ID, err)
		}
	}
	if len(ids) != total {
		t.Fatalf("%d results, want %d", len(ids), total)
	}
	jobs, err := v.PendingJobs()
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if !ids[j.MessageID] || !tokens[j.Token] {
			t.Fatalf("job %d for an unknown message or token", j.ID)
		}
		delete(tokens, j.Token)
	}
	if len(jobs) != total || len(tokens) != 0 {
		t.Fatalf("%d jobs, %d tokens without a job", len(jobs), len(tokens))
	}
	want := Stats{Messages: total, Recipients: total, Outbox: total, Events: total}
	if s := mustStats(t, v); s != want {
		t.Fatalf("stats %s, want %s", fmtStats(s), fmtStats(want))
	}
}

func TestAcceptRefused(t *testing.T) {
	v, _ := openTest(t, nil)
	good := incoming([]byte("Subject: x\r\n\r\nx"))
	for name, in := range map[string]Incoming{
		"no recipients": {Raw: good.Raw},
		"empty message": {Recipients: good.Recipients},
		"bad channel":   {Raw: good.Raw, Recipients: []Recipient{{Address: "x@secure.example.se"}}},
	} {
		if _, err := v.Accept(context.Background(), in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := v.Accept(ctx, good); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	if s := mustStats(t, v); s != (Stats{}) {
		t.Errorf("something was stored: %s", fmtStats(s))
	}
	v.Close()
	if _, err := v.Accept(context.Background(), good); !errors.Is(err, ErrClosed) {
		t.Errorf("accept after close: %v", err)
	}
	if _, _, err := v.Lookup("AAAAAAAAAAAAAAAAAAAAAA"); !errors.Is(err, ErrClosed) {
		t.Errorf("lookup after close: %v", err)
	}
}

func TestIDsAndTokens(t *testing.T) {
	c := newClock()
	v, _ := openTest(t, func(o *Options) { o.Now = c.Now })
	idForm := regexp.MustCompile(`^[0-9a-v]{20}$`)
	tokenForm := regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)
	var ids []string
	for range 5 {
		a := accept(t, v, incoming([]byte("Subject: x\r\n\r\nx")))
		if !idForm.MatchString(a.ID) || !tokenForm.MatchString(a.Tokens[0]) {
			t.Fatalf("id %q, token %q", a.ID, a.Tokens[0])
		}
		ids = append(ids, a.ID)
		c.Advance(time.Millisecond)
	}
	if !slices.IsSorted(ids) {
		t.Fatalf("ids do not sort by time: %v", ids)
	}
	if strings.Contains(strings.Join(ids, ""), "=") {
		t.Fatal("padding in id")
	}
}

// TestCancelWhileQueued: a caller whose context ends while its request waits
// in the queue gets ctx.Err() and its message is not stored; one whose
// request is already being committed waits for the real outcome.
func TestCancelWhileQueued(t *testing.T) {
	release := make(chan struct{})
	first := make(chan struct{})
	var once sync.Once
	v, _ := openTest(t, func(o *Options) {
		o.FailCommit = func(int) error {
			once.Do(func() { close(first); <-release })
			return nil
		}
	})
	done := make(chan error)
	go func() {
		_, err := v.Accept(context.Background(), incoming([]byte("Subject: 1\r\n\r\n1")))
		done <- err
	}()
	<-first // the first commit is in progress and held
	ctx, cancel := context.WithCancel(context.Background())
	queued := make(chan error)
	go func() {
		_, err := v.Accept(ctx, incoming([]byte("Subject: 2\r\n\r\n2")))
		queued <- err
	}()
	waitQueued(t, v, 1)
	cancel()
	if err := <-queued; !errors.Is(err, context.Canceled) {
		t.Fatalf("queued accept after cancel: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := mustStats(t, v); s.Messages != 1 {
		t.Fatalf("stats %s, want exactly the first message", fmtStats(s))
	}
}

func waitQueued(t *testing.T, v *Vault, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		v.commit.mu.Lock()
		q := len(v.commit.queue)
		v.commit.mu.Unlock()
		if q >= n {
			return
		}
	}
	t.Fatalf("fewer than %d requests queued", n)
}
