# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-only
# Shared helpers for tests/e2e scripts. Source after `set -euo pipefail`:
#   . "$(dirname "$0")/lib/common.sh"
# Provides: fa_skip, fa_fail, require_tool, require_root, fa_tmpdir, on_exit, bg_start, bg_stop,
# wait_for, free_udp_port, nfcapd_start, nfcapd_stop.
# Exit code 77 = skipped (ctest SKIP_RETURN_CODE); under CI=true nothing may skip.

FA_E2E_NAME=${FA_E2E_NAME:-$(basename "${0:-e2e}" .sh)}

fa_log() { echo "[$FA_E2E_NAME] $*" >&2; }
fa_fail() { echo "[$FA_E2E_NAME] FAIL: $*" >&2; exit 1; }

# Skip (exit 77) unless CI=true, where a skip is a failure.
fa_skip() {
    if [ "${CI:-}" = "true" ]; then
        fa_fail "would skip under CI=true: $*"
    fi
    echo "[$FA_E2E_NAME] SKIP: $*" >&2
    exit 77
}

# require_tool NAME...: every tool must be on PATH (missing: skip, or fail under CI).
require_tool() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || fa_skip "missing tool: $t"
    done
}

# require_root: tests that need root (capture, netns) skip when not root.
require_root() {
    [ "$(id -u)" -eq 0 ] || fa_skip "needs root"
}

