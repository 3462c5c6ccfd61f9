package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turnbase/turnbase/internal/pgcluster"
)

// dsnForms are connection strings in each form a password can take, with
// the password(s) each holds and what must still show.
var dsnForms = []struct {
	dsn     string
	secrets []string
	want    string // redacted; "" means unparsableDSN
}{
	{"postgres://u:s3cretA@db.example:5432/game?sslmode=require", []string{"s3cretA"},
		"postgres://u:*****@db.example:5432/game?sslmode=require"},
	{"postgresql://u:p%40ss%2Fw0rdB@h/db", []string{"p%40ss%2Fw0rdB", "p@ss/w0rdB"},
		"postgresql://u:*****@h/db"},
	{"postgres://u:pa/ss?C@h1:5432,h2:5433/db", []string{"pa/ss?C"},
		"postgres://u:*****@h1:5432,h2:5433/db"},
	{"postgres://u@h/db?sslmode=disable&password=s3cretD&application_name=x", []string{"s3cretD"},
		"postgres://u@h/db?sslmode=disable&password=*****&application_name=x"},
	{"postgres://h/db?PassWord=s3cretE&sslpassword=s3cretF", []string{"s3cretE", "s3cretF"},
		"postgres://h/db?PassWord=*****&sslpassword=*****"},
	{"postgres://u:s3cretG@h/db?password=s3cretH", []string{"s3cretG", "s3cretH"},
		"postgres://u:*****@h/db?password=*****"},
	{"host=h user=u password=s3cretI dbname=game", []string{"s3cretI"},
		"host=h user=u password=***** dbname=game"},
	{"host=h password = 's3cret J\\'K' user=u", []string{"s3cret J", "J\\'K"},
		"host=h password = ***** user=u"},
	{"password=s3cret\\ Lq7 sslpassword='s3cretM'", []string{"s3cret", "Lq7", "s3cretM"},
		"password=***** sslpassword=*****"},
	{"host=h password='unterminated s3cretN", []string{"s3cretN"}, ""},
	{"host=h s3cretO", []string{"s3cretO"}, ""},
}

// TestRedactDSN: every password form is masked and the rest kept.
func TestRedactDSN(t *testing.T) {
	for _, tc := range dsnForms {
		got := redactDSN(tc.dsn)
		want := tc.want
		if want == "" {
			want = unparsableDSN
		}
		if got != want {
			t.Errorf("redactDSN(%q) = %q, want %q", tc.dsn, got, want)
		}
		for _, s := range tc.secrets {
			if strings.Contains(got, s) {
				t.Errorf("redactDSN(%q) = %q shows %q", tc.dsn, got, s)
			}
		}
	}
}

// TestConfigPrintHidesDatabasePassword: the configuration printed at
// start, from the flag or from DATABASE_URL, shows no password of any form.
func TestConfigPrintHidesDatabasePassword(t *testing.T) {
	for _, tc := range dsnForms {
		for _, viaFlag := range []bool{false, true} {
			env := map[string]string{}
			var args []string
			if viaFlag {
				args = []string{"-database-url", tc.dsn}
			} else {
				env["DATABASE_URL"] = tc.dsn
			}
			var out bytes.Buffer
			_, _, _, err := loadConfig("turnbase serve", args, func(k string) string { return env[k] }, &out)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), "database-url") {
				t.Fatalf("no database-url line in:\n%s", out.String())
			}
			for _, s := range tc.secrets {
				if strings.Contains(out.String(), s) {
					t.Errorf("printed configuration shows %q of %q:\n%s", s, tc.dsn, out.String())
				}
			}
		}
	}
}

// TestDatabaseURLErrorsHidePassword: a DATABASE_URL the server cannot use
// fails the start with an error and log that show no password.
func TestDatabaseURLErrorsHidePassword(t *testing.T) {
	bad := []struct {
		dsn     string
		secrets []string
	}{
		{"postgres://u:s3cretP@h:notaport/db", []string{"s3cretP"}},
		{"postgres://u:s3cretQ@h/db?sslmode=bogus", []string{"s3cretQ"}},
		{"postgres://u@h:99999/db?password=s3cretR", []string{"s3cretR"}},
		{"host=h port=notaport password=s3cretS", []string{"s3cretS"}},
		{"host=h sslmode=bogus password='s3cret T'", []string{"s3cret T"}},
		{"host=h password='s3cretU", []string{"s3cretU"}},
		{"host=h s3cretV password=s3cretW", []string{"s3cretV", "s3cretW"}},
	}
	for _, tc := range bad {
		var out bytes.Buffer
		env := map[string]string{"DATABASE_URL": tc.dsn, "TURNBASE_DATA": t.TempDir(), "TURNBASE_ADDR": "127.0.0.1:0"}
		ctx, cancel := context.WithCancel(t.Context())
		err := run(ctx, []string{"serve"}, func(k string) string { return env[k] }, &out)
		cancel()
		if err == nil {
			t.Errorf("serve with %q started", tc.dsn)
			continue
		}
		for _, s := range tc.secrets {
			if strings.Contains(err.Error(), s) || strings.Contains(out.String(), s) {
				t.Errorf("%q: password %q shown:\nerror: %v\nlog:\n%s", tc.dsn, s, err, out.String())
			}
		}
	}
}

// TestEmbeddedPasswordNotLogged: with no DATABASE_URL, the embedded
// PostgreSQL's superuser password is kept 0600 in the data folder and never
// appears in the output, even at debug level.
func TestEmbeddedPasswordNotLogged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded PostgreSQL")
	}
	data := t.TempDir()
	env := map[string]string{"TURNBASE_DATA": data, "TURNBASE_LOG_LEVEL": "debug"}
	var out lockedBuffer
	if err := run(t.Context(), []string{"migrate"}, func(k string) string { return env[k] }, &out); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out.String())
	}
	path := filepath.Join(data, "postgres", pgcluster.PasswordFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pw := strings.TrimSpace(string(b))
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 || len(pw) < 16 {
		t.Fatalf("password file: %v, %v", fi.Mode(), err)
	}
	if strings.Contains(out.String(), pw) {
		t.Errorf("the embedded PostgreSQL's password is in the output:\n%s", out.String())
	}
}
