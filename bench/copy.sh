#!/usr/bin/env bash
# COPY of a large file: server-side (NFSv4.2 COPY, the guest's copy_file_range) against read+write through the client,
# with a real Linux 6.1 client (../shared/linux-client, NET_MODE=nat, mounted with no vers=, so 4.2), on Leasehold and
# on NFS-Ganesha (4.2 enabled) in the same run, plus the host's own cp (copy_file_range on the export's filesystem) as
# the floor. Each server gets a fresh file of random bytes, made on the host; the guest times both ways ROUNDS times,
# checks each copy's checksum, and prints its mountstats (COPY, READ, WRITE).
#
#   bash bench/copy.sh            # SIZE_MIB=1024 ROUNDS=3 PORT=21530 GANESHA_PORT=20491 STATE_DIR=/tmp/leasehold-copy-bench
# Results go to stdout (one "RESULT server way seconds MiB/s" line per run) and to STATE_DIR/results.txt.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
client=${LINUX_CLIENT:-$repo/../shared/linux-client}
[ -d "$client" ] || client=/work/shared/linux-client
size_mib=${SIZE_MIB:-1024}
rounds=${ROUNDS:-3}
port=${PORT:-21530}
gport=${GANESHA_PORT:-20491}
dir=${STATE_DIR:-/tmp/leasehold-copy-bench}
bin=$repo/src/Leasehold.Host/bin/Release/net10.0/leasehold

[ "${NO_BUILD:-0}" = 1 ] || dotnet build -c Release "$repo/src/Leasehold.Host" -v q -nologo >/dev/null
rm -rf "$dir" && mkdir -p "$dir/leasehold" "$dir/share" "$dir/ganesha"
gcc -static -O2 -o "$dir/share/v42tool" "$repo/bench/linux-client/v42tool.c"
results=$dir/results.txt
: > "$results"

echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(findmnt -no FSTYPE -T "$dir") at $dir, kernel $(uname -r)" | tee -a "$results"

make_file() { head -c $((size_mib * 1024 * 1024)) /dev/urandom > "$1/src.bin"; sync; }

# The floor: the host's own copy_file_range on the same filesystem.
make_file "$dir/leasehold"
start=$(date +%s.%N); cp --reflink=never "$dir/leasehold/src.bin" "$dir/leasehold/host.copy"; sync; end=$(date +%s.%N)
awk -v s="$start" -v e="$end" -v m="$size_mib" 'BEGIN { printf "RESULT host cp(copy_file_range) %.2f %.0f\n", e - s, m / (e - s) }' | tee -a "$results"
rm -f "$dir/leasehold/host.copy"

cat > "$dir/share/guest.sh" <<EOF
i=1
while [ \$i -le $rounds ]; do
  for way in copy rwcopy; do
    rm -f dst.bin; sync
    \$H/v42tool \$way src.bin dst.bin | awk -v w=\$way -v m=$size_mib '{ printf "GUEST %s %s %.0f\n", w, \$5, m / \$5 }'
  done
  i=\$((i + 1))
done
\$H/v42tool sum src.bin; \$H/v42tool sum dst.bin
awk '/^ +(READ|WRITE|COPY):/' /proc/self/mountstats
EOF
sed -i '1i H=/host' "$dir/share/guest.sh"

run_guest() { # NAME PORT EXPORT_PATH
    local name=$1 p=$2 path=$3
    NET_MODE=nat MOUNT_OPTS=rw SHARE_DIR="$dir/share" TIMEOUT=${TIMEOUT:-3000} GUEST_HOSTNAME="copy-$name" \
        "$client/run-guest.sh" "$p" "$path" "sh /host/guest.sh" > "$dir/guest-$name.log" 2>&1 || true
    grep -E "^(GUEST|[0-9]+ [0-9a-f]{16}$| +(READ|WRITE|COPY):)" "$dir/guest-$name.log" | sed "s/^/$name: /"
    grep '^GUEST' "$dir/guest-$name.log" | awk -v n="$name" '{ printf "RESULT %s %s %s %s\n", n, $2, $3, $4 }' >> "$results"
}

# Leasehold.
"$bin" serve "$dir/leasehold" --listen "127.0.0.1:$port" > "$dir/leasehold.log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null || true; bash "$repo/bench/ganesha.sh" stop "$dir/ganesha" >/dev/null 2>&1 || true' EXIT
for _ in $(seq 1 150); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
run_guest leasehold "$port" /
kill -TERM $server; wait $server 2>/dev/null || true

# NFS-Ganesha 4.3 (Debian's), NFSv4.2 enabled, same kind of file.
mkdir -p "$dir/ganesha/export"
make_file "$dir/ganesha/export"
GANESHA_PORT=$gport GANESHA_MINOR_VERSIONS="1, 2" bash "$repo/bench/ganesha.sh" start "$dir/ganesha" >/dev/null
run_guest ganesha "$gport" /export
bash "$repo/bench/ganesha.sh" stop "$dir/ganesha" >/dev/null || true

echo "--- summary (seconds, MiB/s; mean of $rounds) ---" | tee -a "$results"
awk '/^RESULT/ { k = $2 " " $3; n[k]++; s[k] += $4; r[k] += $5 } END { for (k in n) printf "%-40s %6.2f s %6.0f MiB/s\n", k, s[k] / n[k], r[k] / n[k] }' "$results" | sort | tee -a "$results"
