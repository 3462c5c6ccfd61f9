#!/usr/bin/env bash
# Many connected players on a cluster of turnbase nodes on this machine:
# one throwaway PostgreSQL (cmd/pgtmp), NODES nodes on it (the same
# DATABASE_URL and token secret), and LOADGENS loadgen processes, each
# under its own open file limit and binding its sockets to a source
# address of its own (127.0.0.2, 127.0.0.3, ...), each spreading its
# players over every node in turn. It samples every node's open player
# sockets (/metrics), RSS and CPU every 2 s, and prints, for the window
# where every loadgen process had all its players on (loadgen's measured
# window, cut to what all processes share), the players held, each node's
# figures, PostgreSQL's, the machine's load, and loadgen's errors. Then it
# stops everything it started and removes its folder.
#
#   bench/cluster.sh                                   # 50,000 players, think 5 s, 3 nodes
#   PLAYERS=6000 LOADGENS=2 DURATION=40 bench/cluster.sh
#   IDLE=3 bench/cluster.sh                            # 3 of the 5 processes only connect (-idle)
#   bench/cluster.sh -games tictactoe                  # extra flags go to every loadgen
#
# Environment: PLAYERS (50000, in all), LOADGENS (5 processes; each takes
# PLAYERS/LOADGENS, so keep that under 19,700 for the 20,000 file limit
# and under ~25,000 for one source address's ports), NODES (3), IDLE (0:
# how many of the processes only connect and say hello, the others queue
# and play), THINK (5s, loadgen -think), RAMP (1000: sign-ups and
# connections a second, all processes together), DURATION (180 s from the
# start of the loadgens to their stop), WARMUP (20 s after the ramp before
# the window opens), DRAIN (60 s for the matches under way at the stop),
# SPREAD (all: each process spreads over every node; one: process k talks
# to node k mod NODES only), POOL (32: each node's database connections,
# pool_max_conns in its DATABASE_URL), PG_STATEMENTS=1 loads
# pg_stat_statements and prints the costliest statements at the end, PORT (18100: nodes on PORT.., their operator
# listeners on PORT+50..), KEEP=1 keeps the folder (logs, reports,
# samples). Everything listens on and connects from 127.0.0.x only.
#
# The script exits non-zero when a loadgen process reported an error (a
# failed connection, an error frame, an unexpected disconnect) or when
# fewer than PLAYERS players were held through the whole window.
set -euo pipefail
cd "$(dirname "$0")/.."
PLAYERS=${PLAYERS:-50000}
LOADGENS=${LOADGENS:-5}
NODES=${NODES:-3}
IDLE=${IDLE:-0}
THINK=${THINK:-5s}
RAMP=${RAMP:-1000}
DURATION=${DURATION:-180}
WARMUP=${WARMUP:-20}
DRAIN=${DRAIN:-60}
SPREAD=${SPREAD:-all}
PORT=${PORT:-18100}
POOL=${POOL:-32}
OPS=$((PORT + 50))
work=$(mktemp -d /tmp/turnbase-cluster.XXXXXX)

