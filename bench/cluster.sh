#!/usr/bin/env bash
# The cluster benchmarks of docs/benchmarks.md ("Cluster"), as one command:
#
#   bash bench/cluster.sh
#
# Starts a 3-member etcd on loopback (Debian's etcd-server), two Leasehold nodes over ONE export ("a" on
# 127.0.0.1:20511, "b" on :20512, each with its own state directory) and a plain single server on its own export
# (:20513), all in Release, and measures:
# in this order (the node-local comparison first, while node a has served nothing else):
#   1. OPEN/CLOSE throughput on files only one node uses (`meta`), cluster node a against the single server,
#      alternating rounds in the same run (`--targets`), SESSIONS ("1 8");
#   2. cross-node recall latency: holders on node a keep read delegations; a writer opens each file for write through
#      node b, which asks a (through etcd) for the file's token; a recalls its client's delegation (load generator
#      `recall --writer`), RECALLS (500) measured recalls; and the same with the writer on node a, for comparison;
#   3. token acquisitions per second through etcd (`tokens`: an in-process node acquiring rights on distinct files,
#      with TOKEN_CONCURRENCY ("1 8 64") in flight).
# Delegations are ExclusiveExport on every server: the nodes share one machine, and kernel leases would add a second
# recall path between them. Results: stdout and STATE_DIR/cluster-*.txt (STATE_DIR default /tmp/leasehold-cluster).
# NO_BUILD=1 skips the builds. Needs etcd (apt-get install etcd-server).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
state=${LEASEHOLD_BENCH_DIR:-/tmp/leasehold-cluster}
recalls=${RECALLS:-500}
sessions=${SESSIONS:-1 8}
rounds=${ROUNDS:-3}
warmup=${WARMUP:-3s}
duration=${DURATION:-10s}
token_concurrency=${TOKEN_CONCURRENCY:-1 8 64}

command -v etcd >/dev/null || { echo "error: etcd is not installed (apt-get install etcd-server)" >&2; exit 2; }
if [ "${NO_BUILD:-0}" != 1 ]; then
    dotnet build -c Release "$repo/src/Leasehold.Host" -v q -nologo >/dev/null
    dotnet build -c Release "$repo/bench/Leasehold.LoadGen" -v q -nologo >/dev/null
fi
leasehold="$repo/src/Leasehold.Host/bin/Release/net10.0/leasehold"
loadgen=(dotnet "$repo/bench/Leasehold.LoadGen/bin/Release/net10.0/Leasehold.LoadGen.dll")

pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # PORT LOG
    for _ in $(seq 1 150); do port_open "$1" && return 0; sleep 0.1; done
    echo "error: nothing listens on $1; see $2" >&2; exit 1
}

rm -rf "$state" && mkdir -p "$state/shared" "$state/single" "$state/nodes"
cluster=
endpoints=
for i in 0 1 2; do
    cluster+="${cluster:+,}m$i=http://127.0.0.1:$((23800 + i))"
    endpoints+="${endpoints:+,}http://127.0.0.1:$((23790 + i))"
done
for i in 0 1 2; do
    etcd --name "m$i" --data-dir "$state/etcd-$i" \
        --listen-client-urls "http://127.0.0.1:$((23790 + i))" --advertise-client-urls "http://127.0.0.1:$((23790 + i))" \
        --listen-peer-urls "http://127.0.0.1:$((23800 + i))" --initial-advertise-peer-urls "http://127.0.0.1:$((23800 + i))" \
        --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "lh-bench-$$" \
        --logger zap --log-level warn >"$state/etcd-$i.log" 2>&1 &
    pids+=($!)
done
for i in 0 1 2; do wait_port $((23790 + i)) "$state/etcd-$i.log"; done

node_pids=()
start() { # NAME PORT EXPORT [cluster args...]
    local name=$1 port=$2 export=$3
    shift 3
    mkdir -p "$state/nodes/$name"
    LEASEHOLD_Export__StateDirectory="$state/nodes/$name/state" LEASEHOLD_Nfs4__Delegations=ExclusiveExport \
        "$leasehold" serve "$export" --listen "127.0.0.1:$port" "$@" >"$state/nodes/$name/server.log" 2>&1 &
    pids+=($!)
    node_pids+=($!)
    wait_port "$port" "$state/nodes/$name/server.log"
}
start a 20511 "$state/shared" --cluster "etcd=$endpoints" --node a
start b 20512 "$state/shared" --cluster "etcd=$endpoints" --node b
start single 20513 "$state/single"
pid_a=${node_pids[0]} pid_single=${node_pids[2]}

out="$state/cluster-$(date -u +%Y%m%d-%H%M%S).txt"
{
    echo "# bench/cluster.sh on $(hostname), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$repo" rev-parse --short HEAD)"
    echo "# etcd $(etcd --version | head -1 | awk '{print $3}'), 3 members on loopback"
    echo
    for s in $sessions; do
        echo
        echo "## 1. meta (OPEN+GETFH+GETATTR, CLOSE) on files one node uses, $s sessions: cluster node vs single server"
        "${loadgen[@]}" --targets "cluster=127.0.0.1:20511/@$pid_a,single=127.0.0.1:20513/@$pid_single" \
            --workload meta --sessions "$s" --rounds "$rounds" --warmup "$warmup" --duration "$duration" --dir "meta-$s"
    done
    echo "## 2. recall latency, writer on node b (cross-node)"
    "${loadgen[@]}" --server 127.0.0.1:20511 --path / --workload recall --writer 127.0.0.1:20512 \
        --sessions 10 --files-per-session 10 --recalls "$recalls" --warmup-recalls 50 --dir recall-cross --server-pid "$pid_a"
    echo
    echo "## 2b. recall latency, writer on node a (same node)"
    "${loadgen[@]}" --server 127.0.0.1:20511 --path / --workload recall \
        --sessions 10 --files-per-session 10 --recalls "$recalls" --warmup-recalls 50 --dir recall-local --server-pid "$pid_a"
    for c in $token_concurrency; do
        echo
        echo "## 3. token acquisitions through etcd, $c in flight"
        "${loadgen[@]}" --workload tokens --etcd "$endpoints" --sessions "$c" --warmup "$warmup" --duration "$duration"
    done
} 2>&1 | tee "$out"
echo "results: $out"
