#!/usr/bin/env bash
# The performance comparison with NFS-Ganesha, as docs/loadgen.md reports it: one command.
#
#   bash bench/compare.sh                 all conditions, workloads and session counts
#
# Builds Leasehold and the load generator in Release, starts Leasehold (127.0.0.1:20492, its defaults; as root it
# guards delegations with kernel leases) and NFS-Ganesha (bench/ganesha.sh, 127.0.0.1:20490), and runs the load
# generator against both, alternating (`--targets`), for every combination of:
#   CONDITIONS  "idle busy"       busy: `stress-ng --cpu 1` keeps one core busy for the whole stretch
#   WORKLOADS   "meta read seqread seqwrite"   see docs/loadgen.md for what one op is
#   SESSIONS    "1 8 64"          for meta and read
#   SEQ_SESSIONS "1 4"            for seqread and seqwrite (a 256 MiB file per session, 1 MiB per op)
# with ROUNDS (3) rounds each of WARMUP (3s) + DURATION (10s), about 35 minutes in all. The load generator is given both servers' process
# ids, so the tables carry each server's CPU time per COMPOUND. Environment variables override the lists above;
# LEASEHOLD_ONLY=1 leaves Ganesha out; NO_BUILD=1 skips the builds; BASELINE=DIR adds a second Leasehold built from
# DIR (another checkout) at :20493 as "baseline", to measure a change. Results: stdout and STATE_DIR/compare-*.txt,
# STATE_DIR (default /tmp/leasehold-compare) also holds the exports and logs. Needs root (Ganesha, stress-ng).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
state=${LEASEHOLD_BENCH_DIR:-/tmp/leasehold-compare}
conditions=${CONDITIONS:-idle busy}
workloads=${WORKLOADS:-meta read seqread seqwrite}
sessions=${SESSIONS:-1 8 64}
seq_sessions=${SEQ_SESSIONS:-1 4}
rounds=${ROUNDS:-3}
warmup=${WARMUP:-3s}
duration=${DURATION:-10s}

build() {
    dotnet build -c Release "$1/src/Leasehold.Host" -v q -nologo >/dev/null
}
if [ "${NO_BUILD:-0}" != 1 ]; then
    build "$repo"
    [ -z "${BASELINE:-}" ] || build "$BASELINE"
    dotnet build -c Release "$repo/bench/Leasehold.LoadGen" -v q -nologo >/dev/null
fi
loadgen=(dotnet "$repo/bench/Leasehold.LoadGen/bin/Release/net10.0/Leasehold.LoadGen.dll")
if ! command -v stress-ng >/dev/null && [[ " $conditions " == *" busy "* ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stress-ng >/dev/null
fi

pids=()
stress=
cleanup() {
    [ -z "$stress" ] || kill -TERM "$stress" 2>/dev/null || true
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    [ "${LEASEHOLD_ONLY:-0}" = 1 ] || bash "$repo/bench/ganesha.sh" stop "$state/ganesha" >/dev/null || true
}
trap cleanup EXIT

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

started=
start_leasehold() { # NAME REPO PORT; sets $started to the server's pid
    local dir=$state/$1
    rm -rf "$dir" && mkdir -p "$dir/export"
    "$2/src/Leasehold.Host/bin/Release/net10.0/leasehold" serve "$dir/export" --listen "127.0.0.1:$3" >"$dir/server.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do port_open "$3" && break; sleep 0.1; done
    port_open "$3" || { echo "error: $1 did not start; see $dir/server.log" >&2; exit 1; }
    started=${pids[-1]}
}

mkdir -p "$state"
start_leasehold leasehold "$repo" 20492
targets="leasehold=127.0.0.1:20492/@$started"
if [ -n "${BASELINE:-}" ]; then
    start_leasehold baseline "$BASELINE" 20493
    targets="$targets,baseline=127.0.0.1:20493/@$started"
fi
if [ "${LEASEHOLD_ONLY:-0}" != 1 ]; then
    rm -rf "$state/ganesha/export"
    bash "$repo/bench/ganesha.sh" start "$state/ganesha" >/dev/null
    targets="$targets,ganesha=127.0.0.1:20490/export@$(cat "$state/ganesha/ganesha.pid")"
fi

out=$state/compare-$(date -u +%Y%m%dT%H%M%SZ).txt
{
    echo "# bench/compare.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$repo" rev-parse --short HEAD)"
    echo "# $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/{print $2}') GiB," \
        "$(uname -sr), .NET $(dotnet --list-runtimes | awk '/NETCore.App/{v=$2} END{print v}')"
    echo "# rounds $rounds, warmup $warmup + window $duration, targets $targets"
} | tee "$out"
for condition in $conditions; do
    if [ "$condition" = busy ]; then
        stress-ng --cpu 1 --quiet &
        stress=$!
    fi
    for workload in $workloads; do
        counts=$sessions
        [[ $workload != seq* ]] || counts=$seq_sessions
        for n in $counts; do
            echo | tee -a "$out"
            echo "## $condition, $workload, $n sessions" | tee -a "$out"
            "${loadgen[@]}" --workload "$workload" --sessions "$n" --rounds "$rounds" --warmup "$warmup" \
                --duration "$duration" --targets "$targets" | tee "$state/last-run.txt" |
                sed -n '/^comparison:/,$p' | tee -a "$out"
        done
    done
    if [ -n "$stress" ]; then
        kill -TERM "$stress" 2>/dev/null || true
        wait "$stress" 2>/dev/null || true
        stress=
    fi
done
echo "results: $out"
