package pgtest

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(Wrap(m))
}

func TestNewDB(t *testing.T) {
	var name string
	t.Run("db", func(t *testing.T) {
		db, dsn := NewDB(t)
		if err := db.QueryRow(t.Context(), "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(t.Context(), "INSERT INTO players (id, name, guest) VALUES ('p', 'alice', true)"); err != nil {
			t.Fatalf("migrated schema: %v", err)
		}
		conn, err := pgx.Connect(t.Context(), dsn)
		if err != nil {
			t.Fatalf("connect to dsn: %v", err)
		}
		defer conn.Close(context.Background())

		other, _ := NewDB(t)
		var n int
		if err := other.QueryRow(t.Context(), "SELECT count(*) FROM players WHERE id = 'p'").Scan(&n); err != nil || n != 0 {
			t.Errorf("second database sees %d players, %v", n, err)
		}
	})

	conn, err := pgx.Connect(t.Context(), os.Getenv(EnvURL))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(t.Context(), "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("database %s not dropped after its test", name)
	}
}

func TestNewEmptyDB(t *testing.T) {
	db, _ := NewEmptyDB(t)
	var n int
	if err := db.QueryRow(t.Context(), "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil || n != 0 {
		t.Errorf("empty database has %d tables, %v", n, err)
	}
}

func TestWithDatabase(t *testing.T) {
	tests := map[string]string{
		"postgres://u:p@h:5/postgres?sslmode=disable": "postgres://u:p@h:5/x?sslmode=disable",
		"postgresql://h/":               "postgresql://h/x",
		"host=h user=u dbname=postgres": "host=h user=u dbname=postgres dbname=x",
	}
	for in, want := range tests {
		if got, err := withDatabase(in, "x"); err != nil || got != want {
			t.Errorf("withDatabase(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// BenchmarkNewDB measures making a database; dropping them all happens
// after the timing.
func BenchmarkNewDB(b *testing.B) {
	NewDB(b) // the template
	for b.Loop() {
		NewDB(b)
	}
}
