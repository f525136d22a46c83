#!/usr/bin/env bash
# Issue 12 with a real Linux 6.1 kernel client: one guest of ../shared/linux-client mounts Leasehold with NO vers=
# option (the client asks for 4.2 first) and checks, with the kernel's own /proc/self/mountstats counting operations:
#   - the mount is vers=4.2;
#   - fallocate -l (ALLOCATE): the file grows to 16 MiB, and the export's file has the blocks;
#   - fallocate -p (DEALLOCATE, a hole punch): the size stays, the range reads as zeros, the export's file has a hole;
#   - GNU cp of a BIG file made on the server (COPY): the copy's checksum matches, and the client sent a COPY and moved
#     no file data (READ and WRITE bytes stay near zero);
#   - setfattr / getfattr (SETXATTR, GETXATTR, LISTXATTRS, REMOVEXATTR) on a file, seen on the export as user.* xattrs;
#   - reading a sparse file made on the server: checksum equal to the export's (Debian's 6.1 kernel has no READ_PLUS
#     support built in, so it reads with READ; READ_PLUS is checked by the integration tests and pynfs).
# The guest is busybox: GNU cp, setfattr and getfattr are this machine's binaries run through its own dynamic loader
# from the shared directory; v42tool.c (built static here) does fallocate and the checksums.
#
#   bash bench/linux-client/v42-check.sh        # PORT=21520 BIG_MIB=256 STATE_DIR=/tmp/leasehold-v42-check
# Prints the checks (V42 ok / V42 FAIL lines) and the mountstats lines; exit status 0 when every check passed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
client=${LINUX_CLIENT:-$repo/../shared/linux-client}
[ -d "$client" ] || client=/work/shared/linux-client
port=${PORT:-21520}
big_mib=${BIG_MIB:-256}
dir=${STATE_DIR:-/tmp/leasehold-v42-check}
bin=$repo/src/Leasehold.Host/bin/Release/net10.0/leasehold

command -v setfattr >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y attr >/dev/null
[ "${NO_BUILD:-0}" = 1 ] || dotnet build -c Release "$repo/src/Leasehold.Host" -v q -nologo >/dev/null
rm -rf "$dir" && mkdir -p "$dir/export" "$dir/share/lib"
gcc -static -O2 -o "$dir/share/v42tool" "$repo/bench/linux-client/v42tool.c"
for tool in /usr/bin/cp /usr/bin/setfattr /usr/bin/getfattr; do
    cp "$tool" "$dir/share/"
    ldd "$tool" | awk '/=>/ {print $3}' | xargs -r -I{} cp -L {} "$dir/share/lib/"
done
cp -L /lib64/ld-linux-x86-64.so.2 "$dir/share/lib/"

# Made on the server: a BIG file of random bytes, and a sparse file (1 GiB, four 1 MiB islands of data).
head -c $((big_mib * 1024 * 1024)) /dev/urandom > "$dir/export/big.bin"
python3 - "$dir/export/sparse.bin" <<'EOF'
import os, sys
with open(sys.argv[1], "wb") as f:
    f.truncate(1 << 30)
    for i, at in enumerate([0, 100 << 20, 513 << 20, (1 << 30) - (1 << 20)]):
        f.seek(at)
        f.write(bytes([(i * 37 + j) % 251 for j in range(256)]) * 4096)
EOF
sum() { "$dir/share/v42tool" sum "$1"; }
big_sum=$(sum "$dir/export/big.bin")
sparse_sum=$(sum "$dir/export/sparse.bin")

"$bin" serve "$dir/export" --listen "127.0.0.1:$port" --lease-time 15 > "$dir/server.log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

cat > "$dir/share/guest.sh" <<EOF
H=/host; L=\$H/lib/ld-linux-x86-64.so.2; LP=\$H/lib
run() { \$L --library-path \$LP "\$@"; }
ok() { echo "V42 ok \$*"; }
bad() { echo "V42 FAIL \$*"; failed=1; }
failed=0
stats() { awk '/^ +(READ|WRITE|COPY|READ_PLUS|ALLOCATE|DEALLOCATE|SEEK|GETXATTR|SETXATTR|LISTXATTRS|REMOVEXATTR):/ {print "    " \$0}' /proc/self/mountstats; }
opcount() { awk -v op="\$1:" '\$1 == op {print \$2}' /proc/self/mountstats; }
opbytes() { awk -v op="\$1:" '\$1 == op {print \$5 + \$6}' /proc/self/mountstats; }
grep " \$MNT " /proc/mounts
grep -q "vers=4.2" /proc/mounts && ok "mounted with vers=4.2" || bad "not vers=4.2"

