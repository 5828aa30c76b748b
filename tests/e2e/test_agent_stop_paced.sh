#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# Paced export at shutdown (issue 12 item 3): the agent meters a flood of 40,000 distinct flows
# from its built-in generator (100,000 packets/s, no end) and gets SIGTERM while the flood runs.
# The final flush (about 1,400 NetFlow v9 datagrams) goes to an nfcapd with its default socket
# buffer; unpaced, as one burst, most of it was dropped by the collector's socket. Checked:
#  - nfcapd stored every record: as many as the agent exported (TCP flows that end are
#    exported during the flood too), 40,000 distinct flows (the generator cycles its flows
#    round robin, so all are live after the first 40,000 packets), the packets the agent
#    metered, and the bytes the generator's packet-size formula gives for that many packets
#    (computed here in Python);
#  - no datagram went missing: nfcapd counts 0 sequence failures (v9: +1 per datagram), and the
#    agent logged 0 datagrams not sent;
#  - the flush was paced: the agent logs the queue and exits 0 within stop_timeout.
# A second case bounds the flush: rate_limit = 200 datagrams/s and stop_timeout = 2 s cannot
# send 1,400 datagrams; the agent must exit 0 and count what it did not send: the records
# nfcapd stored plus the records logged as not sent equal the records exported, and the not
# sent ones are a warning in the log.
# Loopback only, no root needed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
build=${FA_BUILD_DIR:?}
require_tool nfcapd nfdump python3 ss
work=""  # set by fa_tmpdir
fa_tmpdir work
flows=40000

# run_case NAME RATE_LIMIT STOP_TIMEOUT: starts nfcapd and the agent, floods, SIGTERM; leaves
# the figures in globals (got_*, metered, exported, sent, not_sent).
run_case() {
    local name=$1 rate_limit=$2 stop_timeout=$3 port nf agent rc=0
    dir=$work/$name
    mkdir -p "$dir"
    port=$(free_udp_port)
    cat >"$dir/agent.ini" <<INI
[agent]
source = generator
stop_timeout = $stop_timeout
[flows]
max_flows = 65536
active_timeout = 600
inactive_timeout = 600
[generator]
flows = $flows
packets_per_second = 100000
[collector c]
address = 127.0.0.1:$port
protocol = v9
rate_limit = $rate_limit
INI
    nfcapd_start nf "$dir/nf" "$port" 127.0.0.1
    bg_start agent "$build/flowagent" -c "$dir/agent.ini" 2>"$dir/agent.log"
    wait_for 10 "grep -q 'started: source generator' '$dir/agent.log'" \
        || fa_fail "$name: agent did not start: $(cat "$dir/agent.log")"
    # 1.5 s of flood: 150,000 packets due, every flow in the table several times over.
    sleep 1.5
    bg_stop "$agent" TERM 30 || rc=$?
    [ "$rc" -eq 0 ] || fa_fail "$name: flowagent exited $rc: $(tail -5 "$dir/agent.log")"
    wait_for 10 "udp_recvq_empty $port" || true
    nfcapd_stop "$nf"
    nfdump_stat "$dir/nf" >"$dir/stat.txt" \
        || fa_fail "$name: nfcapd wrote nothing: $(cat "$dir/nf/nfcapd.log")"
    got_recs=$(sed -n 's/^Flows:[[:space:]]*//p' "$dir/stat.txt")
    got_flows=$(nfdump_all "$dir/nf" -q -A proto,srcip,dstip,srcport,dstport \
        -o 'fmt:%pr %sa %da %sp %dp' | sort -u | grep -c .) || fa_fail "$name: nfdump -A failed"
    got_pkts=$(sed -n 's/^Packets:[[:space:]]*//p' "$dir/stat.txt")
    got_bytes=$(sed -n 's/^Bytes:[[:space:]]*//p' "$dir/stat.txt")
    seqfail=$(sed -n 's/^Sequence failures:[[:space:]]*//p' "$dir/stat.txt")
    metered=$(sed -n 's/.*totals: \([0-9]*\) packets .* metered.*/\1/p' "$dir/agent.log" | tail -1)
    exported=$(sed -n 's/.*metered; \([0-9]*\) records exported.*/\1/p' "$dir/agent.log" | tail -1)
    sent=$(sed -n 's/.*collector c: [0-9]* datagrams, \([0-9]*\) records.*/\1/p' "$dir/agent.log" | tail -1)
    not_sent=$(sed -n 's/.*collector c: .* not sent: [0-9]* datagrams, \([0-9]*\) records.*/\1/p' "$dir/agent.log" | tail -1)
    fa_log "$name: nfcapd: $got_recs records of $got_flows flows, $got_pkts packets, $got_bytes" \
        "bytes, $seqfail sequence failures; agent: metered $metered packets, exported $exported" \
        "records, $sent sent, $not_sent not sent; $(grep -o 'send queue [0-9]* datagrams' "$dir/agent.log" | head -1)"
}

run_case whole 1000 10
want_bytes=$(python3 -c "import sys; n = int(sys.argv[1]); print(sum(60 + (i * 37) % 1400 for i in range(n)))" "$got_pkts")
grep -q 'collector c: .* not sent: 0 datagrams' "$dir/agent.log" \
    || fa_fail "whole: agent counted datagrams not sent: $(grep 'collector c:' "$dir/agent.log")"
[ "$got_recs" = "$exported" ] || fa_fail "whole: nfcapd stored $got_recs records, the agent exported $exported"
[ "$got_flows" = "$flows" ] || fa_fail "whole: nfcapd stored $got_flows distinct flows of $flows"
[ "$got_pkts" = "$metered" ] || fa_fail "whole: nfcapd stored $got_pkts packets, the agent metered $metered"
[ "$got_bytes" = "$want_bytes" ] || fa_fail "whole: nfcapd stored $got_bytes bytes; $got_pkts generator packets make $want_bytes"
[ "$seqfail" = 0 ] || fa_fail "whole: nfcapd counted $seqfail sequence failures (datagrams lost)"
fa_log "whole: ok: the shutdown flush of $flows flows arrived whole"

run_case bounded 200 2
grep -q 'stop_timeout (2 s) passed with [1-9][0-9]* datagrams queued' "$dir/agent.log" \
    || fa_fail "bounded: no stop_timeout warning: $(tail -5 "$dir/agent.log")"
[ "$not_sent" -gt 0 ] || fa_fail "bounded: nothing counted as not sent"
[ "$got_recs" = "$sent" ] || fa_fail "bounded: nfcapd stored $got_recs records, the agent counted $sent sent"
[ $((got_recs + not_sent)) = "$exported" ] \
    || fa_fail "bounded: stored $got_recs + not sent $not_sent != exported $exported"
fa_log "bounded: ok: $got_recs records arrived, $not_sent counted as not sent"
