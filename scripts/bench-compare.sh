#!/usr/bin/env bash
# bench-compare.sh: run the same bench shapes, in one run on this machine,
# against the tutorial's Python select() server (the baseline), nats-server
# (a reference for a mature message broker) and parley, interleaved per
# shape, and print per-shape rows and the ratios parley/nats and
# parley/tutorial. Everything listens on 127.0.0.1 only.
#
#   scripts/bench-compare.sh            # fan-out and latency shapes
#   QUICK=1 scripts/bench-compare.sh    # smaller shapes, for a smoke test
#   ROUNDS=2 scripts/bench-compare.sh   # the whole set twice (default 1)
#   IDLE=1 scripts/bench-compare.sh     # also idle memory per connection (N=15000; 2000 with QUICK=1)
#   CLUSTER=1 scripts/bench-compare.sh  # instead: a 3-node cluster against one node (below)
#
# CLUSTER=1 runs only parley: one node (`-spawn`, SQLite store) against a
# cluster of CLUSTER_NODES (default 3) nodes spawned by the bench
# (`-spawn-cluster`: `parley serve --nats-embedded` processes routed to each
# other, each with its own temporary data dir and SQLite mirror), the clients
# spread over the nodes (client i on node i mod 3), on a fan-out shape
# (N=600 S=10 M=1000 64 B) and the latency shape (N=600 S=10 R=20), the order
# of the two alternating from round to round; CPU and peak RSS are summed over
# the nodes. QUICK and ROUNDS apply; IDLE does not. Needs neither python's
# baseline nor nats-server.
#
# parley is measured as the issue measured it: `parley bench -spawn` (its
# defaults: --msg-rate 0 --max-clients -1), tutorial protocol, with the
# SQLite store on (--store sqlite, a data dir in the temp dir); the row
# "parley-mem" is the same with the in-memory store. nats-server runs with
# a config file that sets max_pending to 64 MB; `parley bench -mode nats`
# opens one nats.go connection per client, no echo, so the deliveries are
# S×M×(N−1) for every server.
#
# Needs: go, python3; nats-server (Debian's package nats-server, installed
# with apt-get when missing). The baseline is ../shared/peers/tutorial_server.py
# (override with TUTORIAL_SERVER=path); PARLEY_BIN=path uses a built binary.
set -euo pipefail
cd "$(dirname "$0")/.."
TUTORIAL_SERVER=${TUTORIAL_SERVER:-../shared/peers/tutorial_server.py}
ROUNDS=${ROUNDS:-1}
CLUSTER_NODES=${CLUSTER_NODES:-3}

if [ "${CLUSTER:-}" = 1 ]; then
	: # parley only
elif [ ! -f "$TUTORIAL_SERVER" ]; then
	echo "baseline server not found: $TUTORIAL_SERVER" >&2
	exit 1
elif ! command -v nats-server >/dev/null 2>&1; then
	SUDO=""
	if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
	echo "installing Debian's nats-server" >&2
	$SUDO apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q nats-server >/dev/null
fi
if [ "${CLUSTER:-}" != 1 ]; then nats-server --version >&2; fi

# 15000 idle connections need descriptors in the servers too.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

work=$(mktemp -d)
spid=""
cleanup() {
	if [ -n "$spid" ]; then kill "$spid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${PARLEY_BIN:-}" ]; then cp "$PARLEY_BIN" "$work/parley"; else go build -o "$work/parley" ./cmd/parley; fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# wait_port PORT: until something listens on 127.0.0.1:PORT (at most 10 s).
wait_port() {
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "nothing listens on 127.0.0.1:$1" >&2
	return 1
}

stop_server() {
	if [ -n "$spid" ]; then
		kill "$spid" 2>/dev/null || true
		wait "$spid" 2>/dev/null || true
		spid=""
	fi
}

# start_nats: a fresh nats-server per shape (so one shape's memory does not
# count in the next's), on a free port; sets port and spid.
start_nats() {
	port=$(free_port)
	cat >"$work/nats.conf" <<-EOF
		listen: 127.0.0.1:$port
		max_pending: 67108864
	EOF
	nats-server -c "$work/nats.conf" >>"$work/nats.log" 2>&1 &
	spid=$!
	wait_port "$port"
}

# start_tutorial: the baseline leaks a descriptor per departed client and
# select() stops at 1024: a fresh one for every shape.
start_tutorial() {
	port=$(free_port)
	python3 "$TUTORIAL_SERVER" "$port" 127.0.0.1 >/dev/null 2>&1 &
	spid=$!
	wait_port "$port"
}

results="$work/results.jsonl"
# record SERVER SHAPE ROUND: prefix the bench's JSON line with its labels.
record() { sed "s/^/{\"server\":\"$1\",\"shape\":\"$2\",\"round\":$3,\"r\":/; s/\$/}/" >>"$results"; }

