package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHistogram(t *testing.T) {
	var h histogram
	if got := h.Summary(); got != (latency{}) {
		t.Fatalf("empty summary = %+v, want zero", got)
	}
	// 1..10000 ms: each percentile is within the bucket width (1/32).
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	s := h.Summary()
	for name, c := range map[string]struct{ got, want float64 }{
		"p50":  {s.P50MS, 5000},
		"p95":  {s.P95MS, 9500},
		"p99":  {s.P99MS, 9900},
		"max":  {s.MaxMS, 10000},
		"mean": {s.MeanMS, 5000.5},
	} {
		if c.got < c.want || c.got > c.want*(1+1.0/32) {
			t.Errorf("%s = %v, want %v (+1/32)", name, c.got, c.want)
		}
	}
	if s.Count != 10000 {
		t.Errorf("count = %d, want 10000", s.Count)
	}
	// Bucket bounds are contiguous and increasing, small values exact.
	for i := 1; i < histBuckets; i++ {
		if histIndex(uint64(histUpper(i-1))+1) != i || histIndex(uint64(histUpper(i))) != i {
			t.Fatalf("bucket %d: bounds do not round-trip", i)
		}
	}
	var small histogram
	small.Record(7 * time.Microsecond)
	small.Record(-time.Second)
	if s := small.Summary(); s.MaxMS != 0.007 || s.P50MS != 0 {
		t.Errorf("small = %+v, want max 0.007, p50 0", s)
	}
	var huge histogram
	huge.Record(100 * 24 * time.Hour)
	if s := huge.Summary(); s.Count != 1 || s.P99MS <= 0 {
		t.Errorf("huge = %+v", s)
	}
}

func TestParseConfig(t *testing.T) {
	for name, tc := range map[string]struct {
		args    []string
		think   thinkTime
		ramp    float64
		sources int
		err     string
	}{
		"defaults":      {args: nil, think: thinkTime{0, 0}, ramp: 500, sources: 1},
		"jitter":        {args: []string{"-think", "300ms"}, think: thinkTime{150 * time.Millisecond, 450 * time.Millisecond}, ramp: 500, sources: 1},
		"range":         {args: []string{"-think", "0-50ms", "-ramp", "0"}, think: thinkTime{0, 50 * time.Millisecond}, ramp: 0, sources: 1},
		"auto sources":  {args: []string{"-players", "20000", "-ramp", "2000/s"}, ramp: 2000, sources: 2},
		"fixed sources": {args: []string{"-players", "10", "-src", "8"}, ramp: 500, sources: 8},
		"source list":   {args: []string{"-players", "20000", "-source", "127.0.0.7, 127.0.0.9"}, ramp: 500, sources: 2},
		"url list":      {args: []string{"-url", "http://127.0.0.1:1,http://127.0.0.1:2/x", "-names", "n2_"}, ramp: 500, sources: 1},
		"bad source":    {args: []string{"-source", "10.0.0.2"}, err: "source"},
		"v6 source":     {args: []string{"-source", "::1"}, err: "source"},
		"bad names":     {args: []string{"-names", "X\""}, err: "names"},
		"long names":    {args: []string{"-names", "abcdefghijklmnopq_", "-players", "1000"}, err: "names"},
		"bad url list":  {args: []string{"-url", "http://127.0.0.1:1,ftp://x"}, err: "url"},
		"bad game":      {args: []string{"-games", "chess"}, err: "chess"},
		"bad think":     {args: []string{"-think", "50ms-10ms"}, err: "think"},
		"no duration":   {args: []string{"-duration", "0"}, err: "duration"},
		"bad url":       {args: []string{"-url", "ftp://x"}, err: "url"},
		"argument":      {args: []string{"extra"}, err: "unexpected"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := parseConfig(tc.args, &bytes.Buffer{})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := max(len(cfg.sources), 1); cfg.think != tc.think || cfg.ramp != tc.ramp || n != tc.sources {
				t.Errorf("think %v ramp %v sources %d, want %v %v %d", cfg.think, cfg.ramp, n, tc.think, tc.ramp, tc.sources)
			}
		})
	}
}

func TestCheckLoopback(t *testing.T) {
	ctx := context.Background()
	for host, ok := range map[string]bool{"127.0.0.1": true, "127.1.2.3": true, "::1": true, "10.0.0.1": false, "192.168.1.1": false, "8.8.8.8": false} {
		if err := checkLoopback(ctx, host, false); (err == nil) != ok {
			t.Errorf("checkLoopback(%s) = %v, want ok %v", host, err, ok)
		}
	}
	if err := checkLoopback(ctx, "::1", true); err == nil {
		t.Error("-src accepted an IPv6 server")
	}
}

