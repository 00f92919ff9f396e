#!/usr/bin/env bash
# Redis throughput and p99 latency from outside: redis-server bare, inside `sandlock run` with
# --net-bind, and with --port-remap; the same with the sandlock PyPI package when it installs.
# redis-benchmark -n 100000 -t set,get against each, all in one run; ratios to bare.
set -euo pipefail
cd "$(dirname "$0")/../.."
source Scripts/setup.sh
REQUESTS=${REQUESTS:-100000}
command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; }
# The packaged service is not needed (and must not hold the port): ours are started per case.
systemctl stop redis-server 2>/dev/null || true
swift build -c release --static-swift-stdlib --product sandlock >/dev/null
mkdir -p .build-bench
[ -x .build-bench/venv/bin/python ] || python3 -m venv .build-bench/venv
.build-bench/venv/bin/python -c 'import sandlock' 2>/dev/null || .build-bench/venv/bin/pip install --quiet sandlock==0.9.0 || true

port=16399
data=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$data"' EXIT
redis=(/usr/bin/redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$data" --protected-mode no)
grants=(-r /usr -r /lib -r /lib64 -r /bin -r /etc -w "$data")

bench() { # name, then the server command
  local name=$1; shift
  "$@" >/dev/null 2>&1 &
  server=$!
  local up=no
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && { up=yes; break; }; sleep 0.05; done
  if [ "$up" = no ]; then
    echo "redis: '$name' did not start; skipped" >&2
    kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true
    return
  fi
  timeout 300 redis-benchmark -p "$port" -n "$REQUESTS" -t set,get -q --csv 2>/dev/null | tail -n +2 | tr -d '"' |
    awk -F, -v n="$name" '{print n","$1","$2","$7}' >> .build-bench/redis.csv
  kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true
  # The sandbox's whole tree is gone when `sandlock run` returns; the port is free again.
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 || break; sleep 0.05; done
}

: > .build-bench/redis.csv
bench bare "${redis[@]}"
bench "sandlock run --net-bind" .build/release/sandlock run "${grants[@]}" --net-bind "$port" -- "${redis[@]}"
bench "sandlock run --port-remap" .build/release/sandlock run "${grants[@]}" --net-bind "$port" --port-remap -- "${redis[@]}"
if .build-bench/venv/bin/python -c 'import sandlock' 2>/dev/null; then
  bench "sandlock PyPI net_allow_bind" .build-bench/venv/bin/python -c "
import sys
from sandlock import Sandbox
Sandbox(fs_readable=['/usr','/lib','/lib64','/bin','/etc'], fs_writable=['$data'], net_allow_bind=[$port]).run(sys.argv[1:])
" "${redis[@]}"
fi

python3 - <<'PY'
import csv
rows = list(csv.reader(open(".build-bench/redis.csv")))
base = {t: (float(r), float(p)) for n, t, r, p in rows if n == "bare"}
print(f"{'case':30} {'test':4} {'rps':>10} {'of bare':>8} {'p99 ms':>7} {'p99 - bare':>10}")
for n, t, r, p in rows:
    br, bp = base[t]
    print(f"{n:30} {t:4} {float(r):10.0f} {float(r)/br:8.1%} {float(p):7.3f} {float(p)-bp:10.3f}")
PY
