#!/usr/bin/env bash
# Issue 13's overhead check: the load generator's `meta` workload (OPEN+GETFH+GETATTR then CLOSE per op) against two
# Leasehold servers of the same build, one with metrics on (the default: OpenTelemetry's Prometheus exporter and the
# status page's listener attached, and /metrics scraped every SCRAPE seconds as Prometheus would) and one with
# Admin:Metrics=false (no listener: nothing is recorded).
#
# Two processes of one build differ by several per cent on this kind of machine (tiered JIT and dynamic PGO compile
# each process's hot paths its own way; an off-against-off run shows it: CONTROL=1). So every round starts a fresh pair
# of servers (started in alternating order), warms both (one unmeasured run each, then 40 scrapes of "on": a
# long-running server has long compiled its hot paths), measures both twice (on, off, off, on), and stops them; the
# result is the mean and median over ROUNDS such pairs of the on/off ratio of ops/s and of server CPU per COMPOUND.
#
#   bash bench/metrics-overhead.sh     # SESSIONS="1 8" ROUNDS=8 WARMUP=2s DURATION=6s WARM=3s SCRAPE=5 NO_BUILD=1 CONTROL=1 DURATIONS=false
# Results: stdout and STATE_DIR/metrics-overhead.txt (STATE_DIR default /tmp/leasehold-metrics-overhead).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
state=${STATE_DIR:-/tmp/leasehold-metrics-overhead}
sessions=${SESSIONS:-"1 8"}
rounds=${ROUNDS:-8}
warmup=${WARMUP:-2s}
duration=${DURATION:-6s}
warm=${WARM:-3s} # the unmeasured loaded run of each server before a round's measurement
scrape=${SCRAPE:-5}
control=${CONTROL:-0} # 1: the "on" server runs with metrics off too (the noise floor)
durations=${DURATIONS:-true} # false: the "on" server runs with Admin:OperationDurations=false (counters, no duration histogram)
if [ "${NO_BUILD:-0}" != 1 ]; then
    dotnet build -c Release "$repo/src/Leasehold.Host" -v q -nologo >/dev/null
    dotnet build -c Release "$repo/bench/Leasehold.LoadGen" -v q -nologo >/dev/null
fi
bin=$repo/src/Leasehold.Host/bin/Release/net10.0/leasehold
loadgen=(dotnet "$repo/bench/Leasehold.LoadGen/bin/Release/net10.0/Leasehold.LoadGen.dll")
scraper=(python3 "$repo/bench/scrape.py")
rm -rf "$state" && mkdir -p "$state"
on_metrics=true
[ "$control" = 1 ] && on_metrics=false

pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); }
trap cleanup EXIT

start_pair() { # $1: round; starts "on" at :20511 and "off" at :20512, the first started alternating
    rm -rf "$state/on" "$state/off" && mkdir -p "$state/on/export" "$state/off/export"
    local order=(on off); [ $(($1 % 2)) = 0 ] && order=(off on)
    for which in "${order[@]}"; do
        if [ "$which" = on ]; then
            LEASEHOLD_Admin__Metrics=$on_metrics LEASEHOLD_Admin__OperationDurations=$durations "$bin" serve "$state/on/export" --listen 127.0.0.1:20511 > "$state/on/server.log" 2>&1 &
            on=$!; pids+=("$on")
        else
            LEASEHOLD_Admin__Metrics=false "$bin" serve "$state/off/export" --listen 127.0.0.1:20512 > "$state/off/server.log" 2>&1 &
            off=$!; pids+=("$off")
        fi
    done
    for port in 20511 20512; do
        for _ in $(seq 1 150); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    done
    # Prometheus's part: a scrape of the "on" server every $scrape seconds while it runs, the warm-up included, on one
    # kept-alive connection (as Prometheus keeps its connection to a target).
    local sock=$state/on/.leasehold-state/admin.sock
    for _ in $(seq 1 150); do [ -S "$sock" ] && break; sleep 0.1; done
    "${scraper[@]}" "$sock" --every "$scrape" --out "$state/last-scrape.txt" &
    pids+=("$!")
    "${loadgen[@]}" --workload meta --sessions "$n" --rounds 1 --warmup 1s --duration "$warm" \
        --targets "on=127.0.0.1:20511/,off=127.0.0.1:20512/" > "$state/warm-$n-$1.txt"
    # A long-running server has long compiled its hot paths (tiered JIT), the scrape path among them: .NET recompiles a
    # method optimized after 30 calls, counted only once start-up's compiling has settled, so 40 scrapes now, not at start.
    "${scraper[@]}" "$sock" --count 40 || [ "$control" = 1 ] # (CONTROL: /metrics is not served)
    sleep 2 # background recompilation settles
}

