#!/usr/bin/env bash
# bench-compare.sh: run the same bench shapes against the tutorial's Python
# select() server (the baseline) and against parley, in one run on this
# machine, and print the ratios. Everything listens on 127.0.0.1 only.
#
#   scripts/bench-compare.sh            # fan-out and latency shapes
#   QUICK=1 scripts/bench-compare.sh    # smaller shapes, for a smoke test
#
# Needs: go, python3. The baseline is ../shared/peers/tutorial_server.py
# (override with TUTORIAL_SERVER=path); PARLEY_BIN=path uses a built binary.
set -euo pipefail
cd "$(dirname "$0")/.."
TUTORIAL_SERVER=${TUTORIAL_SERVER:-../shared/peers/tutorial_server.py}
[ -f "$TUTORIAL_SERVER" ] || { echo "baseline server not found: $TUTORIAL_SERVER" >&2; exit 1; }

work=$(mktemp -d)
tpid=""
cleanup() {
	if [ -n "$tpid" ]; then kill "$tpid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${PARLEY_BIN:-}" ]; then cp "$PARLEY_BIN" "$work/parley"; else go build -o "$work/parley" ./cmd/parley; fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# Shapes: name|bench flags. Tutorial mode for both servers (the baseline speaks nothing else).
if [ "${QUICK:-}" = 1 ]; then
	shapes=("fan-out N=100 S=5 M=200|-n 100 -s 5 -m 200"
		"latency N=100 S=5 R=20|-n 100 -s 5 -m 40 -r 20")
else
	shapes=("fan-out N=500 S=10 M=1000 64B|-n 500 -s 10 -m 1000 -size 64"
		"latency N=500 S=10 R=20 64B|-n 500 -s 10 -m 200 -r 20 -size 64")
fi

results="$work/results.jsonl"
for shape in "${shapes[@]}"; do
	name=${shape%%|*}
	flags=${shape#*|}
	# The baseline leaks a descriptor per departed client and select() stops
	# at 1024: start a fresh one for every shape.
	port=$(free_port)
	python3 "$TUTORIAL_SERVER" "$port" 127.0.0.1 >/dev/null 2>&1 &
	tpid=$!
	echo "== $name: tutorial_server.py (pid $tpid, port $port)" >&2
	# shellcheck disable=SC2086
	"$work/parley" bench -q -json -addr "127.0.0.1:$port" -pid "$tpid" -connect-concurrency 8 $flags |
		sed "s/^/{\"server\":\"tutorial\",\"shape\":\"$name\",\"r\":/; s/\$/}/" >>"$results" || echo "baseline run failed" >&2
	kill "$tpid" 2>/dev/null || true
	wait "$tpid" 2>/dev/null || true
	tpid=""
	echo "== $name: parley (spawned, in-memory store)" >&2
	# shellcheck disable=SC2086
	"$work/parley" bench -q -json -spawn $flags |
		sed "s/^/{\"server\":\"parley\",\"shape\":\"$name\",\"r\":/; s/\$/}/" >>"$results" || echo "parley run failed" >&2
done

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for row in rows:
    by.setdefault(row["shape"], {})[row["server"]] = row["r"]
def f(v, fmt="{:.0f}"):
    return "-" if v is None else fmt.format(v)
print(f"{'shape':32} {'server':9} {'deliv/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'µs/deliv':>9} {'lost':>6} {'reord':>6} {'bench sat':>9}")
for shape, servers in by.items():
    for name in ("tutorial", "parley"):
        r = servers.get(name)
        if not r:
            continue
        t, s = r.get("traffic") or {}, r.get("server") or {}
        lat = t.get("latency", {})
        print(f"{shape:32} {name:9} {f(t.get('deliveries_per_sec')):>10} {f(lat.get('p50_ms'),'{:.2f}'):>8} {f(lat.get('p99_ms'),'{:.2f}'):>8} "
              f"{f(s.get('cpu_us_per_delivery'),'{:.3f}'):>9} {t.get('lost','-'):>6} {t.get('out_of_order','-'):>6} {str(r['bench']['saturated']):>9}")
    a, b = servers.get("parley"), servers.get("tutorial")
    if a and b and a.get("traffic") and b.get("traffic"):
        ta, tb = a["traffic"], b["traffic"]
        def ratio(x, y): return f"{x/y:.2f}x" if y else "n/a"
        print(f"{'':32} ratio     deliveries/s parley/tutorial {ratio(ta['deliveries_per_sec'], tb['deliveries_per_sec'])}, "
              f"p99 tutorial/parley {ratio(tb['latency']['p99_ms'], ta['latency']['p99_ms'])}, "
              f"CPU per delivery tutorial/parley {ratio(b['server'].get('cpu_us_per_delivery',0), a['server'].get('cpu_us_per_delivery',0))}")
PY
