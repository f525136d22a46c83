#!/usr/bin/env bash
# The delegation benchmarks of issue 7, as docs/benchmarks.md ("Delegations") reports them, and issue 9's local open
# ("Local access"). Builds Leasehold and the load generator in Release, starts two Leasehold servers on loopback
# (delegations on at :20492, off at :20493, each exporting a directory of its own under STATE_DIR), runs the chosen
# benchmarks, and stops the servers.
#
#   bash bench/delegations.sh [all|recall|fanout|memory|meta|meta-20k|local-open]...      (default: all)
#
# recall  (a) CB_RECALL latency, 10,000 outstanding read delegations held by 100 sessions, 1,000 recalls
# fanout  (b) 1,000 sessions hold a read delegation on one file; a writer opens it for write (10 rounds)
# memory  (c) server heap per outstanding delegation, 100,000 delegations, on vs off (in-process server)
# meta    (d) the meta workload, delegations on vs off vs NFS-Ganesha, alternating, 3 rounds, with the usual 256
#             files and again with 20,000 (where most OPENs are granted a delegation); needs root for
#             bench/ganesha.sh (which installs nfs-ganesha if missing); GANESHA=0 leaves Ganesha out.
#             meta-20k runs the second alone.
# local-open  a local process (the load generator) opens a read-delegated file for write, 1,000 tries, fresh files;
#             the holder returns the delegation at once; and the same open of undelegated files. Needs root: the
#             server guards delegations with kernel leases only then (otherwise it grants none and this reports so).
#             Files recalled in the last 30 s get no delegation: wait 30 s before running it again.
#
# STATE_DIR defaults to /tmp/leasehold-deleg-bench (env LEASEHOLD_BENCH_DIR). Output goes to stdout and
# STATE_DIR/results-*.txt. Everything binds 127.0.0.1 only. NO_BUILD=1 skips the Release builds.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
state=${LEASEHOLD_BENCH_DIR:-/tmp/leasehold-deleg-bench}
ganesha=${GANESHA:-1}
what=("$@")
[ ${#what[@]} -gt 0 ] || what=(all)
wants() { local w; for w in "${what[@]}"; do [ "$w" = all ] || [ "$w" = "$1" ] && return 0; done; return 1; }

if [ "${NO_BUILD:-0}" != 1 ]; then   # NO_BUILD=1: use the Release builds already there
    dotnet build -c Release "$repo/src/Leasehold.Host" -v q -nologo >/dev/null
    dotnet build -c Release "$repo/bench/Leasehold.LoadGen" -v q -nologo >/dev/null
fi
leasehold="$repo/src/Leasehold.Host/bin/Release/net10.0/leasehold"
loadgen=(dotnet "$repo/bench/Leasehold.LoadGen/bin/Release/net10.0/Leasehold.LoadGen.dll")

pids=()
stop_servers() {
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    pids=()
}
trap stop_servers EXIT

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start NAME PORT DELEGATIONS: a Leasehold server exporting STATE_DIR/NAME/export (its handle key beside it).
start() {
    local name=$1 port=$2 delegations=$3
    mkdir -p "$state/$name/export"
    # 1,000 holder sessions plus the writer is close to the default connection limit (1024).
    LEASEHOLD_Nfs4__Delegations=$delegations LEASEHOLD_Rpc__MaxConnections=4096 \
        "$leasehold" serve "$state/$name/export" --listen "127.0.0.1:$port" >"$state/$name/server.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do
        port_open "$port" && return 0
        sleep 0.1
    done
    echo "error: leasehold ($name) did not start; see $state/$name/server.log" >&2
    exit 1
}

run() {
    local name=$1
    shift
    echo "== $name: ${loadgen[*]} $*" | tee "$state/results-$name.txt"
    # A non-zero exit (3: some operations failed) is reported, and the other benchmarks still run.
    "${loadgen[@]}" "$@" | tee -a "$state/results-$name.txt" || echo "== $name: load generator exited with $?" | tee -a "$state/results-$name.txt"
}

mkdir -p "$state"
# Leasehold keeps a descriptor per open file: 100,000 opens (memory) need more than the usual 1024 or 20000.
ulimit -n 262144 2>/dev/null || ulimit -n "$(ulimit -Hn)"
start deleg-on 20492 true
start deleg-off 20493 false

on_pid=${pids[0]}
wants recall && run recall --server-pid "$on_pid" --server 127.0.0.1:20492 --path / --workload recall --sessions 100 --files-per-session 100 --recalls 1000 --warmup-recalls 100
wants fanout && run fanout --server-pid "$on_pid" --server 127.0.0.1:20492 --path / --workload fanout --sessions 1000 --rounds 10 --retry 1ms,10ms
wants local-open && run local-open --server-pid "$on_pid" --server 127.0.0.1:20492 --path / --workload local-open --export "$state/deleg-on/export" --sessions 1 --recalls 1000 --warmup-recalls 100
wants memory && run memory --workload deleg-memory --files 100000 --sessions 10 --rounds 2
# Opens held as well: a descriptor each, and the export caches more; as many as the descriptor limit allows.
wants memory && run memory-held --workload deleg-memory --files $(( $(ulimit -n) >= 220000 ? 100000 : $(ulimit -n) * 6 / 10 )) --sessions 10 --rounds 2 --keep-opens true
if wants meta || wants meta-20k; then
    targets="deleg-on=127.0.0.1:20492/,deleg-off=127.0.0.1:20493/"
    if [ "$ganesha" = 1 ]; then
        bash "$repo/bench/ganesha.sh" start
        targets="$targets,ganesha=127.0.0.1:20490/export"
    fi
    if wants meta; then
        run meta --targets "$targets" --workload meta --sessions 8 --rounds 3 --warmup 5s --duration 20s
    fi
    # The same with 20,000 files: most OPENs are a session's first of their file, so most are granted a delegation.
    run meta-20k --targets "$targets" --workload meta --sessions 8 --rounds 3 --warmup 5s --duration 20s --files 20000 --dir leasehold-loadgen-20k
    if [ "$ganesha" = 1 ]; then
        bash "$repo/bench/ganesha.sh" stop
    fi
fi