nodes=() loadgens=() sampler="" progress="" pgtmp=""
cleanup() {
  set +e
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
  [ -n "$progress" ] && kill "$progress" 2>/dev/null
  for p in "${loadgens[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${loadgens[@]}"; do wait "$p" 2>/dev/null; done
  # The nodes stop gracefully (they release their matches), then
  # PostgreSQL: pgtmp stops it when its stdin (fd 3) closes.
  for p in "${nodes[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${nodes[@]}"; do
    for _ in $(seq 1 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  exec 3>&-
  if [ -n "$pgtmp" ]; then
    for _ in $(seq 1 300); do kill -0 "$pgtmp" 2>/dev/null || break; sleep 0.1; done
    kill -TERM "$pgtmp" 2>/dev/null
    wait "$pgtmp" 2>/dev/null
  fi
  if [ "${KEEP:-}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

per=$((PLAYERS / LOADGENS))
if [ "$per" -gt 19700 ]; then
  echo "cluster.sh: $per players per loadgen process is over its open file limit; raise LOADGENS" >&2
  exit 2
fi
if [ $((LOADGENS + 1)) -gt 254 ]; then
  echo "cluster.sh: at most 253 loadgen processes (one source address each)" >&2
  exit 2
fi

go build -o "$work/turnbase" ./cmd/turnbase
go build -o "$work/loadgen" ./cmd/loadgen
go build -o "$work/pgtmp" ./cmd/pgtmp
ulimit -n "$(ulimit -Hn)"

# PostgreSQL, for the whole cluster: more connections than the default
# (every node has a pool, a listener and journal writers), a bigger cache.
pgset=(-set max_connections=300 -set shared_buffers=256MB)
[ "${PG_STATEMENTS:-}" = 1 ] && pgset+=(-set shared_preload_libraries=pg_stat_statements)
exec 3> >(exec "$work/pgtmp" -stdin -data "$work/pg" "${pgset[@]}" >"$work/dsn" 2>"$work/pg.log")
pgtmp=$!
for _ in $(seq 1 1200); do
  [ -s "$work/dsn" ] && break
  kill -0 "$pgtmp" 2>/dev/null || { cat "$work/pg.log" >&2; exit 1; }
  sleep 0.1
done
[ -s "$work/dsn" ] || { echo "cluster.sh: PostgreSQL did not start" >&2; cat "$work/pg.log" >&2; exit 1; }
DSN=$(head -1 "$work/dsn")
# Each node's pool: pgx's default (8 here) queues the sign-ups and hellos
# of a fast ramp behind a handful of connections until their queries time
# out, and a timed-out query costs its connection (a new one is a fork
# and a SCRAM exchange), which slows everything further.
# The pool is filled at the start (pool_min_conns): a connection made under
# load has 2 s to connect (cmd/turnbase/db.go), which a starved
# postmaster misses.
case "$DSN" in *\?*) DSN="$DSN&" ;; *) DSN="$DSN?" ;; esac
DSN="${DSN}pool_max_conns=$POOL&pool_min_conns=$POOL"

LIMITS=(TURNBASE_CONN_RATE=100000 TURNBASE_CONN_BURST=100000 TURNBASE_PLAYER_RATE=100000 TURNBASE_PLAYER_BURST=100000
  TURNBASE_MAX_CONNS_PER_IP=1000000 TURNBASE_HANDSHAKE_RATE=100000 TURNBASE_HANDSHAKE_BURST=100000
  TURNBASE_HTTP_RATE=100000 TURNBASE_HTTP_BURST=100000 TURNBASE_MAX_CONNS=19500 TURNBASE_LOG_LEVEL=warn)
secret=$(head -c 32 /dev/urandom | base64 | tr -d '\n')
urls=()
for i in $(seq 0 $((NODES - 1))); do
  env "${LIMITS[@]}" DATABASE_URL="$DSN" TURNBASE_JWT_SECRET="$secret" TURNBASE_DATA="$work/node$i" \
    TURNBASE_OPS_ADDR="127.0.0.1:$((OPS + i))" \
    "$work/turnbase" serve -addr "127.0.0.1:$((PORT + i))" >"$work/node$i.log" 2>&1 3>&- &
  nodes+=($!)
  urls+=("http://127.0.0.1:$((PORT + i))")
done
for i in $(seq 0 $((NODES - 1))); do
  ok=""
  for _ in $(seq 1 600); do
    if curl -fs "${urls[$i]}/readyz" >/dev/null 2>&1; then ok=1; break; fi
    kill -0 "${nodes[$i]}" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$ok" ] || { echo "cluster.sh: node $i did not get ready" >&2; tail -30 "$work/node$i.log" >&2; exit 1; }
done
# The pools fill in the background: wait until the database's client
# connections stop growing (2 s alike, 60 s at most), so that no sign-up
# waits for a new connection while the ramp loads the machine.
psql=$(find /usr/lib/postgresql -name psql -path '*bin*' | sort -V | tail -1)
last=-1 same=0
for _ in $(seq 1 60); do
  n=$("$psql" "$(head -1 "$work/dsn")" -Atc "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'" 2>/dev/null || echo 0)
  if [ "$n" = "$last" ]; then same=$((same + 1)); else same=0; fi
  [ "$same" -ge 2 ] && break
  last=$n
  sleep 1
done
pgdata="$work/pg/pgdata"
echo "PostgreSQL on $pgdata, nodes ${nodes[*]} on ${urls[*]}; $PLAYERS players from $LOADGENS loadgen processes ($IDLE idle), think $THINK, work folder $work"

ticks=$(getconf CLK_TCK)
# The sampler, one process that forks nothing: every 2 s, one line per
# node, one for PostgreSQL, the loadgens, the load average and the machine:
# "unix-time what player-sockets live-matches cpu-ticks memory-KiB". A
# node's memory is its RSS; PostgreSQL's is the PSS of its processes
# (shared buffers counted once), the loadgens' the sum of their RSS.
cat >"$work/sampler.py" <<'PY'
import os, sys, time, urllib.request
nodes = [(int(pid), port) for pid, port in (a.split(":") for a in sys.argv[1].split(","))]
pgdata, lgs = sys.argv[2], [int(p) for p in sys.argv[3].split(",") if p]
def stat(pid, children=False):
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(f[11]) + int(f[12]) + (int(f[13]) + int(f[14]) if children else 0)
def field(pid, name, fname="status"):
    try:
        for line in open(f"/proc/{pid}/{fname}"):
            if line.startswith(name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
def kids(pid):
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(p))
            except OSError:
                pass
    return out
def metrics(port):
    conns = live = "NaN"
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return conns, live
    for line in text.splitlines():
        if line.startswith('turnbase_connections{kind="player"} '):
            conns = line.split()[1]
        elif line.startswith("turnbase_live_matches "):
            live = line.split()[1]
    return conns, live
pm = int(open(f"{pgdata}/postmaster.pid").readline())
while True:
    now, out = time.time(), []
    for i, (pid, port) in enumerate(nodes):
        c, l = metrics(port)
        out.append(f"{now:.3f} node{i} {c} {l} {stat(pid)} {field(pid, 'VmRSS')}")
    pg = [pm] + kids(pm)
    out.append(f"{now:.3f} postgres 0 0 {sum(stat(p, True) for p in pg)} {sum(field(p, 'Pss', 'smaps_rollup') for p in pg)}")
    lg = [k for p in lgs for k in [p] + kids(p)]  # timeout and its loadgen
    out.append(f"{now:.3f} loadgen 0 0 {sum(stat(p) for p in lg)} {sum(field(p, 'VmRSS') for p in lg)}")
    out.append(f"{now:.3f} loadavg 0 0 {open('/proc/loadavg').read().split()[0]} 0")
    c = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    busy = c[0] + c[1] + c[2] + c[5] + c[6]
    out.append(f"{now:.3f} machine 0 0 {busy} {busy + c[3] + c[4]}")
    print("\n".join(out), flush=True)
    time.sleep(max(0, 2 - (time.time() - now)))
PY

if [ "$SPREAD" = all ]; then
  all=$(IFS=,; echo "${urls[*]}")
fi
rate=$(awk -v r="$RAMP" -v n="$LOADGENS" 'BEGIN {printf "%.1f", r / n}')
for k in $(seq 0 $((LOADGENS - 1))); do
  n=$per
  [ "$k" -eq 0 ] && n=$((per + PLAYERS - per * LOADGENS))
  target=${all:-${urls[$((k % NODES))]}}
  mode=(-think "$THINK")
  [ "$k" -lt "$IDLE" ] && mode=(-idle)
  timeout --kill-after=10s $((DURATION + DRAIN + 60)) \
    "$work/loadgen" -json -url "$target" -source "127.0.0.$((k + 2))" -names "lg${k}_" -players "$n" \
    "${mode[@]}" -duration "${DURATION}s" -ramp "$rate/s" -warmup "${WARMUP}s" -drain "${DRAIN}s" "$@" \
    >"$work/lg$k.json" 2>"$work/lg$k.err" 3>&- &
  loadgens+=($!)
done

nodelist=""
for i in $(seq 0 $((NODES - 1))); do nodelist+="${nodes[$i]}:$((OPS + i)),"; done
python3 "$work/sampler.py" "${nodelist%,}" "$pgdata" "$(IFS=,; echo "${loadgens[*]}")" >"$work/samples" 2>"$work/sampler.err" 3>&- &
sampler=$!
# Progress while it runs: the players held on each node.
(
  start=$(date +%s)
  while :; do
    sleep 10
    line=$(tail -n $((NODES + 4)) "$work/samples" 2>/dev/null | awk '$2 ~ /^node/ {printf "%s %s  ", $2, $3; s += $3} END {printf "= %d", s}')
    echo "$(( $(date +%s) - start ))s: $line"
  done
) 3>&- &
progress=$!
fails=0
for p in "${loadgens[@]}"; do wait "$p" || fails=$((fails + 1)); done
if [ "${PG_STATEMENTS:-}" = 1 ]; then
  echo "PostgreSQL's statements by total time (pg_stat_statements):"
  "$psql" "$(head -1 "$work/dsn")" -P pager=off -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" \
    -c "SELECT calls, round(total_exec_time) AS total_ms, round(mean_exec_time::numeric, 2) AS mean_ms, rows,
        regexp_replace(left(query, 90), '\s+', ' ', 'g') AS query
      FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 20" 2>&1 || true
fi
kill "$progress" 2>/dev/null || true
wait "$progress" 2>/dev/null || true
progress=""
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
sampler=""
loadgens=()

status=0
python3 - "$work" "$LOADGENS" "$NODES" "$ticks" "$PLAYERS" <<'PY' || status=$?
import json, sys, glob
work, nlg, nodes, tk, want = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
reps = []
for k in range(nlg):
    try:
        reps.append(json.load(open(f"{work}/lg{k}.json")))
    except Exception as e:
        print(f"loadgen {k}: no report ({e}):", open(f"{work}/lg{k}.err").read()[-2000:])
        reps.append(None)
ok = [r for r in reps if r]
tot = lambda f: sum(f(r) for r in ok)
print(f"loadgen: {len(ok)} of {nlg} processes reported; players {tot(lambda r: r['players'])}, "
      f"connected {tot(lambda r: r['connections']['established'])}, failed {tot(lambda r: r['connections']['failed'])}, "
      f"retries {tot(lambda r: r['connections']['retries'])}, clean closes {tot(lambda r: r['connections']['clean_closes'])}, "
      f"unclean {tot(lambda r: r['connections']['unclean_closes'])}")
errors, disc, failed_by = {}, {}, {}
for r in ok:
    for src, dst in ((r.get("errors") or {}, errors), (r.get("disconnects") or {}, disc), (r["connections"].get("failed_by") or {}, failed_by)):
        for k, v in src.items():
            dst[k] = dst.get(k, 0) + v
print(f"loadgen: error total {tot(lambda r: r['error_total'])}; error frames {errors or 'none'}; "
      f"unexpected disconnects {disc or 'none'}; failed connections {failed_by or 'none'}; bad frames {tot(lambda r: r['bad_frames'])}")
print(f"loadgen: {tot(lambda r: r['matches']['completed'])} matches, {tot(lambda r: r['moves']['accepted'])} moves accepted, "
      f"{tot(lambda r: r['moves']['refused'])} refused")
for k, r in enumerate(reps):
    if not r:
        continue
    c, m = r["connections"], r["moves"]
    print(f"  loadgen {k}: {r['players']} players {'idle' if r['idle'] else 'playing'} via {r['url']}, sign-up p50 {c['signup']['p50_ms']:.0f} ms "
          f"p99 {c['signup']['p99_ms']:.0f} ms, connect p99 {c['connect']['p99_ms']:.0f} ms, move round trip p50 {m['rtt']['p50_ms']:.0f} ms "
          f"p99 {m['rtt']['p99_ms']:.0f} ms, {r['client']['kib_per_conn']:.1f} KiB per connection")

wins = [r["window"] for r in ok if r.get("window")]
if len(wins) < nlg:
    print("window: none (a process stopped before its ramp and warmup were over)")
    sys.exit(1)
start, end = max(w["start_unix"] for w in wins), min(w["end_unix"] for w in wins)
if end <= start:
    print("window: the processes' windows do not overlap")
    sys.exit(1)
samples = {}
for line in open(f"{work}/samples"):
    f = line.split()
    if len(f) == 6:
        samples.setdefault(f[1], []).append((float(f[0]), float(f[2]), float(f[3]), float(f[4]), float(f[5])))
def inwin(name):
    return [s for s in samples.get(name, []) if start <= s[0] <= end]
def rate(name, col=3, scale=tk):
    s = inwin(name)
    if len(s) < 2:
        return float("nan")
    return (s[-1][col] - s[0][col]) / scale / (s[-1][0] - s[0][0])
print(f"window: {end - start:.0f} s, every loadgen process past its ramp and warmup "
      f"(moves accepted in it: {sum(w['moves_accepted'] for w in wins)}, {sum(w['moves_per_second'] for w in wins):.0f}/s)")
held_min = None
for i in range(nodes):
    s = inwin(f"node{i}")
    conns = [x[1] for x in s]
    live = [x[2] for x in s]
    print(f"  node{i}: player sockets {min(conns):.0f}-{max(conns):.0f}, live matches {min(live):.0f}-{max(live):.0f}, "
          f"CPU {rate(f'node{i}') * 100:.0f}% of a core, RSS {s[-1][4] / 1024:.0f} MiB")
# The sum at each sampling instant (the nodes of one instant share its time).
totals = {}
for i in range(nodes):
    for x in inwin(f"node{i}"):
        totals.setdefault(x[0], []).append(x[1])
sums = [sum(v) for v in totals.values() if len(v) == nodes]
held_min = min(sums) if sums else 0
pg = inwin("postgres")
lg = inwin("loadgen")
la = [x[3] for x in inwin("loadavg")]
mach = inwin("machine")
busy = (mach[-1][3] - mach[0][3]) / (mach[-1][4] - mach[0][4]) if len(mach) > 1 else float("nan")
print(f"  all nodes: {held_min:.0f} to {max(sums):.0f} player sockets held at every 2 s sample ({len(sums)} samples)")
print(f"  PostgreSQL: CPU {rate('postgres') * 100:.0f}% of a core, memory (PSS of its processes) {pg[-1][4] / 1024:.0f} MiB")
print(f"  loadgen (all processes): CPU {rate('loadgen') * 100:.0f}% of a core, RSS {lg[-1][4] / 1024:.0f} MiB")
print(f"  machine: {busy * 100:.0f}% of its CPU busy, load average {min(la):.1f}-{max(la):.1f}")
bad = tot(lambda r: r["error_total"]) > 0 or len(ok) < nlg or held_min < want
sys.exit(1 if bad else 0)
PY
[ "$fails" -eq 0 ] || echo "cluster.sh: $fails loadgen processes exited non-zero"
[ "$status" -eq 0 ] && [ "$fails" -eq 0 ]
