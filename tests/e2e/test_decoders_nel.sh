#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# Real-decoder check of NAT event logging (RFC 8158 NAT44 session create/delete) and biflow
# (RFC 5103) export: tests/data/records/nat.txt (NATed conntrack-style biflow records and NAT
# events) goes through the real Exporter and UdpTransport (tests/tools/fa_export_records
# --nat --nat-events [--biflow]) to tshark (capture on lo), nfcapd/nfdump 1.7.1 and pmacct
# nfacctd; lib/check_nel.py compares each decoder's view with the file (parsed independently
# by lib/records.py): natEvent, observationTimeMilliseconds, pre/post-NAT addresses and ports,
# protocol, forward counters and, for IPFIX biflow, the reverse counters (PEN 29305). What a
# decoder does not show is listed in README ("NAT events and biflow") and in check_nel.py.
# IPFIX with biflow, v9 without (reverse IEs need enterprise numbers). Capturing needs root:
# the tshark cases are skipped otherwise (fail under CI=true).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
build=${FA_BUILD_DIR:?}
src=${FA_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
require_tool tshark dumpcap nfcapd nfdump nfacctd python3 ss
require_root
tool=$build/fa_export_records
[ -x "$tool" ] || fa_fail "missing $tool (build target fa_export_records)"
records=$src/tests/data/records/nat.txt
work=""  # set by fa_tmpdir
fa_tmpdir work

# export NAME PROTO BIFLOW PORT: runs the tool against 127.0.0.1:PORT; prints the messages sent.
export_to() {
    local name=$1 proto=$2 biflow=$3 port=$4 dir=$work/$1
    local args=(--nat --nat-events)
    [ "$biflow" = 1 ] && args+=(--biflow)
    "$tool" --records "$records" --collector "127.0.0.1:$port" --protocol "$proto" --odid 9 \
        "${args[@]}" >"$dir/tool.out" 2>"$dir/tool.err" \
        || fa_fail "$name: fa_export_records failed: $(cat "$dir/tool.err")"
    grep -q '^send_error=0$' "$dir/tool.out" || fa_fail "$name: send errors: $(cat "$dir/tool.out")"
    grep -q '^send_refused=0$' "$dir/tool.out" || fa_fail "$name: refused: $(cat "$dir/tool.out")"
    # 4 NAT events in the file, all IPv4: all four counted as sent.
    grep -q '^nat_events=4$' "$dir/tool.out" || fa_fail "$name: NAT events: $(cat "$dir/tool.out")"
    sed -n 's/^messages=//p' "$dir/tool.out"
}

check() {
    local name=$1
    shift
    python3 "$here/lib/check_nel.py" "$@" || fa_fail "$name: decoder output differs from what was sent"
}

tshark_case() {
    local name=$1 proto=$2 biflow=$3 dir=$work/$1 port sink cap msgs
    mkdir -p "$dir"
    port=$(free_udp_port)
    bg_start sink python3 "$here/lib/udp_sink.py" 127.0.0.1 "$port" "$dir/count"
    wait_for 10 "[ -s '$dir/count' ]" || fa_fail "$name: UDP sink did not start"
    dumpcap_start cap "$dir/cap.pcapng" "$dir/dumpcap.err" lo "udp port $port"
    msgs=$(export_to "$name" "$proto" "$biflow" "$port")
    wait_for 10 "[ \"\$(cat '$dir/count')\" -ge $msgs ]" \
        || fa_fail "$name: sink got $(cat "$dir/count") of $msgs datagrams"
    dumpcap_stop "$cap" "$dir/dumpcap.err" "$msgs"
    bg_stop "$sink" TERM 10 || true
    tshark -r "$dir/cap.pcapng" -d "udp.port==$port,cflow" -V >"$dir/decoded.txt" 2>&1 || true
    if grep -n -i -E "malformed|no template found|\[Expert Info \((Error|Warning)" "$dir/decoded.txt"; then
        fa_fail "$name: tshark reports problems (above)"
    fi
    tshark -r "$dir/cap.pcapng" -d "udp.port==$port,cflow" -T pdml >"$dir/decoded.pdml" \
        2>"$dir/tshark.err" || fa_fail "$name: tshark failed: $(cat "$dir/tshark.err")"
    check "$name" tshark "$records" "$dir/decoded.pdml" "$proto" "$biflow"
    fa_log "$name: ok ($msgs datagrams)"
}

nfdump_case() {
    local name=$1 proto=$2 biflow=$3 dir=$work/$1 port pid
    port=$(free_udp_port)
    nfcapd_start pid "$dir" "$port" 127.0.0.1
    export_to "$name" "$proto" "$biflow" "$port" >/dev/null
    wait_for 5 "udp_recvq_empty $port" || fa_fail "$name: nfcapd did not read its socket"
    nfcapd_stop "$pid"
    [ -n "$(nfcapd_files "$dir")" ] || fa_fail "$name: nfcapd wrote no file: $(cat "$dir/nfcapd.log")"
    grep -q "Sequence Errors: 0, Bad Packets: 0" "$dir/nfcapd.log" \
        || { cat "$dir/nfcapd.log" >&2; fa_fail "$name: nfcapd counted errors"; }
    TZ=UTC nfdump_all "$dir" -q -N \
        -o 'fmt:%pr|%sa|%sp|%da|%dp|%nsa|%nsp|%nda|%ndp|%nevt|%msec|%pkt|%byt|%opkt|%obyt' \
        >"$dir/flows.txt" 2>"$dir/nfdump.err" || fa_fail "$name: nfdump failed: $(cat "$dir/nfdump.err")"
    check "$name" nfdump "$records" "$dir/flows.txt" "$proto" "$biflow"
    fa_log "$name: ok"
}

pmacct_case() {
    local name=$1 proto=$2 biflow=$3 dir=$work/$1 port pid want
    mkdir -p "$dir"
    port=$(free_udp_port)
    cat >"$dir/nfacctd.conf" <<CONF
daemonize: false
nfacctd_ip: 127.0.0.1
nfacctd_port: $port
timestamps_secs: false
plugins: print[p]
aggregate[p]: src_host, dst_host, src_port, dst_port, proto, post_nat_src_host, post_nat_dst_host, post_nat_src_port, post_nat_dst_port, nat_event, timestamp_start
print_output[p]: csv
print_output_file[p]: $dir/out.csv
print_output_file_append[p]: true
print_refresh_time[p]: 1
CONF
    bg_start pid nfacctd -f "$dir/nfacctd.conf" >"$dir/nfacctd.log" 2>&1
    wait_for 20 "nfacctd_ready $port '$dir/nfacctd.log'" \
        || fa_fail "$name: nfacctd did not start: $(cat "$dir/nfacctd.log")"
    export_to "$name" "$proto" "$biflow" "$port" >/dev/null
    want=$(grep -c -E '^(src|nat_event)=' "$records")
    wait_for 15 "[ -f '$dir/out.csv' ] && [ \$(grep -c -v '^SRC_IP' '$dir/out.csv') -ge $want ]" \
        || { grep -v Purging "$dir/nfacctd.log" >&2; cat "$dir/out.csv" >&2 || true
             fa_fail "$name: nfacctd printed fewer than $want rows"; }
    bg_stop "$pid" INT 3 || true
    check "$name" pmacct "$records" "$dir/out.csv" "$proto" "$biflow"
    fa_log "$name: ok"
}

tshark_case tshark_ipfix_biflow ipfix 1
tshark_case tshark_ipfix_uniflow ipfix 0
tshark_case tshark_v9 v9 0
nfdump_case nfdump_ipfix_biflow ipfix 1
nfdump_case nfdump_v9 v9 0
pmacct_case pmacct_ipfix_biflow ipfix 1
pmacct_case pmacct_v9 v9 0
fa_log "all cases passed"
