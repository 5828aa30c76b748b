#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Footprint of the running agent: VmRSS from /proc/PID/status with the built-in generator
# source, at idle (one flow, one packet a second) and with 65,536 active flows, both with
# max_flows = 65536, exporting IPFIX to a local port nobody listens on.
#
#   tests/cross/measure_rss.sh BUILD_DIR      (BUILD_DIR/flowagent; no root needed)
#
# RSS is read once every generated flow has had its first packet (after 2 x flows / rate
# seconds) and RSS has stopped changing (five equal samples 200 ms apart; 20 s at most).
set -euo pipefail
build=${1:?usage: measure_rss.sh BUILD_DIR}
agent=$build/flowagent
[ -x "$agent" ] || { echo "measure_rss: no $agent" >&2; exit 1; }
work=$(mktemp -d)
pid=""
cleanup() {
    [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
    [ -z "$pid" ] || wait "$pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"; }

# Prints the RSS in kB once three samples in a row agree.
stable_rss() {  # stable_rss PID
    local last="" same=0 i cur
    for ((i = 0; i < 100; i++)); do
        kill -0 "$1" 2>/dev/null || { echo "measure_rss: agent exited" >&2; return 1; }
        cur=$(rss_kb "$1")
        if [ "$cur" = "$last" ]; then
            same=$((same + 1))
            [ "$same" -ge 4 ] && { echo "$cur"; return 0; }
        else
            same=0
        fi
        last=$cur
        sleep 0.2
    done
    echo "measure_rss: RSS did not settle (last $last kB)" >&2
    return 1
}

run() {  # run FLOWS PPS OUT -> writes "RSS_kB HWM_kB" to OUT
    cat > "$work/agent.ini" <<INI
[agent]
source = generator
observation_domain = 1
[flows]
max_flows = ${FA_RSS_MAX_FLOWS:-65536}
active_timeout = 600
inactive_timeout = 600
[generator]
flows = $1
packets_per_second = $2
duration = 0
[collector c]
address = 127.0.0.1:9
protocol = ipfix
INI
    "$agent" -c "$work/agent.ini" > "$work/agent.log" 2>&1 &
    pid=$!
    local rss deadline
    # The generator starts flow i at packet i: all flows exist after flows / rate seconds.
    deadline=$(( $(date +%s%N) + 2 * 1000000000 * $1 / $2 ))
    while [ "$(date +%s%N)" -lt "$deadline" ] && kill -0 "$pid" 2>/dev/null; do
        sleep 0.1
    done
    rss=$(stable_rss "$pid") || { cat "$work/agent.log" >&2; return 1; }
    echo "$rss $(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status")" > "$3"
    kill "$pid"
    wait "$pid" || true
    pid=""
}

run 1 1 "$work/idle"
run 65536 262144 "$work/full"
read -r idle idle_hwm < "$work/idle"
read -r full full_hwm < "$work/full"
echo "flowagent RSS idle: ${idle} kB (peak ${idle_hwm} kB)"
echo "flowagent RSS with 65536 flows: ${full} kB (peak ${full_hwm} kB)"
echo "flowagent RSS per flow: $(( (full - idle) * 1024 / 65536 )) bytes"
