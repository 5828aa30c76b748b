#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# Real-decoder check with nfcapd/nfdump 1.7.1: known records (tests/data/records/basic.txt) go
# through the real Exporter and UdpTransport (tests/tools/fa_export_records) to nfcapd on
# loopback; nfdump must show every flow with the sent addresses, ports, protocol, packets,
# bytes, ms times, interfaces, ToS, TCP flags, direction, VLAN (and MACs), and zero sequence
# failures. Cases: IPFIX and v9, collector on 127.0.0.1 and ::1, and sampling: with rate 10
# announced in the options data nfdump multiplies packets and bytes by 10 (nfcapd(1) -s: "the
# announced sampling rate is applied"). Ground truth: tests/e2e/lib/records.py, from the file.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
build=${FA_BUILD_DIR:?}
src=${FA_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
require_tool nfcapd nfdump python3 ss
tool=$build/fa_export_records
[ -x "$tool" ] || fa_fail "missing $tool (build target fa_export_records)"
records=$src/tests/data/records/basic.txt
work=""  # set by fa_tmpdir
fa_tmpdir work

fmt='fmt:%ts|%te|%sa|%da|%sp|%dp|%pr|%pkt|%byt|%in|%out|%tos|%flg|%dir|%svln|%ismc|%idmc'

# A decoding mismatch fails the test but lets the remaining cases run, to show every problem.
failures=0
soft_fail() {
    fa_log "FAIL: $*"
    failures=$((failures + 1))
}

# run_case NAME PROTO BIND RATE MAC [tool args...]
run_case() {
    local name=$1 proto=$2 bind=$3 rate=$4 mac=$5
    shift 5
    local dir=$work/$name port pid caddr before=$failures
    port=$(free_udp_port "$bind")
    nfcapd_start pid "$dir" "$port" "$bind"
    case "$bind" in *:*) caddr="[$bind]:$port" ;; *) caddr="$bind:$port" ;; esac
    local macarg=()
    [ "$mac" = mac ] && macarg=(--mac)
    "$tool" --records "$records" --collector "$caddr" --protocol "$proto" --odid 42 \
        --sampling-rate "$rate" "${macarg[@]}" "$@" >"$dir/tool.out" 2>"$dir/tool.err" \
        || fa_fail "$name: fa_export_records failed: $(cat "$dir/tool.err")"
    grep -q '^send_error=0$' "$dir/tool.out" || fa_fail "$name: send errors: $(cat "$dir/tool.out")"
    grep -q '^send_refused=0$' "$dir/tool.out" || fa_fail "$name: refused: $(cat "$dir/tool.out")"
    # Wait until nfcapd has received everything, judged by its socket's receive queue draining.
    wait_for 5 "udp_recvq_empty $port" || fa_fail "$name: nfcapd did not read its socket"
    nfcapd_stop "$pid"
    [ -n "$(nfcapd_files "$dir")" ] || fa_fail "$name: nfcapd wrote no file: $(cat "$dir/nfcapd.log")"
    # nfcapd's summary line is "Ident: ... Sequence Errors: 0, Bad Packets: 0"; anything else
    # about templates, skipped or bad data is a decoding failure.
    grep -q "Sequence Errors: 0, Bad Packets: 0" "$dir/nfcapd.log" \
        || { cat "$dir/nfcapd.log" >&2; soft_fail "$name: nfcapd counted errors"; }
    if grep -v "Sequence Errors: 0, Bad Packets: 0" "$dir/nfcapd.log" \
        | grep -i -E "no template|skip|error|invalid|corrupt|unknown"; then
        soft_fail "$name: nfcapd complained (log above)"
    fi
    TZ=UTC nfdump_all "$dir" -q -N -6 -o "$fmt" >"$dir/flows.txt" 2>"$dir/nfdump.err" \
        || soft_fail "$name: nfdump failed: $(cat "$dir/nfdump.err")"
    python3 "$here/lib/check_nfdump.py" "$records" "$dir/flows.txt" "$rate" "$mac" "$proto" \
        || { cat "$dir/flows.txt" >&2; soft_fail "$name: nfdump output differs from what was sent"; }
    # Summed over nfcapd's files: a run across its 5-minute rotation leaves two.
    nfdump_stat "$dir" >"$dir/stat.txt" 2>&1 || soft_fail "$name: nfdump -I failed"
    grep -q -E '^Sequence failures:[[:space:]]+0$' "$dir/stat.txt" \
        || { cat "$dir/stat.txt" >&2; soft_fail "$name: sequence failures"; }
    read -r want_flows want_pkts want_bytes < <(python3 "$here/lib/records.py" "$records" totals "$rate")
    grep -q -E "^Flows:[[:space:]]+$want_flows$" "$dir/stat.txt" \
        || { cat "$dir/stat.txt" >&2; soft_fail "$name: flow count != $want_flows"; }
    grep -q -E "^Packets:[[:space:]]+$want_pkts$" "$dir/stat.txt" \
        || { cat "$dir/stat.txt" >&2; soft_fail "$name: packet total != $want_pkts"; }
    grep -q -E "^Bytes:[[:space:]]+$want_bytes$" "$dir/stat.txt" \
        || { cat "$dir/stat.txt" >&2; soft_fail "$name: byte total != $want_bytes"; }
    if [ "$rate" -gt 1 ]; then
        local f
        for f in $(nfcapd_files "$dir"); do nfdump -E "$f"; done >"$dir/exporters.txt" 2>&1 \
            || soft_fail "$name: nfdump -E failed"
        # nfdump 1.7.1 -E prints an exporter-wide sampler as "Sampler: Generic Sampler:
        # algorithm: A, packet interval: 1, packet space: S" where rate = (1 + S) / 1. (A bare
        # word match on the rate would also hit "version: 10" of the exporter line.)
        grep -q -E "Generic Sampler: .*packet interval: 1, packet space: $((rate - 1))\$" \
            "$dir/exporters.txt" \
            || { cat "$dir/exporters.txt" >&2
                 soft_fail "$name: nfdump lists no sampler with rate $rate"; }
    fi
    [ "$failures" -eq "$before" ] || return 0
    fa_log "$name: ok ($want_flows flows, $want_pkts packets, $want_bytes bytes)"
}