# Cleanup registration: on_exit 'command' runs commands in reverse order at EXIT, also on
# failure. Background processes started with bg_start are killed first.
_fa_exit_cmds=()
_fa_bg_pids=()
_fa_run_exit() {
    local rc=$? i p
    # TERM first; whatever ignores it (nfacctd's core process) gets KILL after 5 s.
    for p in "${_fa_bg_pids[@]:-}"; do
        [ -n "$p" ] && kill "$p" 2>/dev/null || true
        [ -n "$p" ] && kill -CONT "$p" 2>/dev/null || true  # a stopped one acts on TERM now
    done
    for p in "${_fa_bg_pids[@]:-}"; do
        [ -n "$p" ] || continue
        for ((i = 0; i < 50; i++)); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    for ((i = ${#_fa_exit_cmds[@]} - 1; i >= 0; i--)); do
        eval "${_fa_exit_cmds[$i]}" || true
    done
    exit "$rc"
}
trap _fa_run_exit EXIT
on_exit() { _fa_exit_cmds+=("$*"); }

# The agent's defaults under /var/run/flowagent ([conntrack] state_file, the control socket's
# directory): what the test did not find there is removed at exit (reverse order: file first).
[ -d /var/run/flowagent ] || on_exit "rmdir /var/run/flowagent 2>/dev/null"
[ -e /var/run/flowagent/conntrack.state ] || on_exit "rm -f /var/run/flowagent/conntrack.state"

# fa_tmpdir VAR: creates a temp dir removed at exit, stores its path in VAR.
fa_tmpdir() {
    local _fa_d
    _fa_d=$(mktemp -d "${TMPDIR:-/tmp}/fa-e2e.XXXXXX")
    on_exit "rm -rf '$_fa_d'"
    printf -v "$1" '%s' "$_fa_d"
}

# bg_start VAR cmd args...: starts cmd in the background, stores its pid in VAR; killed at exit.
bg_start() {
    local _fa_var=$1
    shift
    "$@" &
    _fa_bg_pids+=("$!")
    printf -v "$_fa_var" '%s' "$!"
}

# bg_stop PID [SIGNAL] [TIMEOUT_S]: signals pid (default TERM) and waits for it to exit, up to
# the timeout (default 10 s), then KILLs it. Returns the process's exit status.
bg_stop() {
    local pid=$1 sig=${2:-TERM} t=${3:-10} rc=0
    kill -s "$sig" "$pid" 2>/dev/null || true
    if ! wait_for "$t" "! kill -0 $pid 2>/dev/null"; then
        fa_log "pid $pid did not exit after SIG$sig in ${t}s; killing"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || rc=$?
    return "$rc"
}

# wait_for TIMEOUT_S 'condition' [INTERVAL_S]: polls the shell condition until true; returns 1
# on timeout. Use instead of fixed sleeps.
wait_for() {
    local timeout=$1 cond=$2 interval=${3:-0.05}
    local deadline=$((SECONDS + ${timeout%.*} + 1))
    local start_ns
    start_ns=$(date +%s%N)
    local limit_ns
    # %.0f, not %d: mawk (Debian's awk) clamps %d to 2^31 - 1, which cut every wait to 2.1 s.
    limit_ns=$(awk -v t="$timeout" 'BEGIN { printf "%.0f", t * 1e9 }')
    while :; do
        if eval "$cond"; then
            return 0
        fi
        if [ $(($(date +%s%N) - start_ns)) -ge "$limit_ns" ] || [ "$SECONDS" -gt "$deadline" ]; then
            return 1
        fi
        sleep "$interval"
    done
}

# free_udp_port [ADDR]: prints a UDP port free on ADDR (default 127.0.0.1) right now.
free_udp_port() {
    local addr=${1:-127.0.0.1}
    python3 - "$addr" <<'PY'
import socket, sys
a = sys.argv[1]
fam = socket.AF_INET6 if ":" in a else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.bind((a, 0))
print(s.getsockname()[1])
PY
}

# udp_port_bound PORT: true when some socket is bound to UDP PORT (any address).
udp_port_bound() {
    ss -Hlun "sport = :$1" 2>/dev/null | grep -q .
}

# nfcapd_start VAR DIR PORT [BIND_ADDR] [extra args...]: starts nfcapd in the foreground (as a
# background job), logging to DIR/nfcapd.log, waits until the port is bound.
nfcapd_start() {
    local _fa_v=$1 _fa_dir=$2 _fa_port=$3 _fa_bind=${4:-127.0.0.1}
    shift 4 || shift $#
    mkdir -p "$_fa_dir"
    local _fa_fam=-4
    case "$_fa_bind" in *:*) _fa_fam=-6 ;; esac
    bg_start "$_fa_v" nfcapd "$_fa_fam" -w "$_fa_dir" -p "$_fa_port" -b "$_fa_bind" "$@" \
        >>"$_fa_dir/nfcapd.log" 2>&1
    wait_for 10 "udp_port_bound $_fa_port" \
        || fa_fail "nfcapd did not bind port $_fa_port: $(cat "$_fa_dir/nfcapd.log")"
}

# nfacctd_ready PORT LOG: true once nfacctd has bound UDP PORT and its print plugin has
# completed a refresh cycle (a "Purging cache - END" line in LOG). The core binds before the
# plugin runs; datagrams sent right after the bind were seen to end with no CSV at all (about
# 1 run in 10).
nfacctd_ready() {
    udp_port_bound "$1" && grep -q 'p/print.*Purging cache - END' "$2" 2>/dev/null
}

# ns_nfcapd_start VAR PORTVAR NS DIR: nfcapd inside namespace NS on a free UDP port of its
# 127.0.0.1 (stored in PORTVAR), writing DIR, logging to DIR/nfcapd.log; waits for the bind.
ns_nfcapd_start() {
    local _fa_v=$1 _fa_pv=$2 _fa_ns=$3 _fa_dir=$4 _fa_port
    _fa_port=$(ip netns exec "$_fa_ns" python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
    mkdir -p "$_fa_dir"
    bg_start "$_fa_v" ip netns exec "$_fa_ns" nfcapd -4 -w "$_fa_dir" -p "$_fa_port" \
        -b 127.0.0.1 >>"$_fa_dir/nfcapd.log" 2>&1
    wait_for 10 "ip netns exec $_fa_ns ss -Hlun 'sport = :$_fa_port' | grep -q ." \
        || fa_fail "nfcapd did not bind port $_fa_port in $_fa_ns: $(cat "$_fa_dir/nfcapd.log")"
    printf -v "$_fa_pv" '%s' "$_fa_port"
}

# nfcapd_stop PID: SIGTERM, which makes nfcapd flush and close its current file.
nfcapd_stop() {
    bg_stop "$1" TERM 10 || true
}

# nfcapd_files DIR: the closed nfcapd files in DIR (not the .current one).
nfcapd_files() {
    find "$1" -name 'nfcapd.[0-9]*' ! -name '*current*' -type f | sort
}

# nfdump_all DIR ARGS...: nfdump ARGS -r FILE over every file nfcapd wrote in DIR, in order.
# A run that crosses nfcapd's 5-minute rotation boundary leaves two files, one of them maybe
# without any flow ("No matching flows", which is dropped here). Fails if nfdump fails.
nfdump_all() {
    local dir=$1 f
    shift
    for f in $(nfcapd_files "$dir"); do
        nfdump "$@" -r "$f" || return 1
    done | { grep -v '^No matching flows' || true; }
}

# nfdump_stat DIR: "Flows: N", "Packets: N", "Bytes: N" and "Sequence failures: N" summed over
# every file nfcapd wrote in DIR (nfdump -I per file). A run that crosses nfcapd's 5-minute
# rotation boundary splits its datagrams, and their sequence failures, between two files: the
# last file alone undercounts. Fails if DIR holds no file, nfdump fails (with pipefail), or a
# file's summary lacks one of the four lines.
nfdump_stat() {
    local f files
    files=$(nfcapd_files "$1" | wc -l)
    [ "$files" -gt 0 ] || return 1
    for f in $(nfcapd_files "$1"); do
        nfdump -r "$f" -I || return 1
    done | awk -F': *' -v files="$files" '
        $1 == "Flows" || $1 == "Packets" || $1 == "Bytes" || $1 == "Sequence failures" {
            sum[$1] += $2; seen[$1]++
        }
        END {
            n = split("Flows,Packets,Bytes,Sequence failures", keys, ",")
            for (i = 1; i <= n; i++) {
                if (seen[keys[i]] != files) {
                    printf "nfdump_stat: \"%s\" in %d of %d files\n", keys[i], seen[keys[i]], files > "/dev/stderr"
                    exit 1
                }
                printf "%s: %.0f\n", keys[i], sum[keys[i]]
            }
        }'
}

# udp_recvq_empty PORT: true when the receive queue of the socket bound to UDP PORT is empty
# (the collector has read everything sent so far).
udp_recvq_empty() {
    local q
    q=$(ss -Hlun "sport = :$1" 2>/dev/null | awk '{ s += $2 } END { print s + 0 }')
    [ "$q" -eq 0 ]
}

# dumpcap_count ERRFILE: packets dumpcap (run without -q, stderr to ERRFILE) has captured so
# far; it updates its "Packets: N" counter only after reading packets from the kernel ring,
# so waiting for it before SIGTERM guarantees the packets reach the file.
dumpcap_count() {
    tr '\r' '\n' <"$1" | sed -n 's/.*Packets\( captured\)\?: \([0-9][0-9]*\).*/\2/p' | tail -1 \
        | awk '{ print $1 + 0 } END { if (NR == 0) print 0 }'
}

# dumpcap_start VAR PCAP ERRFILE IFACE FILTER: starts dumpcap; returns once it writes PCAP
# (dumpcap opens and filters the interface before it writes the file header).
dumpcap_start() {
    local _fa_v=$1 _fa_pcap=$2 _fa_err=$3 _fa_if=$4 _fa_filter=$5
    bg_start "$_fa_v" dumpcap -i "$_fa_if" -f "$_fa_filter" -w "$_fa_pcap" 2>"$_fa_err"
    wait_for 10 "[ -s '$_fa_pcap' ]" || fa_fail "dumpcap did not start: $(cat "$_fa_err")"
}

# dumpcap_stop PID ERRFILE MIN_PACKETS: waits until dumpcap has seen MIN_PACKETS, then stops it.
dumpcap_stop() {
    wait_for 10 "[ \$(dumpcap_count '$2') -ge $3 ]" \
        || fa_log "dumpcap saw only $(dumpcap_count "$2") of $3 packets"
    bg_stop "$1" TERM 10 || true
}

# dumpcap_settle ERRFILE [MIN]: waits (up to 10 s) until dumpcap has captured at least MIN
# packets and its count has not changed for 1.5 s (it reads the kernel ring in blocks).
dumpcap_settle() {
    local _fa_err=$1 _fa_min=${2:-0} _fa_last=-1 _fa_since=$SECONDS _fa_t0=$SECONDS _fa_c
    while [ $((SECONDS - _fa_t0)) -lt 10 ]; do
        _fa_c=$(dumpcap_count "$_fa_err")
        if [ "$_fa_c" != "$_fa_last" ]; then
            _fa_last=$_fa_c
            _fa_since=$(date +%s%N)
        elif [ "$_fa_c" -ge "$_fa_min" ] && [ $(($(date +%s%N) - _fa_since)) -ge 1500000000 ]; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}
