#!/usr/bin/env bash
# Issue 13's overhead check: the load generator's `meta` workload (OPEN+GETFH+GETATTR then CLOSE per op) against two
# Leasehold servers of the same build in one run, one with metrics on (the default: OpenTelemetry's Prometheus exporter
# and the status page's listener attached to every instrument, and /metrics scraped every SCRAPE seconds as Prometheus
# would) and one with Admin:Metrics=false (no listener: the instruments record nothing). The load generator alternates
# the two, ROUNDS times each, and reports ops/s, latency and each server's CPU time per COMPOUND.
#
#   bash bench/metrics-overhead.sh     # SESSIONS="1 8" ROUNDS=5 WARMUP=3s DURATION=10s SCRAPE=5 NO_BUILD=1 to skip builds
# Results: stdout and STATE_DIR/metrics-overhead.txt (STATE_DIR default /tmp/leasehold-metrics-overhead).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
state=${STATE_DIR:-/tmp/leasehold-metrics-overhead}
sessions=${SESSIONS:-"1 8"}
rounds=${ROUNDS:-5}
warmup=${WARMUP:-3s}
duration=${DURATION:-10s}
scrape=${SCRAPE:-5}
if [ "${NO_BUILD:-0}" != 1 ]; then
    dotnet build -c Release "$repo/src/Leasehold.Host" -v q -nologo >/dev/null
    dotnet build -c Release "$repo/bench/Leasehold.LoadGen" -v q -nologo >/dev/null
fi
bin=$repo/src/Leasehold.Host/bin/Release/net10.0/leasehold
loadgen=(dotnet "$repo/bench/Leasehold.LoadGen/bin/Release/net10.0/Leasehold.LoadGen.dll")
rm -rf "$state" && mkdir -p "$state/on/export" "$state/off/export"

pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
"$bin" serve "$state/on/export" --listen 127.0.0.1:20511 > "$state/on/server.log" 2>&1 & on=$!; pids+=("$on")
LEASEHOLD_Admin__Metrics=false "$bin" serve "$state/off/export" --listen 127.0.0.1:20512 > "$state/off/server.log" 2>&1 & off=$!; pids+=("$off")
for port in 20511 20512; do
    for _ in $(seq 1 150); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
done
# Prometheus's part: a scrape of the server with metrics on every $scrape seconds for the whole run.
( while sleep "$scrape"; do curl -s --unix-socket "$state/on/.leasehold-state/admin.sock" http://leasehold/metrics > "$state/last-scrape.txt" || true; done ) &
pids+=("$!")

out=$state/metrics-overhead.txt
{
    echo "# metrics on (:20511, scraped every ${scrape}s) against off (:20512), $(date -u +%F)"
    echo "# $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr)"
    echo "# rounds $rounds, warmup $warmup + window $duration"
} | tee "$out"
for n in $sessions; do
    echo | tee -a "$out"
    echo "## meta, $n sessions" | tee -a "$out"
    "${loadgen[@]}" --workload meta --sessions "$n" --rounds "$rounds" --warmup "$warmup" --duration "$duration" \
        --targets "metrics-on=127.0.0.1:20511/@$on,metrics-off=127.0.0.1:20512/@$off" | sed -n '/^comparison:/,$p' | tee -a "$out"
done
echo "scrape size: $(wc -c < "$state/last-scrape.txt") bytes, $(grep -vc '^#' "$state/last-scrape.txt") samples" | tee -a "$out"
echo "results: $out"
