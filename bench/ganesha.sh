#!/usr/bin/env bash
# Starts and stops NFS-Ganesha (Debian's nfs-ganesha + nfs-ganesha-vfs) as an NFSv4.1 reference server for the client
# tests and the load generator. Self-contained: it writes its own config, export, recovery directory, log and pidfile
# under one state directory, so a fresh machine (CI) needs nothing but this script and root.
#
#   bench/ganesha.sh start [STATE_DIR]    install if missing, write the config, start, wait for the port
#   bench/ganesha.sh stop  [STATE_DIR]    SIGTERM (Ganesha's clean shutdown), wait, then report
#   bench/ganesha.sh status [STATE_DIR]
#
# STATE_DIR defaults to /tmp/leasehold-ganesha. Environment:
#   GANESHA_PORT   TCP port on 127.0.0.1 (default 20490; 2049 is left to any real NFS server on the machine)
#   GANESHA_EXPORT directory to export (default STATE_DIR/export); clients see it as /export
#   GANESHA_LEASE  lease time in seconds (default 60)
#   GANESHA_MINOR_VERSIONS  the NFSv4 minor versions served (default "1"; "1, 2" adds NFSv4.2)
# Clients then use 127.0.0.1:$GANESHA_PORT with path /export (PUTROOTFH, LOOKUP "export"); for the client tests:
#   LEASEHOLD_TEST_NFS=127.0.0.1:20490/export dotnet test tests/Leasehold.Nfs4.Client.Tests
set -euo pipefail

cmd=${1:-}
dir=${2:-/tmp/leasehold-ganesha}
port=${GANESHA_PORT:-20490}
export_dir=${GANESHA_EXPORT:-$dir/export}
lease=${GANESHA_LEASE:-60}
minor_versions=${GANESHA_MINOR_VERSIONS:-1}
pidfile=$dir/ganesha.pid

usage() { echo "usage: $0 start|stop|status [STATE_DIR]" >&2; exit 2; }

running_pid() {
    [ -f "$pidfile" ] || return 1
    local pid
    pid=$(cat "$pidfile")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

find_plugins_dir() {
    # The VFS FSAL is a plugin; its directory depends on the architecture triplet.
    local lib
    lib=$(dpkg -L nfs-ganesha-vfs 2>/dev/null | grep -m1 'libfsalvfs\.so$' || true)
    [ -n "$lib" ] || lib=$(find /usr/lib /usr/lib64 -name 'libfsalvfs.so' 2>/dev/null | head -n1 || true)
    [ -n "$lib" ] && dirname "$lib"
}

install_if_missing() {
    if command -v ganesha.nfsd >/dev/null 2>&1 && [ -n "$(find_plugins_dir)" ]; then
        return
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: nfs-ganesha is not installed and installing it needs root" >&2
        exit 1
    fi
    echo "installing nfs-ganesha and nfs-ganesha-vfs (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends nfs-ganesha nfs-ganesha-vfs
}

write_config() {
    local plugins=$1
    cat > "$dir/ganesha.conf" <<CONF
# Written by bench/ganesha.sh. NFSv4.1 only, TCP only, loopback only, one VFS export seen as /export.
NFS_CORE_PARAM {
    Protocols = 4;
    NFS_Port = $port;
    Bind_Addr = 127.0.0.1;
    Enable_NLM = false;
    Enable_RQUOTA = false;
    Enable_UDP = false;
    Plugins_Dir = "$plugins";
}

NFSV4 {
    Minor_Versions = $minor_versions;
    # No grace period: a fresh server should serve at once (nothing to reclaim in a benchmark).
    Graceless = true;
    Lease_Lifetime = $lease;
    Delegations = true;
    RecoveryBackend = fs;
    RecoveryRoot = "$dir/recov";
    # AUTH_SYS clients send numeric ids; no idmapd is running.
    Allow_Numeric_Owners = true;
    Only_Numeric_Owners = true;
}

EXPORT_DEFAULTS {
    SecType = sys;
    Squash = No_Root_Squash;
}

EXPORT {
    Export_Id = 1;
    Path = $export_dir;
    Pseudo = /export;
    Access_Type = RW;
    Delegations = RW;
    Squash = No_Root_Squash;
    Protocols = 4;
    Transports = TCP;
    SecType = sys;
    FSAL {
        Name = VFS;
    }
}

LOG {
    Default_Log_Level = EVENT;
}
CONF
}

start() {
    if pid=$(running_pid); then
        echo "ganesha already running (pid $pid) on 127.0.0.1:$port"
        return
    fi
    install_if_missing
    local plugins
    plugins=$(find_plugins_dir)
    if [ -z "$plugins" ]; then
        echo "error: libfsalvfs.so not found after installing nfs-ganesha-vfs" >&2
        exit 1
    fi
    if port_open; then
        echo "error: something already listens on 127.0.0.1:$port" >&2
        exit 1
    fi
    mkdir -p "$dir/recov" "$export_dir"
    write_config "$plugins"
    # -F: stay in the foreground of the nohup'd process, so the pidfile names the server itself.
    # rpcbind, dbus and krb5 are absent on purpose; Ganesha logs about them and carries on.
    nohup ganesha.nfsd -F -f "$dir/ganesha.conf" -L "$dir/ganesha.log" -p "$pidfile" -N NIV_EVENT \
        >"$dir/stdout.log" 2>&1 &
    local launched=$!
    for _ in $(seq 1 60); do
        if port_open; then
            echo "ganesha up (pid $launched) on 127.0.0.1:$port, exporting $export_dir as /export"
            echo "log: $dir/ganesha.log"
            return
        fi
        if ! kill -0 "$launched" 2>/dev/null; then
            break
        fi
        sleep 0.5
    done
    echo "error: ganesha did not come up; see $dir/ganesha.log and $dir/stdout.log" >&2
    tail -n 20 "$dir/ganesha.log" >&2 2>/dev/null || true
    exit 1
}

stop() {
    local pid
    if ! pid=$(running_pid); then
        echo "ganesha not running (no live pid in $pidfile)"
        rm -f "$pidfile"
        return
    fi
    kill -TERM "$pid"
    for _ in $(seq 1 60); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "ganesha stopped (pid $pid)"
            rm -f "$pidfile"
            return
        fi
        sleep 0.5
    done
    echo "error: ganesha (pid $pid) still running 30 s after SIGTERM; stop it with: kill -KILL $pid" >&2
    exit 1
}

status() {
    if pid=$(running_pid); then
        echo "ganesha running (pid $pid) on 127.0.0.1:$port"
    else
        echo "ganesha not running"
        return 1
    fi
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) usage ;;
esac
