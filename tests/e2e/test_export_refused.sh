#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# A collector that goes away and comes back (issue 12 item 4). fa_export_records (the real
# encoder and UDP transport) exports one replay of 155 known flows per SIGUSR1 to 127.0.0.1:PORT.
# Ten times: a replay while nothing listens on PORT (every datagram draws an ICMP port
# unreachable), then nfcapd is started and a second replay is exported. Checked:
#  - every flow of each second replay reaches nfcapd (nfdump -I: 155 flows, their packets and
#    bytes): the first datagram after the collector's return, which meets the stale
#    ECONNREFUSED of the last refused one, is sent again instead of being dropped;
#  - the not-sent counters the exporter exports (not_sent_flows, IE 166) equal the records the
#    collector missed, 10 x 155: the refused datagrams are identified from the ICMP errors'
#    quotes (IP_RECVERR), not guessed; the sent counter (IE 42, a totalCounter that never steps
#    down) counts every record sent exactly once, 2 x 10 x 155 (none dropped, none sent twice).
# Run for IPFIX and v9. Loopback only, no root needed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
build=${FA_BUILD_DIR:?}
require_tool nfcapd nfdump python3 ss
tool=$build/fa_export_records
[ -x "$tool" ] || fa_fail "missing $tool (build target fa_export_records)"
work=""  # set by fa_tmpdir
fa_tmpdir work
iterations=10
flows_per_replay=155

# 155 flows, IPv4 and IPv6 mixed, so that a replay spans several datagrams of both templates.
python3 - "$work/replay.txt" "$flows_per_replay" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
t0 = 1700000000000
with open(path, "w") as f:
    for i in range(n):
        if i % 3 == 2:
            src, dst = "2001:db8::%x" % (i + 1), "2001:db8:1::%x" % (i + 1)
        else:
            src, dst = "10.1.%d.%d" % (i // 250, i % 250 + 1), "10.2.0.1"
        f.write("src=%s dst=%s sport=%d dport=53 proto=17 packets=%d octets=%d "
                "start=%d end=%d\n" % (src, dst, 10000 + i, i + 1, 100 * (i + 1),
                                       t0 + i, t0 + i + 500))
PY
want_packets=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^packets=/) s += substr($i, 9) } END { print s }' "$work/replay.txt")
want_bytes=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^octets=/) s += substr($i, 8) } END { print s }' "$work/replay.txt")

rounds_done() {
    sed -n 's/^round=\([0-9]*\) .*/\1/p' "$1" | tail -1 | awk '{ print $1 + 0 } END { if (NR == 0) print 0 }'
}

# replay DIR PID N: one replay, waits until round N is out.
replay() {
    kill -USR1 "$2"
    wait_for 20 "[ \$(rounds_done '$1/tool.err') -ge $3 ]" \
        || fa_fail "round $3 did not finish: $(tail -3 "$1/tool.err")"
}

run_case() {
    local name=$1 proto=$2
    local dir=$work/$name port toolpid nf i round=0
    mkdir -p "$dir"
    port=$(free_udp_port)
    bg_start toolpid "$tool" --records "$work/replay.txt" --collector "127.0.0.1:$port" \
        --protocol "$proto" --odid 5 --rounds-on-signal >"$dir/tool.out" 2>"$dir/tool.err"
    wait_for 10 "grep -q 'exporting' '$dir/tool.err'" || fa_fail "$name: tool did not start"
    for i in $(seq 1 "$iterations"); do
        round=$((round + 1))
        replay "$dir" "$toolpid" "$round"             # collector down: all of it is missed
        nfcapd_start nf "$dir/c$i" "$port" 127.0.0.1
        round=$((round + 1))
        replay "$dir" "$toolpid" "$round"             # collector up: all of it must arrive
        wait_for 5 "udp_recvq_empty $port" || true
        nfcapd_stop "$nf"
        nfdump_stat "$dir/c$i" >"$dir/stat$i.txt" \
            || fa_fail "$name: iteration $i: nfcapd wrote nothing: $(cat "$dir/c$i/nfcapd.log")"
        local flows packets bytes
        flows=$(sed -n 's/^Flows:[[:space:]]*//p' "$dir/stat$i.txt")
        packets=$(sed -n 's/^Packets:[[:space:]]*//p' "$dir/stat$i.txt")
        bytes=$(sed -n 's/^Bytes:[[:space:]]*//p' "$dir/stat$i.txt")
        if [ "$flows" != "$flows_per_replay" ] || [ "$packets" != "$want_packets" ] ||
            [ "$bytes" != "$want_bytes" ]; then
            fa_fail "$name: iteration $i: nfcapd got $flows flows, $packets packets, $bytes" \
                "bytes of the replay after its return; want $flows_per_replay, $want_packets," \
                "$want_bytes ($(tail -1 "$dir/tool.err"))"
        fi
    done
    bg_stop "$toolpid" TERM 20 || fa_fail "$name: fa_export_records failed: $(tail -3 "$dir/tool.err")"
    local not_sent sent refused
    not_sent=$(sed -n 's/^not_sent_flows=//p' "$dir/tool.out")
    sent=$(sed -n 's/^records=//p' "$dir/tool.out")
    refused=$(sed -n 's/^send_refused=//p' "$dir/tool.out")
    [ "$not_sent" = $((iterations * flows_per_replay)) ] \
        || fa_fail "$name: not_sent_flows=$not_sent, the collector missed" \
            "$((iterations * flows_per_replay)): $(tr '\n' ' ' <"$dir/tool.out")"
    [ "$sent" = $((2 * iterations * flows_per_replay)) ] \
        || fa_fail "$name: records=$sent counted sent, the agent sent" \
            "$((2 * iterations * flows_per_replay)): $(tr '\n' ' ' <"$dir/tool.out")"
    fa_log "$name: ok: $iterations x $flows_per_replay flows arrived after the collector's" \
        "return; not_sent_flows=$not_sent, send_refused=$refused," \
        "$(grep -E '^(resent_after_stale_refusal|icmp_matched)=' "$dir/tool.out" | tr '\n' ' ')"
}

run_case ipfix ipfix
run_case v9 v9
fa_log "all cases passed"
