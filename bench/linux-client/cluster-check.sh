#!/usr/bin/env bash
# Issue 11 with a real Linux 6.1 kernel client: two Leasehold nodes over ONE export, etcd (3 members on loopback) as
# the grant authority, one guest of ../shared/linux-client (NET_MODE=nat, vers=4.1) that mounts node a at /mnt/nfs
# (run-guest.sh's mount; /mnt/a links to it) and node b at /mnt/b, with the kernel's nfs4 tracepoints on.
#   case 1: open file1.txt read-only through a and hold it (read delegation from a), write it through b: a must send
#           CB_RECALL, the write through b must succeed, and a new read through a must see the new content;
#   case 2: open file2.txt for write through a and hold it (write delegation from a), write through the held fd, then
#           stat (size) through b: a must recall, and b must report the size the client wrote through a.
# Delegations are ExclusiveExport (both nodes share this machine; kernel leases would be a second recall path).
# Prints the guest's trace lines and the nodes' log lines about recalls and tokens; kills etcd and the nodes at the end.
#
# Nodes log at Debug (token and CB_RECALL events are Debug); Cluster:TokenLinger is LINGER seconds (default 5, the
# product default is 30) so that the end of the run shows the idle files' etcd keys going away.
#
#   bash bench/linux-client/cluster-check.sh     # PA=21511 PB=21512 ETCD_BASE=24790 LINGER=5 STATE_DIR=/tmp/leasehold-cluster-check
# Exit status: the guest's (0 = both cases passed; 1 = a check failed, see CASE1/CASE2 FAIL lines; see run-guest.sh).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
client=${LINUX_CLIENT:-$repo/../shared/linux-client}
[ -d "$client" ] || client=/work/shared/linux-client
linger=${LINGER:-5}
pa=${PA:-21511} pb=${PB:-21512} etcd_base=${ETCD_BASE:-24790}
dir=${STATE_DIR:-/tmp/leasehold-cluster-check}
bin=$repo/src/Leasehold.Host/bin/Release/net10.0/leasehold

command -v etcd >/dev/null || { echo "error: etcd is not installed (apt-get install etcd-server)" >&2; exit 2; }
[ "${NO_BUILD:-0}" = 1 ] || dotnet build -c Release "$repo/src/Leasehold.Host" -v q -nologo >/dev/null
rm -rf "$dir" && mkdir -p "$dir/shared"

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
for p in "$pa" "$pb" $(seq "$etcd_base" $((etcd_base + 2))) $(seq $((etcd_base + 10)) $((etcd_base + 12))); do
    ! port_open "$p" || { echo "error: port $p is already in use" >&2; exit 1; }
done

cluster= endpoints=
for i in 0 1 2; do
    cluster+="${cluster:+,}m$i=http://127.0.0.1:$((etcd_base + 10 + i))"
    endpoints+="${endpoints:+,}http://127.0.0.1:$((etcd_base + i))"
done
for i in 0 1 2; do
    etcd --name "m$i" --data-dir "$dir/etcd-$i" \
        --listen-client-urls "http://127.0.0.1:$((etcd_base + i))" --advertise-client-urls "http://127.0.0.1:$((etcd_base + i))" \
        --listen-peer-urls "http://127.0.0.1:$((etcd_base + 10 + i))" --initial-advertise-peer-urls "http://127.0.0.1:$((etcd_base + 10 + i))" \
        --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "lh-linux-check-$$" \
        --logger zap --log-level warn >"$dir/etcd-$i.log" 2>&1 &
    pids+=($!)
done
for i in 0 1 2; do wait_port $((etcd_base + i)) "$dir/etcd-$i.log"; done
for _ in $(seq 1 100); do ETCDCTL_API=3 etcdctl --endpoints "$endpoints" endpoint health >/dev/null 2>&1 && break; sleep 0.2; done
ETCDCTL_API=3 etcdctl --endpoints "$endpoints" endpoint health >/dev/null 2>&1 || { echo "error: etcd is not healthy" >&2; exit 1; }