// TestSourceAddress: the players' sockets leave from the -source
// addresses, in turn.
func TestSourceAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg, err := parseConfig([]string{"-url", "http://" + ln.Addr().String(), "-source", "127.0.0.2,127.0.0.3"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	sw := newSwarm(cfg)
	var got []string
	for range 2 {
		c, err := sw.dialContext(t.Context(), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		in, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, in.RemoteAddr().(*net.TCPAddr).IP.String())
		in.Close()
		c.Close()
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"127.0.0.2", "127.0.0.3"}) {
		t.Errorf("sockets came from %v, want 127.0.0.2 and 127.0.0.3", got)
	}
}

// TestPick checks the move choice and the "state holds my move" rule on
// hand-made frames, through the games' own rules.
func TestPick(t *testing.T) {
	cfg, err := parseConfig(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	newP := func(g string, seat int) *player {
		p := newPlayer(0, &swarm{cfg: cfg})
		p.setGame(g, seat)
		return p
	}
	frame := func(state string) *inFrame {
		return &inFrame{Status: "live", State: json.RawMessage(state)}
	}

	p := newP("tictactoe", 0)
	f := frame(`{"board":["X","O","","X","O","","","",""],"moves":4}`)
	for range 50 {
		mv, made := p.pick(f)
		var c struct{ Cell int }
		if json.Unmarshal(mv, &c) != nil || !slices.Contains([]int{2, 5, 6, 7, 8}, c.Cell) || made != 2 {
			t.Fatalf("pick = %s, %d: not an empty cell with 2 moves made", mv, made)
		}
	}
	f = frame(`{"board":["X","O","","X","O","","","","X"],"moves":5}`)
	if mv, _ := p.pick(f); mv != nil {
		t.Fatalf("moved on the opponent's turn: %s", mv)
	}
	p.made = 2
	if p.holds(frame(`{"board":["X","O","","X","O","","","",""],"moves":4}`)) {
		t.Error("a state with 2 X holds the third")
	}
	if !p.holds(f) {
		t.Error("a state with 3 X does not hold the third")
	}

	r := newP("rps", 1)
	g := frame(`{"round":2,"score":[0,0],"chosen":[true,false],"mine":null,"rounds":[{"choices":["rock","rock"],"winner":null}]}`)
	if mv, made := r.pick(g); mv == nil || made != 1 {
		t.Fatalf("rps pick = %s, %d", mv, made)
	}
	r.made = 1
	if r.holds(g) {
		t.Error("holds before the choice shows")
	}
	g = frame(`{"round":2,"score":[0,0],"chosen":[true,true],"mine":"rock","rounds":[{"choices":["rock","rock"],"winner":null}]}`)
	if !r.holds(g) {
		t.Error("does not hold a shown choice")
	}
	if mv, _ := r.pick(g); mv != nil {
		t.Error("chose twice in one round")
	}
	// The opponent chose first: our choice reveals the round, and the
	// state that holds it shows a new round open for us both.
	g = frame(`{"round":3,"score":[0,1],"chosen":[false,false],"mine":null,"rounds":[{"choices":["rock","rock"],"winner":null},{"choices":["rock","paper"],"winner":1}]}`)
	if !r.holds(g) {
		t.Error("does not hold a revealed choice")
	}

	u := newP("chess", 0)
	if mv, _ := u.pick(frame(`{}`)); mv != nil || !u.holds(frame(`{}`)) {
		t.Errorf("a game loadgen cannot play: pick %s", mv)
	}
}

// TestLoad runs the load generator against the real server binary.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the server and PostgreSQL")
	}
	base := startServer(t)

	t.Run("play", func(t *testing.T) {
		// No -games: every game of the catalog, the same as the server's.
		r := runJSON(t, "-url", base, "-players", "50", "-think", "0-50ms", "-duration", "5s")
		t.Logf("%d matches, %d moves (%.0f/s), move round trip p50 %.1fms p99 %.1fms, queue wait p50 %.1fms",
			r.Matches.Completed, r.Moves.Accepted, r.Moves.PerSecond, r.Moves.RTT.P50MS, r.Moves.RTT.P99MS, r.QueueWait.P50MS)
		c := r.Connections
		if c.Established != 50 || c.Failed != 0 || c.CleanCloses != 50 {
			t.Errorf("connections: %d established, %d failed, %d closed clean; want 50, 0, 50 (%v)", c.Established, c.Failed, c.CleanCloses, c.FailedBy)
		}
		if r.Matches.Completed <= 10 {
			t.Errorf("%d matches completed, want more than 10", r.Matches.Completed)
		}
		_, ids := playable()
		if len(ids) < 3 {
			t.Errorf("loadgen plays %v", ids)
		}
		for _, g := range ids {
			if n := r.Matches.ByGame[g]; n == nil || n.Completed == 0 {
				t.Errorf("no %s match completed", g)
			}
		}
		if r.Moves.Accepted == 0 || r.Moves.Refused != 0 || r.Moves.RTT.Count != r.Moves.Accepted || r.QueueWait.Count == 0 {
			t.Errorf("moves %+v, queue wait %+v", r.Moves, r.QueueWait)
		}
	})
	t.Run("computer", func(t *testing.T) {
		r := runJSON(t, "-url", base, "-players", "10", "-think", "0-50ms", "-duration", "5s",
			"-computer", "tictactoe:perfect,rps:reader,connectfour:easy")
		if r.Matches.Completed < 3 || r.Moves.Accepted == 0 || r.Moves.Refused != 0 {
			t.Errorf("computer games: %d completed, moves %+v", r.Matches.Completed, r.Moves)
		}
	})
	t.Run("servers and sources", func(t *testing.T) {
		// Two "servers" (the same one twice), a source address
		// of our own, a name prefix of our own: what bench/cluster.sh
		// gives each of its loadgen processes.
		r := runJSON(t, "-url", base+","+base, "-source", "127.0.0.2", "-names", "lgt_",
			"-players", "20", "-think", "0-50ms", "-duration", "3s")
		c := r.Connections
		if c.Established != 20 || c.CleanCloses != 20 || r.Matches.Completed == 0 || r.Sources != 1 || !strings.Contains(r.URL, ",") {
			t.Errorf("%d established, %d closed clean, %d matches, %d sources, url %s", c.Established, c.CleanCloses, r.Matches.Completed, r.Sources, r.URL)
		}
	})
	t.Run("idle", func(t *testing.T) {
		r := runJSON(t, "-url", base, "-players", "20", "-idle", "-duration", "1s", "-src", "3")
		c := r.Connections
		if c.Established != 20 || c.CleanCloses != 20 || r.Moves.Sent != 0 {
			t.Errorf("idle: %d established, %d closed clean, %d moves; want 20, 20, 0", c.Established, c.CleanCloses, r.Moves.Sent)
		}
	})
}

