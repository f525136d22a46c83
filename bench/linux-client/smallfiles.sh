#!/bin/sh
# Guest side of bench/client-compare.sh (busybox sh, cwd = the NFS mount): unpack a tree of small files from
# /host/tree.tar, copy it with cp -a, checksum the copy (after dropping the client's caches, so the server is asked),
# and remove both; then create, rename and remove 1,000 files one by one (the basic workload's small-file steps). Prints "RESULT name=seconds" lines and, per step, the
# NFS operations the client sent (from /proc/self/mountstats).
t() { cut -d' ' -f1 /proc/uptime; }
el() { awk -v a="$1" -v b="$(t)" 'BEGIN{printf "%.2f", b-a}'; }
ops() {  # "OP count" for every operation sent so far on this mount
  awk -v m="$MNT" '$1=="device" && $5==m {on=1; next} on && $1=="device" {on=0}
       on && /per-op statistics/ {p=1; next} on && p && NF>1 {sub(":", "", $1); print $1, $2}' /proc/self/mountstats
}
step() {  # step NAME COMMAND...: runs it, prints its time and the operations it caused
  name=$1; shift
  ops > /tmp/ops.before
  T=$(t); "$@"; rc=$?
  echo "RESULT ${name}_s=$(el $T) rc=$rc"
  ops | awk -v s="$name" 'NR==FNR {b[$1]=$2; next} $2-b[$1] > 0 {printf "OPS %s %s=%d\n", s, $1, $2-b[$1]}' /tmp/ops.before -
}
W=smallfiles.$$
mkdir "$W" && cd "$W" || exit 1
TOTAL=$(t)
step untar tar xf /host/tree.tar
step cp_a cp -a tree copy
sync; echo 3 > /proc/sys/vm/drop_caches
step checksum sh -c 'find copy -type f | xargs md5sum > /tmp/sums'
# The host wrote the tree's checksums (tree/... paths, sorted) to /host/tree.md5: the copy must match them.
got=$(sed 's#  copy/#  tree/#' /tmp/sums | sort | md5sum | cut -d' ' -f1)
want=$(md5sum < /host/tree.md5 | cut -d' ' -f1)
echo "RESULT files_checksummed=$(wc -l < /tmp/sums) checksums_match=$([ "$got" = "$want" ] && echo yes || echo NO)"
step rm_rf rm -rf tree copy
echo "RESULT smallfiles_total_s=$(el $TOTAL)"
# The basic workload's small-file steps, with the operations each one causes.
create1000() { i=0; while [ $i -lt 1000 ]; do echo "file $i" > f$i; i=$((i+1)); done; }
rename1000() { i=0; while [ $i -lt 1000 ]; do mv f$i g$i; i=$((i+1)); done; }
remove1000() { i=0; while [ $i -lt 1000 ]; do rm g$i; i=$((i+1)); done; }
step create1000 create1000
step rename1000 rename1000
step remove1000 remove1000
cd .. && rmdir "$W"
