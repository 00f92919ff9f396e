#!/usr/bin/env bash
# Cost of the issue-20 hardening, this tree against BASE (default: the merge base with main),
# all in one run on the same machine: start-up of `sandlock run -- /bin/true` (system grants,
# and `-r /`, which splits /dev and /proc), 1,000 chmods inside a write grant (the metadata
# handler, now on the worker pool), 1,000 reopens through /proc/self/fd and 1,000 loopback
# TCP connects. Start-up by hyperfine (interleaved commands, medians); the loops print their
# own mean per call, ROUNDS times interleaved, and the medians of those are shown.
set -euo pipefail
cd "$(dirname "$0")/../.."
source Scripts/setup.sh
RUNS=${RUNS:-100}
ROUNDS=${ROUNDS:-9}
BASE=${BASE:-$(git merge-base HEAD main 2>/dev/null || git rev-parse HEAD~1)}

command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
mkdir -p .build-bench
base=.build-bench/base-$(git rev-parse --short "$BASE")
if [ ! -x "$base/.build/release/sandlock" ]; then
  mkdir -p "$base" && git archive "$BASE" | tar -x -C "$base"
  (cd "$base" && swift build -c release --static-swift-stdlib --product sandlock >/dev/null)
fi
swift build -c release --static-swift-stdlib --product sandlock >/dev/null
swift build --product sandlock-test-probe >/dev/null
probe=$PWD/.build/debug/sandlock-test-probe
old=$base/.build/release/sandlock new=.build/release/sandlock
work=$(mktemp -d /tmp/sandlock-bench-XXXXXX)
trap 'rm -rf "$work"; [ -n "${server:-}" ] && kill "$server" 2>/dev/null || true' EXIT
echo data > "$work/file"

grants="-r /usr -r /lib -r /lib64 -r /bin -r /etc -r $PWD/.build"
# A debug probe links the toolchain's runtime where SwiftPM put it.
runtime=$(ldd "$probe" | awk '/libswiftCore/ {print $3}')
[ -n "$runtime" ] && grants="$grants -r $(dirname "$runtime")"
hyperfine -N --warmup 10 --runs "$RUNS" --export-json .build-bench/security-startup.json \
  -n bare "/bin/true" \
  -n "base: system grants" "$old run $grants -- /bin/true" -n "head: system grants" "$new run $grants -- /bin/true" \
  -n "base: -r /" "$old run -r / -- /bin/true" -n "head: -r /" "$new run -r / -- /bin/true" >/dev/null

python3 -c 'import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1",0)); s.listen(4096); print(s.getsockname()[1], flush=True)
while True:
    c,_=s.accept(); c.close()' > "$work/port" &
server=$!
while [ ! -s "$work/port" ]; do sleep 0.05; done
port=$(cat "$work/port")

loop() { # binary, probe arguments…: the probe's mean ns per call
  local binary=$1; shift
  "$binary" run $grants -w "$work" -r /proc --net-allow ":$port" -- "$probe" "$@" | awk '{print $2}'
}
: > "$work/loops"
for round in $(seq "$ROUNDS"); do
  for side in base head; do
    binary=$old; [ $side = head ] && binary=$new
    start=$(date +%s%N); "$binary" run $grants -w "$work" -- "$probe" meta chmod-loop "$work/file" 1000 >/dev/null
    echo "$side chmod $(( ($(date +%s%N) - start) / 1000 ))" >> "$work/loops"
    echo "$side reopen $(loop "$binary" reopen-loop "$work/file" 1000)" >> "$work/loops"
    echo "$side connect $(loop "$binary" tcp-connect-loop 127.0.0.1 "$port")" >> "$work/loops"
  done
done

python3 - "$work/loops" <<'PY'
import json, statistics, sys
rows = {r["command"]: r for r in json.load(open(".build-bench/security-startup.json"))["results"]}
print(f"{'start-up (hyperfine)':34} {'median ms':>10} {'mean ± sd':>16}")
for name, r in rows.items():
    print(f"{name:34} {r['median']*1000:10.2f} {r['mean']*1000:8.2f} ± {r['stddev']*1000:5.2f}")
values = {}
for line in open(sys.argv[1]):
    side, what, value = line.split()
    values.setdefault((what, side), []).append(int(value))
units = {"chmod": "µs per 1,000 (whole run)", "reopen": "ns per reopen", "connect": "ns per connect"}
print(f"\n{'loop (medians of rounds)':34} {'base':>10} {'head':>10}")
for what in ["chmod", "reopen", "connect"]:
    b, h = statistics.median(values[(what, "base")]), statistics.median(values[(what, "head")])
    print(f"{what + ' (' + units[what] + ')':34} {b:10.0f} {h:10.0f}")
PY
uptime