// runJSON calls run with -json and checks the run had no error at all.
func runJSON(t *testing.T, args ...string) *report {
	t.Helper()
	var out bytes.Buffer
	err := run(t.Context(), append(args, "-json"), &out)
	var r report
	if jerr := json.Unmarshal(out.Bytes(), &r); jerr != nil {
		t.Fatalf("run: %v; report: %v\n%s", err, jerr, out.String())
	}
	if err != nil || r.ErrorTotal != 0 || len(r.Errors) != 0 || len(r.Disconnects) != 0 {
		t.Fatalf("run: %v; errors %v, disconnects %v, failed %v", err, r.Errors, r.Disconnects, r.Connections.FailedBy)
	}
	return &r
}

// startServer builds cmd/turnbase, runs it with an embedded PostgreSQL and
// raised limits, waits until it is ready, and stops it (SIGTERM) at cleanup.
func startServer(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "turnbase")
	// go test puts its own toolchain first in PATH.
	build := exec.Command("go", "build", "-o", bin, "../turnbase")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the server: %v\n%s", err, out)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	logPath := filepath.Join(dir, "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the child has its own copy
	cmd := exec.Command(bin, "serve", "-addr", addr, "-ops-addr=", "-data", filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(),
		"DATABASE_URL=", // the embedded PostgreSQL, whatever the caller's environment says
		"TURNBASE_LOG_LEVEL=warn",
		"TURNBASE_CONN_RATE=1000", "TURNBASE_CONN_BURST=1000",
		"TURNBASE_PLAYER_RATE=1000", "TURNBASE_PLAYER_BURST=1000",
		"TURNBASE_MAX_CONNS_PER_IP=10000",
		"TURNBASE_HANDSHAKE_RATE=10000", "TURNBASE_HANDSHAKE_BURST=10000",
		"TURNBASE_HTTP_RATE=10000", "TURNBASE_HTTP_BURST=10000",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	showLog := func() {
		if b, err := os.ReadFile(logPath); err == nil {
			t.Logf("server log:\n%s", tail(string(b), 4000))
		}
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("server exit: %v", err)
				showLog()
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Error("server did not stop within 30s of SIGTERM")
			showLog()
		}
	})

	base := "http://" + addr
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case err := <-exited:
			exited <- errors.Join(err, errors.New("exited early")) // for the cleanup
			showLog()
			t.Fatalf("server exited before it was ready: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			showLog()
			t.Fatal("server not ready after 90s")
		}
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

func TestHTTPConnsFor(t *testing.T) {
	for _, tc := range []struct {
		nofile           uint64
		players, servers int
		want             int
	}{
		{20000, 4000, 1, maxHTTPConns},     // room to spare: the most
		{20000, 19900, 1, minHTTPConns},    // the limit leaves nothing: the least
		{20000, 18000, 1, 1744},            // what the limit leaves
		{20000, 18000, 4, 436},             // shared by the servers
		{1024, 4000, 1, minHTTPConns},      // below the players: the least
		{1 << 20, 100000, 3, maxHTTPConns}, // a high limit: still bounded
	} {
		if got := httpConnsFor(tc.nofile, tc.players, tc.servers); got != tc.want {
			t.Errorf("httpConnsFor(%d, %d, %d) = %d, want %d", tc.nofile, tc.players, tc.servers, got, tc.want)
		}
	}
}
