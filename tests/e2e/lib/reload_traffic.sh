# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
# The counted traffic of the reload tests (test_agent_reload_storm.sh,
# test_agent_reload_datapath.sh): 2,000 UDP packets from 10.77.0.1 (namespace $A, veth va) to
# 10.77.0.2:9400, 100 bytes of payload (128 IP octets), 1,000 per second, from 20 source ports,
# and what of them reached the collector or was exported as dropped. Needs common.sh.

# reload_traffic_start VAR NETNS: starts the sender in NETNS in the background (bg_start VAR).
reload_traffic_start() {
    bg_start "$1" ip netns exec "$2" python3 -c '
import socket, time
socks = []
for p in range(20):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("10.77.0.1", 30000 + p))
    socks.append(s)
t = time.monotonic()
for i in range(2000):
    socks[i % 20].sendto(b"s" * 100, ("10.77.0.2", 9400))
    t += 0.001
    d = t - time.monotonic()
    if d > 0: time.sleep(d)'
}

# reload_traffic_seen NFDIR: "packets bytes" of the counted traffic in nfcapd's files.
reload_traffic_seen() {
    nfdump_all "$1" -q -N -o 'fmt:%pkt|%byt' "dst port 9400 and proto udp" |
        tr -d ' ' | awk -F'|' '{ p += $1; b += $2 } END { print p + 0, b + 0 }'
}

# reload_exported_drops AGENT_LOG: packets the agent exported as dropped (table full and
# source), summed over its `dropped:` lines (one per runtime: at a restart and at the stop).
reload_exported_drops() {
    sed -n 's/.*dropped: table full [0-9]* flows \([0-9]*\) packets; source \([0-9]*\) packets.*/\1 \2/p' \
        "$1" | awk '{ s += $1 + $2 } END { print s + 0 }'
}

# reload_traffic_check NAME NFDIR AGENT_LOG TEXT: fails unless the 2,000 packets are in nfdump
# (or the difference was exported as dropped), with all their bytes when nothing was dropped,
# and nfcapd saw no sequence failure; logs NAME: TEXT and the numbers.
reload_traffic_check() {
    local name=$1 nfdir=$2 log=$3 text=$4 p b drops seqfail
    read -r p b < <(reload_traffic_seen "$nfdir")
    drops=$(reload_exported_drops "$log")
    seqfail=$(nfdump_stat "$nfdir" | sed -n 's/^Sequence failures:[[:space:]]*//p')
    fa_log "$name: $text; nfdump: $p packets, $b bytes of 2000, $((2000 * 128)); exported" \
        "drops $drops; sequence failures $seqfail"
    [ $((p + drops)) -eq 2000 ] || fa_fail "$name: $p packets in nfdump + $drops dropped != 2000 sent"
    [ "$drops" -ne 0 ] || [ "$b" -eq $((2000 * 128)) ] \
        || fa_fail "$name: $b bytes in nfdump, $((2000 * 128)) sent"
    [ "$seqfail" = 0 ] || fa_fail "$name: nfcapd counted $seqfail sequence failures"
}
