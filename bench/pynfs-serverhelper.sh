#!/usr/bin/env bash
# pynfs --serverhelper for Leasehold: `pynfs-serverhelper.sh [stop|kill] reboot|start|halt`.
# Restarts the server on the same export and state directory; returns once it serves.
#
# pynfs (nfs4.1/testserver.py) runs `HELPER [--serverhelperarg] reboot` and waits for it, then reconnects. The first
# argument chooses how the running server ends: `kill` (SIGKILL, a crash; the default) or `stop` (SIGTERM, a clean
# stop). `start` starts a server (run it once before testserver.py), `halt` ends it the same way as `reboot` does.
#
#   bench/pynfs-serverhelper.sh start
#   cd /path/to/pynfs/nfs4.1 && ./testserver.py 127.0.0.1:20498/ --maketree --minorversion=1 \
#       --serverhelper="$REPO/bench/pynfs-serverhelper.sh" --serverhelperarg=kill reboot
#   bench/pynfs-serverhelper.sh halt
#
# Settings (environment): LH_DIR holds export/, state/, leasehold.pid and leasehold.log (default /tmp/lh); LH_LISTEN
# the address (127.0.0.1:20498); LH_LEASE the lease time in seconds (15: every REBT test ends with a sleep of a lease
# plus 5 s, and REBT5 needs a lease of at least 11 s); LH_BIN the leasehold command (default: the Release build, else
# the Debug build, of src/Leasehold.Host).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
LH_DIR=${LH_DIR:-/tmp/lh}
LH_LISTEN=${LH_LISTEN:-127.0.0.1:20498}
LH_LEASE=${LH_LEASE:-15}
if [[ -z ${LH_BIN:-} ]]; then
    LH_BIN=$here/../src/Leasehold.Host/bin/Release/net10.0/leasehold
    [[ -x $LH_BIN ]] || LH_BIN=$here/../src/Leasehold.Host/bin/Debug/net10.0/leasehold
fi
how=kill; case "${1:-}" in stop|kill) how=$1; shift;; esac
cmd=${1:?usage: $0 [stop|kill] reboot|start|halt}
pidfile=$LH_DIR/leasehold.pid
log=$LH_DIR/leasehold.log

# Running, and not a zombie: the server is not our child, and whoever inherits it may be slow to reap it.
alive() { local state; state=$(ps -o stat= -p "$1" 2>/dev/null) && [[ ${state// /} != Z* ]]; }

note() { echo "=== $(date -u +%H:%M:%S.%N | cut -c1-12) pynfs-serverhelper: $*" >>"$log"; }

halt() {
    [[ -f $pidfile ]] || return 0
    local pid; pid=$(<"$pidfile")
    if alive "$pid"; then
        note "$how pid $pid"
        if [[ $how == kill ]]; then kill -KILL "$pid"; else kill -TERM "$pid"; fi
        # Not our child: poll until it is gone (a clean stop may take the host's 10 s ShutdownTimeout plus 5 s).
        for _ in $(seq 300); do alive "$pid" || break; sleep 0.1; done
        if alive "$pid"; then echo "leasehold $pid did not stop in 30 s; see $log" >&2; exit 1; fi
    fi
    rm -f "$pidfile"
}

start() {
    [[ -x $LH_BIN ]] || { echo "no leasehold command at $LH_BIN (build src/Leasehold.Host, or set LH_BIN)" >&2; exit 1; }
    mkdir -p "$LH_DIR/export" "$LH_DIR/state"
    local from; from=$(( $( [[ -f $log ]] && wc -l <"$log" || echo 0) + 1 ))  # this start's lines come after
    note "start $LH_BIN serve $LH_DIR/export --listen $LH_LISTEN --lease-time $LH_LEASE"
    # setsid: out of pynfs's process group, so a Ctrl-C to pynfs does not reach the server. In a script without job
    # control the background job is no group leader, so setsid execs in place and $! is the server's pid.
    LEASEHOLD_Export__StateDirectory="$LH_DIR/state" setsid "$LH_BIN" serve "$LH_DIR/export" \
        --listen "$LH_LISTEN" --lease-time "$LH_LEASE" >>"$log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    # The port accepts connections (into the backlog) as soon as it is bound, before the export is ready: wait for the
    # host's own "Serving ... on ADDRESS" line (event 5001) of this start instead.
    for _ in $(seq 300); do
        alive "$(<"$pidfile")" || { echo "leasehold exited; see $log" >&2; exit 1; }
        if tail -n +"$from" "$log" | grep -q 'Leasehold.Host\[5001\] Serving '; then note "serving on $LH_LISTEN"; return 0; fi
        sleep 0.1
    done
    echo "leasehold did not serve on $LH_LISTEN in 30 s; see $log" >&2; exit 1
}

case $cmd in
    reboot) halt; start ;;
    start)  start ;;
    halt)   halt ;;
    *) echo "unsupported serverhelper action: $*" >&2; exit 2 ;;
esac
