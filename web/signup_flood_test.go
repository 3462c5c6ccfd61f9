package web

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/turnbase/turnbase/internal/pgtest"
	"github.com/turnbase/turnbase/postgres"
)

// Attack 3 of the outside test: 600 registrations from 10 addresses, 60
// each (the API's whole burst), 100 at a time, with passwords hashed at a
// realistic cost. Every one is answered with 201 or 429 (with
// Retry-After), none with a 500 or not in time, and a bystander's login
// meanwhile is answered within a second. Within a second or twice the
// time it takes during a control flood that hashes nothing: under the
// race detector and on a loaded machine, the test's own HTTP client and
// the server's answers to 600 requests cost many times what they cost in
// production, on the same cores. "In time" is the client's timeout, 30
// seconds, for the same reason. Before the fix, most of the flood failed
// with 500 (the database deadline ran out while the passwords were
// hashed, 100 at once), and the login waited behind those hashes.
func TestSignupFloodLeavesLoginsAlone(t *testing.T) {
	// bcrypt at cost 10 takes about 80 ms of a core; under the race
	// detector cost 7 takes about as long.
	cost := bcrypt.DefaultCost
	if raceEnabled {
		cost = 7
	}
	pool, _ := pgtest.NewDB(t)
	logger := testLogger(t)
	db := &testDB{
		pool:     pool,
		accounts: postgres.NewAccounts(pool, logger, postgres.AccountsConfig{BcryptCost: cost}),
		ratings:  postgres.NewRatings(pool, logger, postgres.RatingsConfig{}),
	}
	cfg := testConfig()
	cfg.TrustedProxies = []string{"127.0.0.1"}
	cfg.HTTPRate, cfg.HTTPBurst = DefaultHTTPRate, DefaultHTTPBurst
	ts := startServerDB(t, db, cfg, Deps{})
	if _, err := db.accounts.Register(t.Context(), "Bystander", "bystander's password", ""); err != nil {
		t.Fatal(err)
	}

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 200}}
	defer client.CloseIdleConnections()
	post := func(ip, path, body string) (int, string, error) {
		req, err := http.NewRequest("POST", ts.url+path, strings.NewReader(body))
		if err != nil {
			return 0, "", err
		}
		req.Header.Set("X-Forwarded-For", ip)
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After"), nil
	}

	login := func() (int, time.Duration, error) {
		start := time.Now()
		status, _, err := post("192.0.2.1", "/api/auth/login", `{"name":"Bystander","password":"bystander's password"}`)
		return status, time.Since(start), err
	}
	type answer struct {
		status int
		retry  string
		err    error
	}
	// flood sends 600 registrations from 10 addresses (from net, a /24),
	// 60 each, 100 at a time, and a bystander's login once they are under
	// way; it returns the answers and how long the login took.
	flood := func(net string, body func(i int) string) ([]answer, int, time.Duration, error) {
		const addresses, each, inFlight = 10, 60, 100
		answers := make([]answer, addresses*each)
		next := make(chan int, len(answers))
		for i := range answers {
			next <- i
		}
		close(next)
		var wg sync.WaitGroup
		for range inFlight {
			wg.Go(func() {
				for i := range next {
					a := &answers[i]
					a.status, a.retry, a.err = post(fmt.Sprintf("%s.%d", net, 1+i%addresses), "/api/auth/register", body(i))
				}
			})
		}
		time.Sleep(100 * time.Millisecond) // the flood is on
		status, took, err := login()
		wg.Wait()
		return answers, status, took, err
	}

	// The control: the same flood refused before any hashing (a malformed
	// name) costs the test's client and the server this much.
	_, _, control, err := flood("203.0.113", func(i int) string {
		return fmt.Sprintf(`{"name":"x","password":"flood password %d"}`, i)
	})
	if err != nil {
		t.Fatal(err)
	}
	limit := max(time.Second, 2*control)

	answers, status, took, err := flood("198.51.100", func(i int) string {
		return fmt.Sprintf(`{"name":"flood%04d","password":"flood password %d"}`, i, i)
	})
	if err != nil || status != 200 || took > limit {
		t.Errorf("the bystander's login: status %d, %v, after %v; want 200 within %v (control: %v)", status, err, took, limit, control)
	}
	counts := map[string]int{}
	for i, a := range answers {
		switch {
		case a.err != nil:
			counts["error"]++
			if counts["error"] == 1 {
				t.Errorf("registration %d: %v", i, a.err)
			}
		case a.status == 429 && a.retry == "":
			t.Errorf("registration %d: 429 without Retry-After", i)
		case a.status != 201 && a.status != 429:
			counts[fmt.Sprint(a.status)]++
			if counts[fmt.Sprint(a.status)] == 1 {
				t.Errorf("registration %d: status %d, want 201 or 429", i, a.status)
			}
		default:
			counts[fmt.Sprint(a.status)]++
		}
	}
	t.Logf("the bystander's login took %v (in the control flood: %v); the flood's answers: %v", took, control, counts)
}
