#!/usr/bin/env bash
# Runs the server and the load generator on this machine, pinned to
# separate cores, and reports the server's CPU time per accepted move (from
# /proc, not wall time) and its memory, next to loadgen's own report.
#
#   bench/load.sh [loadgen flags...]
#   bench/load.sh -players 400 -think 0 -duration 30s        # 200 games at once, no think time
#   bench/load.sh -players 5000 -idle -duration 40s           # memory per idle connection
#
# Environment: SERVER_CPU (default 0), LOADGEN_CPU (default 1), PORT (18090),
# WARMUP (an unmeasured run first, e.g. 60s), PG_CPUS, OPS_PORT (the operator listener: /metrics, pprof; default PORT+1).
# The server's embedded PostgreSQL inherits the server's core. Rate limits
# are raised (see LIMITS below): the generator is one address sending as
# fast as the server answers.
set -euo pipefail
cd "$(dirname "$0")/.."
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}
PORT=${PORT:-18090}
OPS_PORT=${OPS_PORT:-$((PORT + 1))}
work=$(mktemp -d /tmp/turnbase-bench.XXXXXX)
trap 'kill $srv 2>/dev/null || true; wait $srv 2>/dev/null || true; rm -rf "$work"' EXIT

go build -o "$work/turnbase" ./cmd/turnbase
go build -o "$work/loadgen" ./cmd/loadgen
ulimit -n "$(ulimit -Hn)"

LIMITS=(TURNBASE_CONN_RATE=100000 TURNBASE_CONN_BURST=100000 TURNBASE_PLAYER_RATE=100000 TURNBASE_PLAYER_BURST=100000
  TURNBASE_MAX_CONNS_PER_IP=1000000 TURNBASE_HANDSHAKE_RATE=100000 TURNBASE_HANDSHAKE_BURST=100000
  TURNBASE_HTTP_RATE=100000 TURNBASE_HTTP_BURST=100000 TURNBASE_LOG_LEVEL=warn)
env "${LIMITS[@]}" TURNBASE_OPS_ADDR=127.0.0.1:$OPS_PORT taskset -c "$SERVER_CPU" "$work/turnbase" serve -addr "127.0.0.1:$PORT" -data "$work/data" >"$work/server.log" 2>&1 &
srv=$!
for _ in $(seq 1 300); do
  curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
# PG_CPUS=0-1 lets the embedded PostgreSQL (which inherits the server's
# core) run anywhere, to see what the database's CPU costs the latency.
if [ -n "${PG_CPUS:-}" ]; then
  for p in $(pgrep -u postgres -f "$work/data"); do taskset -a -p -c "$PG_CPUS" "$p" >/dev/null; done
fi

ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$srv/stat"; }
# PostgreSQL's CPU: every process of the cluster (its backends live as long
# as the server's pool connections), plus what reaped children used.
PG_PATTERN=${PG_PATTERN:-$work/data}
pgcpu() {
  local t=0 p
  local pm
  pm=$(pgrep -f "postgres -D $PG_PATTERN" | head -1 || true)
  [ -n "$pm" ] || { echo 0; return; }
  for p in $pm $(pgrep -P "$pm" || true); do
    t=$((t + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}
rss() { awk '/VmRSS/ {print $2}' "/proc/$srv/status"; }
# WARMUP=60s plays that long first, unmeasured, with the same flags but
# for -duration: a fresh database's tables grow from empty, and the plans
# PostgreSQL cached for them while they were small (sequential scans) stay
# until autovacuum's next ANALYZE, a minute or so later.
if [ -n "${WARMUP:-}" ]; then
  taskset -c "$LOADGEN_CPU" "$work/loadgen" -url "http://127.0.0.1:$PORT" -json "$@" -duration "$WARMUP" >/dev/null || true
fi
cpu0=$(cpu); rss0=$(rss); pg0=$(pgcpu)
taskset -c "$LOADGEN_CPU" "$work/loadgen" -url "http://127.0.0.1:$PORT" -json "$@" >"$work/report.json" || true
cpu1=$(cpu); rss1=$(rss); pg1=$(pgcpu)
metrics=$(curl -fs "http://127.0.0.1:$OPS_PORT/metrics")
cat "$work/report.json"
python3 - "$work/report.json" "$cpu0" "$cpu1" "$ticks" "$rss0" "$rss1" "$pg0" "$pg1" <<'PY'
import json, sys
rep = json.load(open(sys.argv[1]))
cpu = (float(sys.argv[3]) - float(sys.argv[2])) / float(sys.argv[4])
moves = rep["moves"]["accepted"]
conns = rep["connections"]["established"]
print(f"server CPU: {cpu:.2f} s for {moves} accepted moves = {cpu / max(moves, 1) * 1e6:.1f} us/move")
pg = (float(sys.argv[8]) - float(sys.argv[7])) / float(sys.argv[4])
print(f"PostgreSQL CPU: {pg:.2f} s = {pg / max(moves, 1) * 1e6:.1f} us/move")
print(f"server RSS: {int(sys.argv[5])/1024:.1f} MiB before, {int(sys.argv[6])/1024:.1f} MiB after; "
      f"{(int(sys.argv[6]) - int(sys.argv[5])) / max(conns, 1):.1f} KiB per connection ({conns} connections)")
PY
echo "$metrics" | grep -E '^turnbase_store_(batch_size|write_seconds)_(sum|count)|^turnbase_move_seconds_(sum|count)' || true
