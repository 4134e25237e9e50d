package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestClusterIsRealAndDurable starts a cluster, writes through one database
// made for the test, and checks the settings durable-accept tests rely on.
func TestClusterIsRealAndDurable(t *testing.T) {
	s := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	a, b := s.NewDatabase(t), s.NewDatabase(t)
	if a == b {
		t.Fatalf("two databases share a URL: %s", a)
	}
	conn, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatalf("connect: %v\n%s", err, s.Log())
	}
	defer conn.Close(ctx)

	for setting, want := range map[string]string{"fsync": "on", "synchronous_commit": "on", "listen_addresses": "127.0.0.1"} {
		var got string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", setting).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s = %q, want %q", setting, got, want)
		}
	}

	if _, err := conn.Exec(ctx, "CREATE TABLE t (n int)"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO t VALUES (1), (2)"); err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := conn.QueryRow(ctx, "SELECT sum(n) FROM t").Scan(&sum); err != nil || sum != 3 {
		t.Fatalf("sum = %d, %v; want 3", sum, err)
	}

	// The other database is separate: the table is not there.
	other, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	var n int
	err = other.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n)
	if err == nil {
		t.Fatalf("table t is visible from the second database")
	}
}
