package migrations_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
	"go.uber.org/goleak"

	"github.com/turnbase/turnbase/internal/pgtest"
	"github.com/turnbase/turnbase/migrations"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(pgtest.Wrap(m))
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func latest(t *testing.T) int32 {
	t.Helper()
	files, err := migrate.FindMigrations(migrations.FS())
	if err != nil {
		t.Fatal(err)
	}
	return int32(len(files))
}

func version(t *testing.T, conn *pgx.Conn) int32 {
	t.Helper()
	var v int32
	if err := conn.QueryRow(t.Context(), "SELECT version FROM "+migrations.VersionTable).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func tables(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	rows, err := conn.Query(t.Context(), "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestApplyFromEmpty(t *testing.T) {
	t.Parallel()
	_, dsn := pgtest.NewEmptyDB(t)
	conn := connect(t, dsn)
	if err := migrations.Apply(t.Context(), conn); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if got, want := version(t, conn), latest(t); got != want {
		t.Errorf("version %d, want %d", got, want)
	}
	want := []string{"audit_log", "match_moves", "matches", "players", "rating_changes", "ratings", "review_flags", "schema_version"}
	if got := tables(t, conn); !slices.Equal(got, want) {
		t.Errorf("tables %q, want %q", got, want)
	}
}

func TestApplyTwiceChangesNothing(t *testing.T) {
	t.Parallel()
	_, dsn := pgtest.NewEmptyDB(t)
	conn := connect(t, dsn)
	if err := migrations.Apply(t.Context(), conn); err != nil {
		t.Fatalf("first Apply: %v", err)
	}
	if _, err := conn.Exec(t.Context(), "INSERT INTO players (id, name, guest) VALUES ('p1', 'alice', true)"); err != nil {
		t.Fatal(err)
	}
	if err := migrations.Apply(t.Context(), conn); err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	if got, want := version(t, conn), latest(t); got != want {
		t.Errorf("version %d, want %d", got, want)
	}
	var n int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM players").Scan(&n); err != nil || n != 1 {
		t.Errorf("players after second Apply: %d, %v", n, err)
	}
}

// TestApplyConcurrently migrates one empty database from several
// connections at once, as server processes starting together do. Without
// tern's advisory lock, all would run 0001 and all but one would fail
// ("relation already exists", or a unique violation in the catalog).
func TestApplyConcurrently(t *testing.T) {
	t.Parallel()
	_, dsn := pgtest.NewEmptyDB(t)
	const n = 4
	conns := make([]*pgx.Conn, n)
	for i := range conns {
		conns[i] = connect(t, dsn)
	}
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
	)
	for i, conn := range conns {
		wg.Go(func() {
			<-start
			errs[i] = migrations.Apply(t.Context(), conn)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Apply on connection %d: %v", i, err)
		}
	}
	if got, want := version(t, conns[0]), latest(t); got != want {
		t.Errorf("version %d, want %d", got, want)
	}
}

func TestApplyRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	_, dsn := pgtest.NewDB(t) // migrated
	conn := connect(t, dsn)
	if _, err := conn.Exec(t.Context(), "UPDATE "+migrations.VersionTable+" SET version = 999"); err != nil {
		t.Fatal(err)
	}
	if err := migrations.Apply(t.Context(), conn); err == nil {
		t.Fatal("Apply on a schema newer than the binary succeeded")
	}
}