# run_shape ROUND NAME FLAGS: every server on one shape, one after another.
run_shape() {
	local round=$1 name=$2 flags=$3 n
	n=$(sed -n 's/.*-n \([0-9]*\).*/\1/p' <<<"$flags")
	if [ "$n" -gt 1000 ]; then
		echo "== $name: tutorial_server.py skipped: its select() cannot hold more than 1024 descriptors" >&2
		echo "{\"server\":\"tutorial\",\"shape\":\"$name\",\"round\":$round,\"skipped\":\"select() holds at most 1024 descriptors\"}" >>"$results"
	else
		start_tutorial
		echo "== $name: tutorial_server.py (pid $spid, port $port)" >&2
		# shellcheck disable=SC2086
		"$work/parley" bench -q -json -addr "127.0.0.1:$port" -pid "$spid" -connect-concurrency 8 $flags |
			record tutorial "$name" "$round" || echo "baseline run failed" >&2
		stop_server
	fi

	start_nats
	echo "== $name: nats-server (pid $spid, port $port)" >&2
	# shellcheck disable=SC2086
	"$work/parley" bench -q -json -mode nats -addr "127.0.0.1:$port" -pid "$spid" $flags |
		record nats "$name" "$round" || echo "nats run failed" >&2
	stop_server

	run_parley "$round" "$name" "$flags"

	echo "== $name: parley (spawned, in-memory store)" >&2
	# shellcheck disable=SC2086
	"$work/parley" bench -q -json -spawn $flags |
		record parley-mem "$name" "$round" || echo "parley (memory) run failed" >&2
}

# run_parley ROUND NAME FLAGS: parley on one node, SQLite store (the default).
run_parley() {
	local round=$1 name=$2 flags=$3 data="$work/data-$1-$RANDOM"
	echo "== $name: parley (spawned, sqlite store in $data)" >&2
	# shellcheck disable=SC2086
	"$work/parley" bench -q -json -spawn -server-args "--store sqlite --data-dir $data" $flags |
		record parley "$name" "$round" || echo "parley run failed" >&2
	rm -rf "$data"
}

# run_cluster ROUND NAME FLAGS: parley on CLUSTER_NODES nodes spawned by the
# bench, each with its own SQLite mirror, the clients spread over them.
run_cluster() {
	local round=$1 name=$2 flags=$3
	echo "== $name: parley cluster of $CLUSTER_NODES (spawned, --nats-embedded, sqlite mirrors)" >&2
	# shellcheck disable=SC2086
	"$work/parley" bench -q -json -spawn-cluster "$CLUSTER_NODES" -server-args "--store sqlite" $flags |
		record parley-cluster "$name" "$round" || echo "parley cluster run failed" >&2
}

# run_cluster_shape ROUND NAME FLAGS: one node and the cluster on one shape,
# which goes first alternating from round to round.
run_cluster_shape() {
	if [ $(($1 % 2)) = 1 ]; then
		run_parley "$@"
		run_cluster "$@"
	else
		run_cluster "$@"
		run_parley "$@"
	fi
}

# Shapes: name|bench flags. Tutorial protocol for parley (the baseline speaks nothing else).
if [ "${CLUSTER:-}" = 1 ] && [ "${QUICK:-}" = 1 ]; then
	shapes=("fan-out N=60 S=5 M=200 64B|-n 60 -s 5 -m 200 -size 64"
		"latency N=60 S=5 R=20 64B|-n 60 -s 5 -m 40 -r 20 -size 64")
elif [ "${CLUSTER:-}" = 1 ]; then
	shapes=("fan-out N=600 S=10 M=1000 64B|-n 600 -s 10 -m 1000 -size 64"
		"latency N=600 S=10 R=20 64B|-n 600 -s 10 -m 200 -r 20 -size 64")
elif [ "${QUICK:-}" = 1 ]; then
	shapes=("fan-out N=100 S=5 M=200|-n 100 -s 5 -m 200"
		"fan-out N=1100 S=5 M=100|-n 1100 -s 5 -m 100"
		"latency N=100 S=5 R=20|-n 100 -s 5 -m 40 -r 20")
	idle_n=2000
else
	shapes=("fan-out N=500 S=10 M=1000 64B|-n 500 -s 10 -m 1000 -size 64"
		"fan-out N=2000 S=20 M=1000 64B|-n 2000 -s 20 -m 1000 -size 64"
		"latency N=500 S=10 R=20 64B|-n 500 -s 10 -m 200 -r 20 -size 64")
	idle_n=15000
fi

