#!/usr/bin/env bash
# What dd gets on local files, for the seqread/seqwrite workloads of the load generator to be compared with
# (docs/loadgen.md). Same sizes as the load generator's defaults: a file of 256 MiB per stream, 1 MiB blocks.
#
#   bash bench/dd-baseline.sh [--dir DIR] [--file-size 256M] [--bs 1M] [--streams 1] [--runs 3]
#
# DIR (default /tmp/lio-dd) should be on the same file system as the servers' exports. Each of --streams dd's works
# on a file of its own, all at once (like --sessions); the MiB/s reported is their sum (total bytes over the slowest
# stream's time), per run, then the median of --runs. Measured, in this order:
#   write, page cache      dd if=/dev/zero of=F bs=BS conv=notrunc            rewrite in place, no sync
#   write + fdatasync      dd if=/dev/zero of=F bs=BS conv=notrunc,fdatasync   what seqwrite's COMMITs make the server do
#   read, page cache       dd if=F of=/dev/null bs=BS, the file read once before: the fair comparison with a server
#                          that reads from the page cache too (seqread's files are small enough to stay cached)
#   read, from disk        the same after dropping this file's pages only (dd iflag=nocache count=0, i.e.
#                          posix_fadvise DONTNEED): no machine-wide drop_caches, which would disturb other users
# Files are made once (random data) and kept; remove DIR to get rid of them. Needs GNU dd.
set -euo pipefail
export LC_ALL=C

dir=/tmp/lio-dd file_size=256M bs=1M streams=1 runs=3
while [[ $# -gt 0 ]]; do
    case $1 in
        --dir) dir=$2 ;;
        --file-size) file_size=$2 ;;
        --bs) bs=$2 ;;
        --streams) streams=$2 ;;
        --runs) runs=$2 ;;
        *) echo "usage: $0 [--dir DIR] [--file-size 256M] [--bs 1M] [--streams 1] [--runs 3]" >&2; exit 2 ;;
    esac
    shift 2
done

bytes() { numfmt --from=iec "$1"; }
size_b=$(bytes "$file_size") bs_b=$(bytes "$bs")
(( size_b % bs_b == 0 )) || { echo "--file-size must be a multiple of --bs" >&2; exit 2; }
count=$(( size_b / bs_b ))
mkdir -p "$dir"
for ((i = 0; i < streams; i++)); do
    f=$dir/dd-$i
    if [[ ! -f $f || $(stat -c %s "$f") -ne $size_b ]]; then
        head -c "$size_b" /dev/urandom > "$f"
        sync "$f"
    fi
done

# One measurement: runs "$@" once per stream (with {} replaced by the stream's file) all at once; prints MiB/s.
measure() {
    local start end i pids=()
    start=$(date +%s.%N)
    for ((i = 0; i < streams; i++)); do
        eval "${*//\{\}/$dir/dd-$i}" 2>/dev/null &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid"; done
    end=$(date +%s.%N)
    awk -v b=$(( size_b * streams )) -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", b / (e - s) / 1048576 }'
}

median() { tr ' ' '\n' | sort -g | awk '{ v[NR] = $1 } END { printf "%.1f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

row() {
    local name=$1 prepare=$2 command=$3 results=() r
    for ((r = 0; r < runs; r++)); do
        [[ -n $prepare ]] && measure "$prepare" > /dev/null
        results+=("$(measure "$command")")
    done
    printf '| %s | %s | %s |\n' "$name" "${results[*]}" "$(echo "${results[*]}" | median)"
}

echo "dd baseline: $streams stream(s) x $file_size in $bs blocks, $runs runs each, in $dir ($(df --output=fstype "$dir" | tail -1)); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| what | MiB/s per run | median MiB/s |"
echo "|---|---|---|"
row "write, page cache (conv=notrunc)" "" "dd if=/dev/zero of={} bs=$bs count=$count conv=notrunc"
row "write + fdatasync (conv=notrunc,fdatasync)" "" "dd if=/dev/zero of={} bs=$bs count=$count conv=notrunc,fdatasync"
row "read, page cache" "dd if={} of=/dev/null bs=$bs" "dd if={} of=/dev/null bs=$bs"
row "read, from disk (file's pages dropped)" "dd if={} iflag=nocache count=0" "dd if={} of=/dev/null bs=$bs"