echo "v1 written on the host" >"$dir/shared/file1.txt"
echo "w0" >"$dir/shared/file2.txt"
start() { # NAME PORT
    mkdir -p "$dir/$1"
    LEASEHOLD_Export__StateDirectory="$dir/$1/state" LEASEHOLD_Nfs4__Delegations=ExclusiveExport \
    LEASEHOLD_Logging__LogLevel__Default=Debug LEASEHOLD_Cluster__TokenLinger="${linger}s" \
        "$bin" serve "$dir/shared" --listen "127.0.0.1:$2" --cluster "etcd=$endpoints" --node "$1" >"$dir/$1/server.log" 2>&1 &
    pids+=($!)
    wait_port "$2" "$dir/$1/server.log"
    for _ in $(seq 1 100); do grep -q "Joined the cluster" "$dir/$1/server.log" && break; sleep 0.1; done
    grep -q "Joined the cluster" "$dir/$1/server.log" || { echo "error: node $1 did not join; see $dir/$1/server.log" >&2; exit 1; }
}
start a "$pa"
start b "$pb"
echo "# $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git -C "$repo" rev-parse --short HEAD), etcd $(etcd --version | head -1 | awk '{print $3}') x3 on :$etcd_base-$((etcd_base + 2))"
echo "# node a 127.0.0.1:$pa, node b 127.0.0.1:$pb, one export $dir/shared, Delegations=ExclusiveExport, TokenLinger ${linger}s"

{
    echo "PB=$pb"
    cat <<'GUEST'
up() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(up)" 'BEGIN{printf "%.2f", b-a}'; }
TR=/sys/kernel/tracing
mount -t tracefs nodev $TR 2>/dev/null
for e in nfs4_set_delegation nfs4_cb_recall nfs4_cb_getattr nfs4_cb_sequence nfs4_delegreturn nfs4_delegreturn_exit \
         nfs4_open_file nfs4_close nfs4_reclaim_delegation nfs4_state_mgr nfs4_lookup nfs4_getattr; do
  [ -e $TR/events/nfs4/$e/enable ] && echo 1 > $TR/events/nfs4/$e/enable
done
echo 1 > $TR/tracing_on
trace() { grep -v '^#' $TR/trace | sed 's/^ *\(.*\)-[0-9][0-9]* *\[[0-9]*\] [^ ]* *\([0-9.]*\): /  \2 \1: /' | cut -c1-260; echo > $TR/trace; }
# the kernel's per-mount op counters (/proc/self/mountstats)
cnt() { awk -v m="$1" -v op="$2:" '$1=="device" && $5==m {on=1; next} on && $1=="device" {on=0} on && $1==op {print $2; exit}' /proc/self/mountstats; }
ops() { echo "  counters $1: OPEN=$(cnt $1 OPEN) CLOSE=$(cnt $1 CLOSE) DELEGRETURN=$(cnt $1 DELEGRETURN) GETATTR=$(cnt $1 GETATTR) LOOKUP=$(cnt $1 LOOKUP) WRITE=$(cnt $1 WRITE)"; }
# wait until an event shows up in the trace buffer (builtins only; up to $2 s)
await() { i=0; while [ $i -lt $(($2 * 10)) ]; do grep -q "$1" $TR/trace && return 0; sleep 0.1; i=$((i+1)); done; return 1; }

ln -s "$MNT" /mnt/a
mkdir -p /mnt/b
T=$(up)
mount.nfs4 "$NFS_SERVER:/" /mnt/b -o "vers=4.1,port=$PB" || { echo "MOUNT B FAILED"; exit 98; }
echo "mounted node b in $(since $T) s: $(grep ' /mnt/b ' /proc/mounts)"
grep nfs4 /proc/mounts
echo "--- mounts' trace:"; trace
fail=0

echo "=== case 1: read delegation from node a, write through node b"
exec 3< /mnt/a/file1.txt
echo "--- opened /mnt/a/file1.txt read-only (fd 3 held); content: $(cat <&3)"
ops /mnt/nfs; echo "  trace:"; trace
T=$(up)
echo "new content written through node b" > /mnt/b/file1.txt; rc=$?
echo "--- write through /mnt/b: rc=$rc after $(since $T) s"
[ $rc = 0 ] || fail=1
await nfs4_delegreturn_exit 10 || echo "  (no nfs4_delegreturn_exit within 10 s)"
ops /mnt/nfs; ops /mnt/b; echo "  trace:"; trace
T=$(up)
c=$(cat /mnt/a/file1.txt)
echo "--- cat /mnt/a/file1.txt ($(since $T) s): $c"
[ "$c" = "new content written through node b" ] || { echo "CASE1 FAIL: stale content through node a"; fail=1; }
echo "--- read on the held fd 3 (from its offset 23, after the first read): $(cat <&3)"
exec 3<&-
echo "--- closed fd 3"; ops /mnt/nfs; echo "  trace:"; trace
# control: an OPEN through b with no open of a's client on the file any more
T=$(up); c=$(cat /mnt/b/file1.txt); echo "--- cat /mnt/b/file1.txt after fd 3 closed ($(since $T) s): $c"; trace >/dev/null

echo "=== case 2: write delegation from node a, stat through node b"
exec 4>> /mnt/a/file2.txt
echo "--- opened /mnt/a/file2.txt for append (fd 4 held)"
ops /mnt/nfs; echo "  trace:"; trace
printf 'written through node a, held\n' >&4
echo "--- wrote 29 bytes through fd 4 (expected size 32)"; ops /mnt/nfs; echo "  trace:"; trace
T=$(up)
s=$(stat -c %s /mnt/b/file2.txt); rc=$?
echo "--- stat -c %s /mnt/b/file2.txt: rc=$rc size=$s after $(since $T) s"
[ "$rc" = 0 ] && [ "$s" = 32 ] || { echo "CASE2 FAIL: size through node b is '$s', expected 32"; fail=1; }
await nfs4_delegreturn_exit 10 || echo "  (no nfs4_delegreturn_exit within 10 s)"
ops /mnt/nfs; ops /mnt/b; echo "  trace:"; trace
# OPENs through b while a's client still holds its write open (each asks a for a read delegation right it cannot give)
for k in 1 2; do T=$(up); c=$(cat /mnt/b/file2.txt); echo "--- cat /mnt/b/file2.txt #$k ($(since $T) s): $(echo "$c" | tr '\n' '|')"; done
exec 4>&-
echo "--- closed fd 4"; ops /mnt/nfs; echo "  trace:"; trace
umount /mnt/b || echo "umount /mnt/b failed"
echo "CLUSTER_CHECK fail=$fail"
exit $fail
GUEST
} >"$dir/guest.sh"

