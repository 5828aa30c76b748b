#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# Collector restart: fa_export_records exports tests/data/records/basic.txt every 100 ms to
# nfcapd; nfcapd is stopped, the exporter keeps going (no crash, ECONNREFUSED counted as
# send_refused), nfcapd is started again on the same port and must decode data again at once:
# the first datagram after a send error carries the templates. Checked three ways:
#  - the capture (dumpcap on lo, UDP to the port and ICMP) cut after the last ICMP port
#    unreachable: its first datagram holds a template set and tshark finds no data without
#    a template in it;
#  - the restarted nfcapd decoded whole rounds only (flows a multiple of the records per round)
#    and exactly as many flow records as tshark decodes in the cut capture;
#  - nfcapd logs no errors; the sequence numbers it received follow the RFC (v9: +1 per
#    datagram, RFC 3954 §5.1; IPFIX: + all Data Records, options data included, RFC 7011 §3.1)
#    and it counts exactly the sequence failures its own rule gives for that stream: 0 for v9;
#    for IPFIX nfcapd 1.7.1 advances only per flow record, so each datagram with options data
#    that is followed by another costs one (lib/check_seq.py). Gaps while it was down are not
#    seen: the restarted nfcapd starts a new stream.
# Run for IPFIX and v9. Needs root for the capture (skip otherwise; fails under CI=true).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
build=${FA_BUILD_DIR:?}
src=${FA_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
require_tool nfcapd nfdump tshark dumpcap editcap python3 ss
require_root
tool=$build/fa_export_records
[ -x "$tool" ] || fa_fail "missing $tool (build target fa_export_records)"
records=$src/tests/data/records/basic.txt
work=""  # set by fa_tmpdir
fa_tmpdir work
per_round=$(python3 "$here/lib/records.py" "$records" totals | awk '{ print $1 }')

refused_count() {
    tr '\r' '\n' <"$1" | sed -n 's/.*send_refused=\([0-9]*\).*/\1/p' | tail -1 | awk '{ print $1 + 0 } END { if (NR == 0) print 0 }'
}

run_case() {
    local name=$1 proto=$2
    local dir=$work/$name port a b cap toolpid
    mkdir -p "$dir"
    port=$(free_udp_port)
    nfcapd_start a "$dir/a" "$port" 127.0.0.1
    bg_start toolpid "$tool" --records "$records" --collector "127.0.0.1:$port" \
        --protocol "$proto" --odid 9 --repeat-every-ms 100 --duration-s 8 \
        >"$dir/tool.out" 2>"$dir/tool.err"
    # nfcapd logs the exporter when its first datagram arrives.
    wait_for 10 "grep -q 'New .* exporter' '$dir/a/nfcapd.log'" \
        || fa_fail "$name: first nfcapd got nothing: $(cat "$dir/a/nfcapd.log" "$dir/tool.err")"
    nfcapd_stop "$a"
    dumpcap_start cap "$dir/cap.pcapng" "$dir/dumpcap.err" lo \
        "udp port $port or icmp or icmp6"
    # While the collector is down the exporter must see (and count) refused sends.
    wait_for 10 "[ \$(refused_count '$dir/tool.err') -ge 3 ]" \
        || fa_fail "$name: no refused sends counted while nfcapd was down: $(tail -3 "$dir/tool.err")"
    kill -0 "$toolpid" || fa_fail "$name: exporter died while the collector was down"
    nfcapd_start b "$dir/b" "$port" 127.0.0.1
    local rc=0
    wait "$toolpid" || rc=$?
    [ "$rc" -eq 0 ] || fa_fail "$name: fa_export_records exited $rc: $(tail -3 "$dir/tool.err")"
    wait_for 5 "udp_recvq_empty $port" || true
    nfcapd_stop "$b"
    dumpcap_settle "$dir/dumpcap.err" 1 || fa_log "$name: capture did not settle"
    bg_stop "$cap" TERM 10 || true
    grep -q '^send_refused=[1-9]' "$dir/tool.out" || fa_fail "$name: send_refused not counted: $(cat "$dir/tool.out")"

    # Cut the capture after the last ICMP port unreachable: what remains went to the new nfcapd.
    local last_icmp total
    # Only unreachables that quote a datagram to our port: other tests' ICMP on lo must not move
    # the cut.
    last_icmp=$(tshark -r "$dir/cap.pcapng" \
        -Y "(icmp.type==3 or icmpv6.type==1) and udp.dstport==$port" -T fields \
        -e frame.number 2>/dev/null | tail -1)
    [ -n "$last_icmp" ] || fa_fail "$name: no ICMP port unreachable captured while nfcapd was down"
    total=$(tshark -r "$dir/cap.pcapng" -T fields -e frame.number 2>/dev/null | tail -1)
    [ "$total" -gt "$last_icmp" ] || fa_fail "$name: nothing captured after the restart"
    editcap -r "$dir/cap.pcapng" "$dir/after.pcapng" "$((last_icmp + 1))-$total"
    tshark -r "$dir/after.pcapng" -d "udp.port==$port,cflow" -V >"$dir/after.txt" 2>&1 || true
    if grep -n -i -E "no template|malformed" "$dir/after.txt" | head -5 | grep .; then
        fa_fail "$name: after the restart tshark found data without a template (above)"
    fi
    # Set id 2 (IPFIX template set) or FlowSet id 0 (v9 template flowset) in the first datagram.
    local first_sets
    first_sets=$(tshark -r "$dir/after.pcapng" -d "udp.port==$port,cflow" -c 1 -T fields \
        -e cflow.flowset_id 2>/dev/null)
    case ",$first_sets," in
        *,2,*|*,0,*) ;;
        *) fa_fail "$name: first datagram after the restart has sets '$first_sets', no template set" ;;
    esac
    local ts_flows
    ts_flows=$(tshark -r "$dir/after.pcapng" -d "udp.port==$port,cflow" -T fields \
        -e cflow.protocol -E occurrence=a -E aggregator=, 2>/dev/null | tr ',' '\n' | grep -c . || true)

    [ -n "$(nfcapd_files "$dir/b")" ] \
        || fa_fail "$name: restarted nfcapd wrote no file: $(cat "$dir/b/nfcapd.log")"
    grep -q "Bad Packets: 0" "$dir/b/nfcapd.log" || fa_fail "$name: nfcapd: $(cat "$dir/b/nfcapd.log")"
    # Summed over nfcapd's files: a run across its 5-minute rotation leaves two.
    nfdump_stat "$dir/b" >"$dir/stat.txt" || fa_fail "$name: nfdump -I failed"
    local flows
    flows=$(sed -n 's/^Flows:[[:space:]]*//p' "$dir/stat.txt")
    # Sequence numbers: the RFC rule must hold on every datagram the new nfcapd received
    # (check_seq.py, from tshark's decode), and nfcapd must count exactly the failures its
    # flow-only IPFIX counting gives for that stream (0 for v9): any real gap adds one.
    local want_seq_fail got_seq_fail
    want_seq_fail=$(python3 "$here/lib/check_seq.py" "$dir/after.txt" "$proto") \
        || fa_fail "$name: export sequence numbers break the RFC rule (above)"
    got_seq_fail=$(sed -n 's/^Sequence failures:[[:space:]]*//p' "$dir/stat.txt")
    [ "$got_seq_fail" = "$want_seq_fail" ] \
        || { cat "$dir/stat.txt" >&2
             fa_fail "$name: nfcapd counted $got_seq_fail sequence failures, want $want_seq_fail"; }
    [ "$flows" -gt 0 ] || fa_fail "$name: restarted nfcapd decoded no flows"
    [ $((flows % per_round)) -eq 0 ] \
        || fa_fail "$name: restarted nfcapd decoded $flows flows, not whole rounds of $per_round"
    [ "$flows" -eq "$ts_flows" ] \
        || fa_fail "$name: nfcapd decoded $flows flows, the capture after restart holds $ts_flows"
    fa_log "$name: ok ($(refused_count "$dir/tool.err") refused sends, $flows flows after restart," \
        "$got_seq_fail sequence failures as predicted)"
}

run_case ipfix ipfix
run_case v9 v9
fa_log "all cases passed"
