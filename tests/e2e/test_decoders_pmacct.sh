#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# Real-decoder check with pmacct nfacctd: tests/data/records/basic.txt goes through the real
# Exporter and UdpTransport (tests/tools/fa_export_records) to nfacctd on loopback; its print
# plugin (CSV) must show every flow with the sent addresses, source port, protocol, ToS,
# start/end times (IPFIX: ms as sent; v9: whole seconds, see lib/check_pmacct.py), packets and
# bytes. With sampling rate 10 announced in the options data and nfacctd_renormalize on,
# packets and bytes must come out multiplied by 10, for random and deterministic packet
# sampling and hash-based flow selection alike.
# IPFIX and v9. Ground truth: tests/e2e/lib/records.py, from the file.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
build=${FA_BUILD_DIR:?}
src=${FA_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
require_tool nfacctd python3 ss
tool=$build/fa_export_records
[ -x "$tool" ] || fa_fail "missing $tool (build target fa_export_records)"
records=$src/tests/data/records/basic.txt
work=""  # set by fa_tmpdir
fa_tmpdir work
nrec=$(python3 "$here/lib/records.py" "$records" totals | awk '{ print $1 }')

run_case() {
    local name=$1 proto=$2 rate=$3
    shift 3
    local dir=$work/$name port pid
    mkdir -p "$dir"
    port=$(free_udp_port)
    cat >"$dir/nfacctd.conf" <<CONF
daemonize: false
nfacctd_ip: 127.0.0.1
nfacctd_port: $port
nfacctd_renormalize: true
timestamps_secs: false
plugins: print[p]
aggregate[p]: src_host, dst_host, src_port, dst_port, proto, tos, timestamp_start, timestamp_end
print_output[p]: csv
print_output_file[p]: $dir/out.csv
print_output_file_append[p]: true
print_refresh_time[p]: 1
CONF
    bg_start pid nfacctd -f "$dir/nfacctd.conf" >"$dir/nfacctd.log" 2>&1
    wait_for 20 "nfacctd_ready $port '$dir/nfacctd.log'" || fa_fail "$name: nfacctd did not start: $(cat "$dir/nfacctd.log")"
    "$tool" --records "$records" --collector "127.0.0.1:$port" --protocol "$proto" --odid 5 \
        --sampling-rate "$rate" "$@" >"$dir/tool.out" 2>"$dir/tool.err" \
        || fa_fail "$name: fa_export_records failed: $(cat "$dir/tool.err")"
    grep -q '^send_error=0$' "$dir/tool.out" || fa_fail "$name: send errors: $(cat "$dir/tool.out")"
    grep -q '^send_refused=0$' "$dir/tool.out" || fa_fail "$name: refused: $(cat "$dir/tool.out")"
    # The print plugin writes its cache every second; wait for every flow to be written.
    wait_for 15 "[ -f '$dir/out.csv' ] && [ \$(grep -c -v '^SRC_IP' '$dir/out.csv') -ge $nrec ]" \
        || { cat "$dir/nfacctd.log" >&2; fa_fail "$name: nfacctd printed $(grep -c -v '^SRC_IP' "$dir/out.csv" 2>/dev/null || echo 0) of $nrec flows"; }
    # The CSV is complete (waited for above); nfacctd's core ignores TERM/INT when started in
    # the background of a script, so bg_stop ends it with KILL after the timeout.
    bg_stop "$pid" INT 3 || true
    python3 "$here/lib/check_pmacct.py" "$records" "$dir/out.csv" "$rate" "$proto" \
        || { cat "$dir/out.csv" >&2; fa_fail "$name: nfacctd output differs from what was sent"; }
    fa_log "$name: ok"
}

run_case ipfix ipfix 1
run_case v9 v9 1
# 1 in 10 of every kind and mode, each announced with its own algorithm next to
# samplingInterval 34: nfacctd renormalises every one.
for proto in ipfix v9; do
    run_case "${proto}_sampled" "$proto" 10
    run_case "${proto}_sampled_det" "$proto" 10 --sampling-mode deterministic
    run_case "${proto}_sampled_flow" "$proto" 10 --sampling-kind flow
done
fa_log "all cases passed"