set +e
NET_MODE=nat TIMEOUT=${TIMEOUT:-300} GUEST_HOSTNAME=lhcluster bash "$client/run-guest.sh" "$pa" / "@$dir/guest.sh" >"$dir/guest.log" 2>&1
grc=$?
set -e
echo "## guest console (rc=$grc)"
sed -n '/mount: mount.nfs4/,$p' "$dir/guest.log" | sed 's/\r$//'
for n in a b; do
    echo
    echo "## node $n: log lines about the cluster, tokens, recalls, callbacks, delegations"
    grep -n -i -E "cluster|token|rights|recall|callback|back channel|deleg|CB_" "$dir/$n/server.log" | cut -c1-300 | head -80 || true
done
echo
echo "## etcd keys right after the guest powered off (both nodes still up)"
ETCDCTL_API=3 etcdctl --endpoints "$endpoints" get "" --prefix --keys-only 2>&1 | grep . | head -40 || true
sleep $((linger * 2 + 2))
echo "## etcd keys $((linger * 2 + 2)) s later (idle files' tok and open keys go after TokenLinger)"
ETCDCTL_API=3 etcdctl --endpoints "$endpoints" get "" --prefix --keys-only 2>&1 | grep . | head -40 || true
echo
echo "## host: final file contents"
for f in file1.txt file2.txt; do echo "$f: $(tr '\n' '|' <"$dir/shared/$f")"; done
exit $grc