\$H/v42tool allocate alloc.bin 0 16777216 && [ "\$(stat -c %s alloc.bin)" = 16777216 ] && ok "fallocate -l 16 MiB: size 16777216" || bad "allocate"
[ "\$(opcount ALLOCATE)" -ge 1 ] && ok "ALLOCATE sent (\$(opcount ALLOCATE))" || bad "no ALLOCATE"
printf 'abcdefgh%.0s' \$(seq 1 32768) > punch.bin
\$H/v42tool punch punch.bin 65536 131072 && [ "\$(stat -c %s punch.bin)" = 262144 ] && ok "fallocate -p: size kept (262144)" || bad "punch"
[ "\$(opcount DEALLOCATE)" -ge 1 ] && ok "DEALLOCATE sent (\$(opcount DEALLOCATE))" || bad "no DEALLOCATE"
[ "\$(dd if=punch.bin bs=65536 skip=1 count=2 2>/dev/null | wc -c)" = 131072 ] \
  && [ "\$(dd if=punch.bin bs=65536 skip=1 count=2 2>/dev/null | tr -d '\\000' | wc -c)" = 0 ] \
  && [ "\$(dd if=punch.bin bs=65536 count=1 2>/dev/null | tr -d '\\000' | wc -c)" = 65536 ] && ok "the punched range reads as zeros, the rest as written" || bad "punched range"

r0=\$(opbytes READ); w0=\$(opbytes WRITE)
run \$H/cp big.bin big.copy && ok "GNU cp of $big_mib MiB"  || bad "cp"
# Counted before the checksum, which reads the copy back through the client.
moved=\$(( \$(opbytes READ) - r0 + \$(opbytes WRITE) - w0 ))
[ "\$(opcount COPY)" -ge 1 ] && ok "COPY sent (\$(opcount COPY))" || bad "no COPY"
[ "\$moved" -lt 1048576 ] && ok "file data through the client during cp: \$moved bytes of READ/WRITE traffic" || bad "cp moved \$moved bytes through the client"
[ "\$(\$H/v42tool sum big.copy)" = "$big_sum" ] && ok "copy checksum equals the original" || bad "copy checksum"

echo note > x.txt
run \$H/setfattr -n user.colour -v blue x.txt && ok "setfattr user.colour" || bad "setfattr"
[ "\$(run \$H/getfattr --only-values -n user.colour x.txt)" = blue ] && ok "getfattr user.colour = blue" || bad "getfattr"
run \$H/getfattr -d x.txt | grep -q 'user.colour="blue"' && ok "getfattr -d lists user.colour" || bad "listxattrs"
run \$H/setfattr -x user.colour x.txt && ! run \$H/getfattr -n user.colour x.txt 2>/dev/null && ok "setfattr -x removes it" || bad "removexattr"
run \$H/setfattr -n user.kept -v yes x.txt

[ "\$(\$H/v42tool sum sparse.bin)" = "$sparse_sum" ] && ok "sparse 1 GiB file reads back equal" || bad "sparse read differs"
# Debian's 6.1 kernel is built without CONFIG_NFS_V4_2_READ_PLUS: it reads with READ, so this is a note, not a check.
echo "V42 note READ_PLUS calls: \$(opcount READ_PLUS), READ calls: \$(opcount READ)"
\$H/v42tool map sparse.bin | head -6
stats
exit \$failed
EOF

rc=0
NET_MODE=nat MOUNT_OPTS=rw SHARE_DIR="$dir/share" TIMEOUT=${TIMEOUT:-600} "$client/run-guest.sh" "$port" / "sh /host/guest.sh" | tee "$dir/guest.log" || rc=$?

# The server's side of it: the export's files as local tools see them.
echo "export: alloc.bin $(stat -c '%s bytes, %b blocks' "$dir/export/alloc.bin" 2>/dev/null)"
echo "export: punch.bin $(stat -c '%s bytes, %b blocks' "$dir/export/punch.bin" 2>/dev/null)"
echo "export: x.txt xattrs: $(getfattr -d --absolute-names "$dir/export/x.txt" 2>/dev/null | grep user. | tr '\n' ' ')"
grep -q 'V42 FAIL' "$dir/guest.log" && rc=1
exit $rc