for round in $(seq "$ROUNDS"); do
	for shape in "${shapes[@]}"; do
		if [ "${CLUSTER:-}" = 1 ]; then
			run_cluster_shape "$round" "${shape%%|*}" "${shape#*|}"
		else
			run_shape "$round" "${shape%%|*}" "${shape#*|}"
		fi
	done
	if [ "${IDLE:-}" = 1 ] && [ "${CLUSTER:-}" != 1 ]; then
		name="idle N=$idle_n"
		flags="-idle -n $idle_n -hold 3s -connect-timeout 300s"
		for mode in tutorial line irc; do
			data="$work/data-idle-$round-$mode"
			echo "== $name: parley $mode (spawned, sqlite store)" >&2
			# shellcheck disable=SC2086
			"$work/parley" bench -q -json -spawn -mode "$mode" -server-args "--store sqlite --data-dir $data" $flags |
				record "parley-$mode" "$name" "$round" || echo "parley $mode idle run failed" >&2
			rm -rf "$data"
		done
		start_nats
		echo "== $name: nats-server (pid $spid, port $port)" >&2
		# shellcheck disable=SC2086
		"$work/parley" bench -q -json -mode nats -addr "127.0.0.1:$port" -pid "$spid" $flags |
			record nats "$name" "$round" || echo "nats idle run failed" >&2
		stop_server
	fi
done

python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
shapes, by = [], {}
for row in rows:
    if row["shape"] not in shapes:
        shapes.append(row["shape"])
    by.setdefault(row["shape"], {}).setdefault(row["server"], []).append(row)
def f(v, fmt="{:.0f}"):
    return "-" if v is None else fmt.format(v)
traffic_servers = ("tutorial", "nats", "parley", "parley-mem", "parley-cluster")
print(f"{'shape':30} {'server':14} {'rnd':>3} {'deliv/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'µs/deliv':>9} {'peak MiB':>8} {'lost':>5} {'dup':>5} {'reord':>5} {'bench sat':>9}")
for shape in shapes:
    servers = by[shape]
    if shape.startswith("idle"):
        continue
    for name in traffic_servers:
        for row in servers.get(name, []):
            if "skipped" in row:
                print(f"{shape:30} {name:14} {row['round']:>3}  skipped: {row['skipped']}")
                continue
            r = row["r"]
            t, s = r.get("traffic") or {}, r.get("server") or {}
            lat = t.get("latency", {})
            peak = s.get("peak_rss_bytes")
            print(f"{shape:30} {name:14} {row['round']:>3} {f(t.get('deliveries_per_sec')):>10} {f(lat.get('p50_ms'),'{:.2f}'):>8} {f(lat.get('p99_ms'),'{:.2f}'):>8} "
                  f"{f(s.get('cpu_us_per_delivery'),'{:.3f}'):>9} {f(peak and peak/2**20,'{:.1f}'):>8} {t.get('lost','-'):>5} {t.get('duplicated','-'):>5} {t.get('out_of_order','-'):>5} {str(r['bench']['saturated']):>9}"
                  + ("" if t.get("complete") else "  INCOMPLETE " + t.get("end_reason", "")))
            if s.get("processes"):
                print(f"{'':30} {'':14} {'':>3}  per node: " + ", ".join(f"CPU {p['cpu_sec']:.2f} s, peak {p['peak_rss_bytes']/2**20:.0f} MiB" for p in s["processes"]))
            for e in r.get("errors") or []:
                print(f"{'':30} {'':14} {'':>3}  error: {e}")
    # Ratios of the means over the rounds.
    def mean(name, get):
        vals = [get(row["r"]) for row in servers.get(name, []) if "r" in row and row["r"].get("traffic")]
        vals = [v for v in vals if v]
        return statistics.mean(vals) if vals else None
    metrics = (("deliveries/s", lambda r: r["traffic"]["deliveries_per_sec"]),
               ("CPU µs/delivery", lambda r: r["server"].get("cpu_us_per_delivery")),
               ("p99", lambda r: r["traffic"]["latency"]["p99_ms"]))
    pairs = [(p, o) for p in ("parley", "parley-mem") for o in ("nats", "tutorial")] + [("parley-cluster", "parley")]
    for p, other in pairs:
        if p not in servers or other not in servers:
            continue
        parts = []
        for label, get in metrics:
            a, b = mean(p, get), mean(other, get)
            parts.append(f"{label} {a/b:.2f}x" if a and b else f"{label} n/a")
        print(f"{'':30} {p + '/' + other:23} " + ", ".join(parts))
idle = [s for s in shapes if s.startswith("idle")]
if idle:
    print()
    print(f"{'shape':30} {'server':15} {'rnd':>3} {'KB/conn':>8} {'open':>6} {'ready ms':>9} {'RSS MiB':>8}")
    for shape in idle:
        for name, rs in by[shape].items():
            for row in rs:
                r = row["r"]
                i, s = r.get("idle") or {}, r.get("server") or {}
                per = i.get("rss_per_conn_bytes")
                print(f"{shape:30} {name:15} {row['round']:>3} {f(per and per/1024,'{:.1f}'):>8} {i.get('still_open','-'):>6} {f(r.get('ready_ms')):>9} {f(s.get('rss_bytes',0)/2**20,'{:.1f}'):>8}"
                      + "".join("  error: " + e for e in r.get("errors") or []))
print()
print("µs/deliv: the server's CPU per delivery; bench sat: the bench or the machine was saturated (2 shared CPUs: figures are lower bounds).")
PY
