#!/usr/bin/env bash
# Issue 13 with a real Linux 6.1 client (../shared/linux-client), against the admin verbs: the guest writes two files and holds them open (the server delegates both); meanwhile on the host:
# clients, locks, recall of f.txt, then client revoke; the guest then reads through its old descriptor and reopens.
set -u
#   bash bench/linux-client/admin-check.sh     # builds nothing: run `dotnet build -c Release src/Leasehold.Host` first; STATE_DIR=/tmp/leasehold-admin-check
repo=$(cd "$(dirname "$0")/../.." && pwd)
L=$repo/src/Leasehold.Host/bin/Release/net10.0/leasehold
client=${LINUX_CLIENT:-$repo/../shared/linux-client}; [ -d "$client" ] || client=/work/shared/linux-client
d=${STATE_DIR:-/tmp/leasehold-admin-check}; rm -rf $d; mkdir -p $d/ex
cd $d
cat > $d/guest.sh <<'GUEST'
mount -t tracefs nodev /sys/kernel/tracing
for e in nfs4_set_delegation nfs4_cb_recall nfs4_delegreturn nfs4_state_mgr nfs4_test_delegation_stateid nfs4_test_open_stateid nfs4_free_stateid nfs4_open_file; do
  [ -d /sys/kernel/tracing/events/nfs4/$e ] && echo 1 > /sys/kernel/tracing/events/nfs4/$e/enable
done
echo hello > f.txt; echo world > g.txt
exec 3< f.txt
exec 4< g.txt
echo "GUEST holding f.txt and g.txt"
sleep 45
echo "GUEST read after revoke: $(cat <&4)"
echo "GUEST reopen: $(cat g.txt)"
cat /sys/kernel/tracing/trace | grep -v "^#" | cut -c1-220
GUEST
$L serve $d/ex --listen 127.0.0.1:21850 > $d/server.log 2>&1 & srv=$!
sleep 3
( NET_MODE=nat MOUNT_OPTS=rw SHARE_DIR=$d TIMEOUT=300 GUEST_HOSTNAME=adminguest $client/run-guest.sh 21850 / 'sh /host/guest.sh' > $d/guest.log 2>&1 ) &
g=$!
for i in $(seq 1 60); do grep -q "GUEST holding" $d/guest.log 2>/dev/null && break; sleep 1; done
sleep 2
echo "== leasehold clients"; $L clients --state-dir $d/.leasehold-state
echo "== leasehold locks"; $L locks --state-dir $d/.leasehold-state
echo "== leasehold recall $d/ex/f.txt"; $L recall $d/ex/f.txt --state-dir $d/.leasehold-state
sleep 3
echo "== leasehold locks (after recall)"; $L locks --state-dir $d/.leasehold-state
id=$($L clients --json --state-dir $d/.leasehold-state | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
echo "== leasehold client revoke $id"; $L client revoke $id --state-dir $d/.leasehold-state
sleep 5
echo "== leasehold client show $id (after revoke)"; $L client show $id --state-dir $d/.leasehold-state
wait $g
echo "== guest"; sed -n '/GUEST_CMDS_BEGIN/,/GUEST_CMDS_END/p' $d/guest.log
kill -TERM $srv; wait $srv; echo "server exit $?"
grep -E "46[0-9][0-9]|Administrator|revoked" $d/server.log
