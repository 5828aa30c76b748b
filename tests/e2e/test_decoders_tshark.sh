#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# Real-decoder check with tshark (Wireshark cflow dissector): the known records in
# tests/data/records/basic.txt go through the real Exporter and UdpTransport
# (tests/tools/fa_export_records) to a UDP sink on loopback while dumpcap captures them; tshark
# must decode every record with the sent values (addresses, ports, proto, ToS, TCP flags,
# ifindexes, direction, VLAN, MACs, packets, octets, absolute start/end, end reason), report no
# malformed packet or expert warning, and see correct sequence numbers (and v9 Count). With
# 1-in-10 sampling of each kind and mode, the sampler options record must say how (selector
# algorithm and its parameters, lib/check_sampling.py) next to samplingInterval 34 = 10.
# IPFIX and v9, IPv4 and IPv6 collectors. Ground truth: tests/e2e/lib/records.py.
# Capturing on lo needs root: skipped otherwise (fails under CI=true).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
build=${FA_BUILD_DIR:?}
src=${FA_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
require_tool tshark dumpcap python3
require_root
tool=$build/fa_export_records
[ -x "$tool" ] || fa_fail "missing $tool (build target fa_export_records)"
records=$src/tests/data/records/basic.txt
work=""  # set by fa_tmpdir
fa_tmpdir work

# run_case NAME PROTO ADDR MAC [tool args...]
run_case() {
    local name=$1 proto=$2 addr=$3 mac=$4
    shift 4
    local dir=$work/$name port caddr sink cap
    mkdir -p "$dir"
    port=$(free_udp_port "$addr")
    case "$addr" in *:*) caddr="[$addr]:$port" ;; *) caddr="$addr:$port" ;; esac
    bg_start sink python3 "$here/lib/udp_sink.py" "$addr" "$port" "$dir/count"
    wait_for 10 "[ -s '$dir/count' ]" || fa_fail "$name: UDP sink did not start"
    dumpcap_start cap "$dir/cap.pcapng" "$dir/dumpcap.err" lo "udp port $port"
    local macarg=()
    [ "$mac" = mac ] && macarg=(--mac)
    "$tool" --records "$records" --collector "$caddr" --protocol "$proto" --odid 7 \
        "${macarg[@]}" "$@" >"$dir/tool.out" 2>"$dir/tool.err" \
        || fa_fail "$name: fa_export_records failed: $(cat "$dir/tool.err")"
    local msgs
    msgs=$(sed -n 's/^messages=//p' "$dir/tool.out")
    [ "${msgs:-0}" -gt 0 ] || fa_fail "$name: no messages sent: $(cat "$dir/tool.out")"
    wait_for 10 "[ \"\$(cat '$dir/count')\" -ge $msgs ]" \
        || fa_fail "$name: sink got $(cat "$dir/count") of $msgs datagrams"
    dumpcap_stop "$cap" "$dir/dumpcap.err" "$msgs"
    bg_stop "$sink" TERM 10 || true
    tshark -r "$dir/cap.pcapng" -d "udp.port==$port,cflow" -T json --no-duplicate-keys \
        >"$dir/decoded.json" 2>"$dir/tshark.err" || fa_fail "$name: tshark failed: $(cat "$dir/tshark.err")"
    local frames
    frames=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$dir/decoded.json")
    [ "$frames" -eq "$msgs" ] || fa_fail "$name: captured $frames datagrams, tool sent $msgs"
    tshark -r "$dir/cap.pcapng" -d "udp.port==$port,cflow" -V >"$dir/decoded.txt" 2>&1 || true
    if grep -n -i -E "malformed|no template found|\[Expert Info \((Error|Warning)" "$dir/decoded.txt"; then
        fa_fail "$name: tshark reports problems (above)"
    fi
    python3 "$here/lib/check_tshark.py" "$records" "$dir/decoded.json" "$proto" 1 "$mac" \
        || { cp "$dir/decoded.txt" "/tmp/fa-tshark-$name.txt" 2>/dev/null || true
             fa_fail "$name: tshark decode differs from what was sent (full decode: /tmp/fa-tshark-$name.txt)"; }
    fa_log "$name: ok ($msgs datagrams)"
}

run_case ipfix4 ipfix 127.0.0.1 mac
run_case v9_4 v9 127.0.0.1 mac
run_case ipfix6 ipfix ::1 nomac
run_case v9_6 v9 ::1 nomac
run_case ipfix_small_mtu ipfix 127.0.0.1 nomac --mtu 300
# The sampling announcement per mode, 1 in 10: algorithm and parameters as tshark reads them.
for proto in ipfix v9; do
    for km in packet:random packet:deterministic flow:random; do
        kind=${km%%:*} mode=${km#*:}
        run_case "${proto}_${kind}_$mode" "$proto" 127.0.0.1 nomac --sampling-rate 10 \
            --sampling-kind "$kind" --sampling-mode "$mode"
        python3 "$here/lib/check_sampling.py" "$work/${proto}_${kind}_$mode/decoded.json" \
            "$proto" "$kind" "$mode" 10 || fa_fail "${proto} $kind $mode: sampling announcement wrong"
    done
done
fa_log "all cases passed"
