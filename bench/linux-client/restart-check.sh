#!/usr/bin/env bash
# A Linux kernel client keeps writing, and keeps its flock lock, across a server crash and restart (issue "restart
# without losing clients' state"). Boots the test guest of ../shared/linux-client (NET_MODE=nat), which runs
# lockloop (lockloop.c, built static here): flock(LOCK_EX) on a file, then 5 appends + fsync + read-back a second for
# SECONDS. Meanwhile this script kills Leasehold (HOW=kill: SIGKILL; HOW=stop: SIGTERM) and starts it again on the
# same export and state directory. Passes if the guest saw no I/O error and the lock was still its own at the end.
#
#   bash bench/linux-client/restart-check.sh          # HOW=kill SECONDS=60 LEASE=15 PORT=20710
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
client=${LINUX_CLIENT:-$repo/../shared/linux-client}
how=${HOW:-kill} seconds=${SECONDS_RUN:-60} lease=${LEASE:-15} port=${PORT:-20710}
dir=${STATE_DIR:-/tmp/leasehold-restart-check}
bin=$repo/src/Leasehold.Host/bin/Release/net10.0/leasehold

rm -rf "$dir" && mkdir -p "$dir/export" "$dir/share"
dotnet build -c Release "$repo/src/Leasehold.Host" -v q -nologo >/dev/null
gcc -static -O2 -Wall -o "$dir/share/lockloop" "$repo/bench/linux-client/lockloop.c"

start() {
    "$bin" serve "$dir/export" --listen "127.0.0.1:$port" --lease-time "$lease" >>"$dir/server.log" 2>&1 &
    server=$!
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0; sleep 0.1; done
    echo "error: leasehold did not start; see $dir/server.log" >&2; exit 1
}
start
echo "server pid $server; guest log $dir/guest.log"
SHARE_DIR="$dir/share" NET_MODE=nat TIMEOUT=$((seconds + 240)) bash "$client/run-guest.sh" "$port" / \
    "/host/lockloop locked.txt $seconds" >"$dir/guest.log" 2>&1 &
guest=$!
for _ in $(seq 600); do grep -q "LOCKLOOP started" "$dir/guest.log" && break; sleep 0.2; done
grep -q "LOCKLOOP started" "$dir/guest.log" || { echo "error: the guest never took its lock; see $dir/guest.log" >&2; exit 1; }
sleep $((seconds / 4))
echo "$(date +%T) ${how}ing the server ($server)"
if [ "$how" = kill ]; then kill -KILL "$server"; else kill -TERM "$server"; fi
wait "$server" 2>/dev/null || true
sleep 2
start
echo "$(date +%T) restarted: pid $server"
wait "$guest" || true
kill -TERM "$server" 2>/dev/null; wait "$server" 2>/dev/null || true
grep "LOCKLOOP" "$dir/guest.log"
grep -q "LOCKLOOP ok" "$dir/guest.log"