# Bad input through the transport: a clear one-line error naming the problem, exit 1/2, no crash.
bad_input() {
    local want=$1 rc=0
    shift
    "$tool" --records "$records" "$@" >"$work/bad.out" 2>"$work/bad.err" || rc=$?
    [ "$rc" -eq 1 ] || [ "$rc" -eq 2 ] || fa_fail "bad input ($*): exit $rc, want 1 or 2"
    grep -q -F "$want" "$work/bad.err" || fa_fail "bad input ($*): '$(cat "$work/bad.err")' lacks '$want'"
}
bad_input "cannot resolve host 'foo.invalid'" --collector foo.invalid:2055
bad_input "bad port" --collector 127.0.0.1:70000
bad_input "write IPv6 as [addr]:port" --collector ::1:2055
bad_input "bad --protocol" --collector 127.0.0.1:2055 --protocol v5

run_case ipfix4 ipfix 127.0.0.1 1 mac
run_case v9_4 v9 127.0.0.1 1 mac
run_case ipfix6 ipfix ::1 1 nomac
run_case v9_6 v9 ::1 1 nomac
# Sampling 1 in 10 of every kind and mode (each announced with its own algorithm, and with
# samplingInterval 34 = 10): nfcapd renormalises every one.
run_case ipfix_sampled ipfix 127.0.0.1 10 nomac --sampling-mode deterministic
run_case v9_sampled v9 127.0.0.1 10 nomac --sampling-mode random
run_case ipfix_sampled_random ipfix 127.0.0.1 10 nomac --sampling-mode random
run_case v9_sampled_det v9 127.0.0.1 10 nomac --sampling-mode deterministic
run_case ipfix_sampled_flow ipfix 127.0.0.1 10 nomac --sampling-kind flow
run_case v9_sampled_flow v9 127.0.0.1 10 nomac --sampling-kind flow
run_case ipfix_small_mtu ipfix 127.0.0.1 1 nomac --mtu 300
[ "$failures" -eq 0 ] || fa_fail "$failures check(s) failed (above)"
fa_log "all cases passed"
