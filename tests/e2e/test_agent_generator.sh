#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The whole agent (config -> generator source -> flow table -> IPFIX and v9 exporters -> UDP)
# against two real collectors at once: nfcapd receives IPFIX, a second nfcapd receives v9.
# Ground truth comes from the generator's packet formula, computed here in Python, not from the
# agent. Checks: total flows, packets and octets equal on both collectors; zero sequence
# failures; SIGTERM exits 0 after flushing every flow; the JSON output (--print) agrees.
set -euo pipefail
build=${FA_BUILD_DIR:?}
for t in nfcapd nfdump python3; do
    command -v "$t" >/dev/null || { echo "missing tool: $t" >&2; exit 1; }
done
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
p1=$(free_port)
p2=$(free_port)
flows=40
pps=3000
duration=2
cat >"$work/agent.ini" <<INI
[agent]
source = generator
observation_domain = 7
[flows]
max_flows = 1024
active_timeout = 60
inactive_timeout = 30
[generator]
flows = $flows
packets_per_second = $pps
duration = $duration
[collector ipfix]
address = 127.0.0.1:$p1
protocol = ipfix
[collector v9]
address = 127.0.0.1:$p2
protocol = v9
observation_domain = 8
INI
mkdir -p "$work/ipfix" "$work/v9"
nfcapd -w "$work/ipfix" -p "$p1" -b 127.0.0.1 >"$work/nfcapd1.log" 2>&1 &
pids+=($!)
nfcapd -w "$work/v9" -p "$p2" -b 127.0.0.1 >"$work/nfcapd2.log" 2>&1 &
pids+=($!)
sleep 0.5

"$build/flowagent" -c "$work/agent.ini" --print >"$work/records.json" 2>"$work/agent.log" &
agent=$!
# Wait for the generator to finish (it logs "generator: done").
for _ in $(seq 200); do grep -q "generator: done" "$work/agent.log" && break; sleep 0.1; done
grep -q "generator: done" "$work/agent.log" || { cat "$work/agent.log"; exit 1; }
kill -TERM "$agent"
rc=0
wait "$agent" || rc=$?
[ "$rc" -eq 0 ] || { echo "flowagent exited $rc"; cat "$work/agent.log"; exit 1; }
sleep 0.5
kill -TERM "${pids[0]}" "${pids[1]}"
wait "${pids[0]}" "${pids[1]}" 2>/dev/null || true

read -r want_flows want_pkts want_bytes < <(python3 - "$flows" "$pps" "$duration" <<'PY'
import sys
flows, pps, dur = map(int, sys.argv[1:])
n = pps * dur
print(min(flows, n), n, sum(60 + (i * 37) % 1400 for i in range(n)))
PY
)
echo "ground truth: $want_flows flows, $want_pkts packets, $want_bytes bytes"

fail=0
for proto in ipfix v9; do
    stats=$(nfdump -R "$work/$proto" -I)
    got_flows=$(awk '/^Flows:/ {print $2}' <<<"$stats")
    got_pkts=$(awk '/^Packets:/ {print $2}' <<<"$stats")
    got_bytes=$(awk '/^Bytes:/ {print $2}' <<<"$stats")
    seqfail=$(awk '/^Sequence failures:/ {print $3}' <<<"$stats")
    echo "$proto: flows=$got_flows packets=$got_pkts bytes=$got_bytes sequence_failures=${seqfail:-?}"
    [ "$got_flows" = "$want_flows" ] || { echo "FAIL $proto flows"; fail=1; }
    [ "$got_pkts" = "$want_pkts" ] || { echo "FAIL $proto packets"; fail=1; }
    [ "$got_bytes" = "$want_bytes" ] || { echo "FAIL $proto bytes"; fail=1; }
    [ "${seqfail:-x}" = "0" ] || { echo "FAIL $proto sequence failures"; fail=1; }
done

# The JSON lines printed with --print carry the same totals.
read -r jf jp jb < <(python3 - "$work/records.json" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(len(recs), sum(r["packets"] for r in recs), sum(r["octets"] for r in recs))
PY
)
echo "json: records=$jf packets=$jp octets=$jb"
[ "$jf" = "$want_flows" ] && [ "$jp" = "$want_pkts" ] && [ "$jb" = "$want_bytes" ] || { echo "FAIL json totals"; fail=1; }
[ "$fail" -eq 0 ] || { cat "$work/agent.log"; exit 1; }
echo "PASS"