out=$state/metrics-overhead.txt
{
    echo "# metrics on (:20511$([ "$control" = 1 ] && echo ', CONTROL: metrics off too')$([ "$durations" = false ] && echo ', Admin:OperationDurations=false'), scraped every ${scrape}s) against off (:20512), $(date -u +%F)"
    echo "# $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr)"
    echo "# $rounds rounds, each a fresh pair of servers warmed ($warm loaded each), then measured on, off, off, on; warmup $warmup + window $duration per run"
} | tee "$out"
for n in $sessions; do
    rows=$state/rounds-$n.txt
    : > "$rows"
    for r in $(seq 1 "$rounds"); do
        start_pair "$r"
        "${loadgen[@]}" --workload meta --sessions "$n" --rounds 2 --warmup "$warmup" --duration "$duration" \
            --targets "on=127.0.0.1:20511/@$on,off=127.0.0.1:20512/@$off" > "$state/loadgen-$n-$r.txt"
        # | label | ops/s per round | mean ops/s | median | p50 | p99 | p99.9 | CPU per compound | errors | ratio |
        awk -F'|' -v r="$r" '$2 ~ /^ (on|off) $/ { gsub(/ /, "", $2); v[$2] = $4 + 0; c[$2] = $9 + 0 }
            END { printf "%d %.0f %.0f %.1f %.1f\n", r, v["on"], v["off"], c["on"], c["off"] }' "$state/loadgen-$n-$r.txt" >> "$rows"
        cleanup
    done
    echo | tee -a "$out"
    echo "## meta, $n sessions: per round (fresh servers) mean ops/s and server CPU µs per COMPOUND" | tee -a "$out"
    echo "| round | on ops/s | off ops/s | on/off | on CPU | off CPU |" | tee -a "$out"
    echo "|---|---|---|---|---|---|" | tee -a "$out"
    awk '{ printf "| %d | %s | %s | %.3f | %s | %s |\n", $1, $2, $3, $2 / $3, $4, $5 }' "$rows" | tee -a "$out"
    python3 - "$rows" <<'PY' | tee -a "$out"
import statistics, sys
rows = [list(map(float, line.split())) for line in open(sys.argv[1]) if line.strip()]
on, off, con, coff = ([r[i] for r in rows] for i in (1, 2, 3, 4))
def line(what, a, b, unit):
    ratio, median = statistics.mean(a) / statistics.mean(b), statistics.median(x / y for x, y in zip(a, b))
    print(f"{what}: on {statistics.mean(a):.{unit}f}, off {statistics.mean(b):.{unit}f} (means): on/off {ratio:.3f} ({(ratio - 1) * 100:+.1f} %), "
          f"median of the rounds' ratios {median:.3f} ({(median - 1) * 100:+.1f} %)")
line("ops/s", on, off, 0)
line("CPU µs per COMPOUND", con, coff, 1)
PY
done
[ -f "$state/last-scrape.txt" ] && echo "scrape size: $(wc -c < "$state/last-scrape.txt") bytes, $(grep -vc '^#' "$state/last-scrape.txt") samples" | tee -a "$out"
echo "results: $out"
