#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# How long a `flowagent flows` snapshot holds the event loop (a benchmark: reports numbers,
# asserts nothing; not in ctest). No root needed.
# Usage: tests/bench/control_stall.sh [BUILD_DIR] [FLOWS]     (defaults: build, 1000000)
#
# The agent runs the generator source with FLOWS distinct flows (max_flows = the next power of
# two, long timeouts) until it is done, then for each grouping runs `flowagent flows --top 10`
# and reads `status --json`: control.max_snapshot_step_cpu_us / _us is the longest single step
# of that snapshot (a walk of table buckets, the budget adapted to about 1 ms of CPU, plus the
# final sort and render) in CPU and wall time, i.e. the longest the tick and the source waited
# for it; loop.max_dispatch_us is the longest dispatch of the whole
# loop since the previous status (it includes the agent's own tick and whatever else this
# machine's scheduler did meanwhile, so it is noisy on a shared machine).
set -euo pipefail
build=${1:-build}
flows=${2:-1000000}
bin=$build/flowagent
[ -x "$bin" ] || { echo "control_stall: no $bin" >&2; exit 1; }
work=$(mktemp -d)
agent=""
cleanup() {
    [ -n "$agent" ] && kill "$agent" 2>/dev/null && wait "$agent" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
cap=1
while [ "$cap" -lt "$flows" ]; do cap=$((cap * 2)); done
sock=$work/fa.sock
cat >"$work/agent.ini" <<INI
[agent]
source = generator
control_socket = $sock
[flows]
max_flows = $cap
active_timeout = 3600
inactive_timeout = 3600
[generator]
flows = $flows
packets_per_second = 1000000
duration = 2
[collector main]
address = 127.0.0.1:9
INI
"$bin" -c "$work/agent.ini" 2>"$work/agent.log" &
agent=$!
for _ in $(seq 300); do
    grep -q "generator: done" "$work/agent.log" && break
    sleep 0.1
done
grep -q "generator: done" "$work/agent.log" || { echo "control_stall: generator did not finish" >&2; exit 1; }
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
"$bin" status --socket "$sock" --json >/dev/null  # resets the loop maximum
sleep 2
idle=$("$bin" status --socket "$sock" --json | field 'd["loop"]["max_dispatch_us"]')
held=$("$bin" status --socket "$sock" --json | field 'd["flow_table"]["flows"]')
echo "control_stall: $held flows in the table (capacity $cap); idle loop, 2 s: longest dispatch $idle us"
for g in flow src dst pair port proto; do
    t0=$(date +%s%N)
    "$bin" flows --socket "$sock" --top 10 --group-by "$g" >/dev/null
    t1=$(date +%s%N)
    "$bin" status --socket "$sock" --json >"$work/st.json"
    steps_before=${steps:-0}
    steps=$(field 'd["control"]["snapshot_steps"]' <"$work/st.json")
    printf 'control_stall: flows --top 10 --group-by %-5s %4d ms answer, %3d steps, longest step %5s us CPU, %5s us wall; loop max %6s us\n' \
        "$g" $(((t1 - t0) / 1000000)) $((steps - steps_before)) \
        "$(field 'd["control"]["max_snapshot_step_cpu_us"]' <"$work/st.json")" \
        "$(field 'd["control"]["max_snapshot_step_us"]' <"$work/st.json")" \
        "$(field 'd["loop"]["max_dispatch_us"]' <"$work/st.json")"
done
