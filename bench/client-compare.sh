#!/usr/bin/env bash
# A Linux kernel client (../shared/linux-client, qemu, Debian 6.1 kernel, NET_MODE=nat) against Leasehold and
# NFS-Ganesha, alternating, as docs/loadgen.md reports it: the basic workload (../shared/linux-client/workloads/
# basic.sh) and bench/linux-client/smallfiles.sh (untar a tree of FILES small files, cp -a, checksums after
# dropping the client's caches, rm -rf).
#
#   bash bench/client-compare.sh            ROUNDS (2) rounds, each server once per round
#
# Environment: FILES (4000) files of 100 B to 16 KiB (fixed seed) in directories of 100; ROUNDS; NO_BUILD=1;
# LINUX_CLIENT (../shared/linux-client relative to the repository); STATE_DIR (default /tmp/leasehold-client-compare).
# Prints every RESULT and OPS line ("SERVER ROUND WORKLOAD RESULT|OPS ...") per server and round, then a table of
# medians per workload step. Needs root (qemu, Ganesha).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
client=${LINUX_CLIENT:-$repo/../shared/linux-client}
state=${STATE_DIR:-/tmp/leasehold-client-compare}
files=${FILES:-4000}
rounds=${ROUNDS:-2}
[ -x "$client/run-guest.sh" ] || { echo "error: no Linux client harness at $client (LINUX_CLIENT=...)" >&2; exit 1; }

[ "${NO_BUILD:-0}" = 1 ] || dotnet build -c Release "$repo/src/Leasehold.Host" -v q -nologo >/dev/null
mkdir -p "$state/share"

# The tree: deterministic, made once per FILES.
if [ ! -f "$state/share/tree-$files.tar" ]; then
    rm -rf "$state/src" && mkdir -p "$state/src"
    python3 - "$state/src/tree" "$files" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(8)
for i in range(n):
    d = os.path.join(root, f"d{i // 100:03d}")
    os.makedirs(d, exist_ok=True)
    size = int(rng.lognormvariate(7.5, 1.0)) % 16384 + 100
    with open(os.path.join(d, f"f{i:05d}.txt"), "wb") as f:
        f.write(bytes(rng.getrandbits(8) for _ in range(size)))
PY
    tar -C "$state/src" -cf "$state/share/tree-$files.tar" tree
    (cd "$state/src" && find tree -type f -print0 | xargs -0 md5sum | sort) > "$state/share/tree-$files.md5"
fi
ln -sf "tree-$files.tar" "$state/share/tree.tar"
ln -sf "tree-$files.md5" "$state/share/tree.md5"
cp "$repo/bench/linux-client/smallfiles.sh" "$state/share/"

pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    bash "$repo/bench/ganesha.sh" stop "$state/ganesha" >/dev/null 2>&1 || true
}
trap cleanup EXIT
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

rm -rf "$state/leasehold" && mkdir -p "$state/leasehold/export"
"$repo/src/Leasehold.Host/bin/Release/net10.0/leasehold" serve "$state/leasehold/export" --listen 127.0.0.1:20496 \
    >"$state/leasehold/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do port_open 20496 && break; sleep 0.1; done
rm -rf "$state/ganesha/export"
GANESHA_PORT=20491 bash "$repo/bench/ganesha.sh" start "$state/ganesha" >/dev/null

out=$state/client-compare-$(date -u +%Y%m%dT%H%M%SZ).txt
echo "# bench/client-compare.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$repo" rev-parse --short HEAD), $files files" | tee "$out"
for round in $(seq 1 "$rounds"); do
    for server in leasehold ganesha; do
        if [ $server = leasehold ]; then port=20496 path=/; else port=20491 path=/export; fi
        for workload in basic smallfiles; do
            script=$client/workloads/basic.sh
            [ $workload = basic ] || script=$state/share/smallfiles.sh
            echo "## round $round, $server, $workload" | tee -a "$out"
            NET_MODE=nat TIMEOUT=1800 SHARE_DIR=$state/share "$client/run-guest.sh" $port $path "@$script" \
                > "$state/last-guest.log" 2>&1 || echo "guest exit $?" | tee -a "$out"
            grep -E '^(RESULT|OPS) ' "$state/last-guest.log" | sed "s/^/$server $round $workload /" | tee -a "$out" || true
            # basic.sh prints its whole run's operations as "  OP  ops=N"
            grep -E '^ +[A-Z_]+:? +ops=[0-9]+' "$state/last-guest.log" |
                awk -v p="$server $round $workload OPS total" '{sub(":", "", $1); sub("ops=", "", $2); print p, $1 "=" $2}' | tee -a "$out" || true
        done
    done
done

echo
echo "| workload step | leasehold (median s) | ganesha (median s) | leasehold / ganesha |" | tee -a "$out"
echo "|---|---|---|---|" | tee -a "$out"
awk '$4=="RESULT" { split($5, kv, "="); if (kv[1] ~ /_s$/) { k = $3 " " kv[1]; v[k "," $1] = v[k "," $1] " " kv[2]; steps[k] = 1 } }
     function median(list,   a, n, i, j, t) { n = split(list, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
                                          return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
     END { for (s in steps) { l = median(v[s ",leasehold"]); g = median(v[s ",ganesha"]); printf "| %s | %.2f | %.2f | %.2f |\n", s, l, g, (g > 0 ? l / g : 0) } }' "$out" | sort | tee -a "$out"
echo "results: $out"
