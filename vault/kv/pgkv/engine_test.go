package pgkv_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"sigill/internal/pgtest"
	"sigill/vault/kv"
	"sigill/vault/kv/pgkv"
)

// connect is a connection of the test's own to the store, closed when the
// test ends.
func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func sql(t *testing.T, url, query string, args ...any) {
	t.Helper()
	if _, err := connect(t, url).Exec(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// TestNodesStartingAtOnce: several nodes opening an empty store at once
// all start, and each migration is applied once.
func TestNodesStartingAtOnce(t *testing.T) {
	s := pgtest.Shared(t)
	for round := 0; round < 5; round++ {
		url := s.NewSchema(t)
		const nodes = 8
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make(chan error, nodes)
		for i := 0; i < nodes; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				e, err := pgkv.Open(context.Background(), url)
				if err != nil {
					errs <- err
					return
				}
				e.Close()
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("a node failed to start: %v", err)
		}
		var versions []int
		query(t, url, "SELECT version FROM schema_version ORDER BY version", func(rows pgx.Rows) error {
			var v int
			err := rows.Scan(&v)
			versions = append(versions, v)
			return err
		})
		if len(versions) != pgkv.SchemaVersion || versions[len(versions)-1] != pgkv.SchemaVersion {
			t.Fatalf("migrations applied: %v, want 1..%d once each", versions, pgkv.SchemaVersion)
		}
	}
}

func query(t *testing.T, url, q string, fn func(pgx.Rows) error) {
	t.Helper()
	rows, err := connect(t, url).Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			t.Fatal(err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestNewerSchemaRefused: a store a newer sigill migrated is refused,
// naming both versions, and left as it is.
func TestNewerSchemaRefused(t *testing.T) {
	url := pgtest.Shared(t).NewSchema(t)
	open(t, url).Close()
	newer := pgkv.SchemaVersion + 7
	sql(t, url, "INSERT INTO schema_version (version) VALUES ($1)", newer)
	_, err := pgkv.Open(context.Background(), url)
	if err == nil {
		t.Fatal("a store with a newer schema opened")
	}
	for _, want := range []string{fmt.Sprint(newer), fmt.Sprintf("(%d)", pgkv.SchemaVersion), "newer"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal %q does not say %q", err, want)
		}
	}
}

// TestTwoNodes: two engines on one store are two nodes: a wake-up from one
// reaches a listener on the other, and sequence numbers taken on both are
// handed out in commit order without gaps.
func TestTwoNodes(t *testing.T) {
	url := pgtest.Shared(t).NewSchema(t)
	a, b := open(t, url), open(t, url)
	ctx := context.Background()
	woken := b.Listen(ctx, "mailbox")
	if err := kv.Update(ctx, a, 1, func(tx kv.Tx) error {
		tx.Notify("mailbox")
		return tx.CreateBucket("uids")
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-woken:
	case <-time.After(30 * time.Second):
		t.Fatal("a wake-up from node a never reached node b")
	}

	var wg sync.WaitGroup
	for _, node := range []kv.Engine{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				err := kv.Update(ctx, node, 100, func(tx kv.Tx) error {
					n, err := tx.Bucket("uids").NextSequence()
					if err != nil {
						return err
					}
					return tx.Bucket("uids").Put(fmt.Appendf(nil, "%03d", n), nil)
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	var got []string
	kv.View(ctx, b, func(tx kv.Tx) error {
		return tx.Bucket("uids").Range(kv.Range{}, func(k, _ []byte) error {
			got = append(got, string(k))
			return nil
		})
	})
	for i, k := range got {
		if k != fmt.Sprintf("%03d", i+1) {
			t.Fatalf("numbers taken on two nodes: %q", got)
		}
	}
	if len(got) != 40 {
		t.Errorf("%d numbers, want 40", len(got))
	}
}

// TestListenReconnects: when the listening connection is cut, it is made
// again: listeners get a wake-up (they may have missed one), and later
// notifications arrive.
func TestListenReconnects(t *testing.T) {
	url := pgtest.Shared(t).NewSchema(t)
	e := open(t, url)
	ctx := context.Background()
	woken := e.Listen(ctx, "outbox")
	sql(t, url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'sigill listen' AND datname = current_database()")
	select {
	case <-woken:
	case <-time.After(30 * time.Second):
		t.Fatal("no wake-up after the listening connection was cut")
	}
	// Wait for the new connection's LISTEN: a new subscriber returns once
	// its channel is listened to, on the same connection.
	e.Listen(ctx, "other")
	if err := kv.Update(ctx, e, 1, func(tx kv.Tx) error {
		tx.Notify("outbox")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-woken:
	case <-time.After(30 * time.Second):
		t.Fatal("a notification after the reconnect never arrived")
	}
}

// TestStatsAndCheck: Stats reports the store's figures; Check finds
// nothing on a sound store, and rows of a bucket that does not exist and a
// schema another binary migrated when there are.
func TestStatsAndCheck(t *testing.T) {
	url := pgtest.Shared(t).NewSchema(t)
	e := open(t, url)
	ctx := context.Background()
	if err := kv.Update(ctx, e, 1, func(tx kv.Tx) error {
		if err := tx.CreateBucket("b"); err != nil {
			return err
		}
		return tx.Bucket("b").Put([]byte("k"), []byte("v"))
	}); err != nil {
		t.Fatal(err)
	}
	stats, err := e.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats["buckets"] != 1 || stats["kv_bytes"] <= 0 || stats["database_bytes"] < stats["kv_bytes"] ||
		stats["pool_connections_max"] <= 0 || stats["server_connections"] < 2 {
		t.Errorf("stats: %v", stats)
	}
	if errs := e.Check(ctx); len(errs) != 0 {
		t.Errorf("Check of a sound store: %v", errs)
	}
	sql(t, url, `INSERT INTO kv (bucket, key, value) VALUES ('gone', '\x01', '\x02'), ('gone', '\x02', '\x02')`)
	sql(t, url, "INSERT INTO schema_version (version) VALUES ($1)", pgkv.SchemaVersion+1)
	errs := e.Check(ctx)
	text := fmt.Sprint(errs)
	if len(errs) != 2 || !strings.Contains(text, `2 rows in bucket "gone"`) ||
		!strings.Contains(text, fmt.Sprintf("version %d, this sigill's at %d", pgkv.SchemaVersion+1, pgkv.SchemaVersion)) {
		t.Errorf("Check of a store with orphan rows and a newer schema: %v", errs)
	}
}
