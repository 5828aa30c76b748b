#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The agent's main job end to end, on a fresh Debian 12 machine, with nothing to set up (as root):
#   tests/demo.sh                 # eBPF (XDP) source on a throwaway veth pair
#   tests/demo.sh tc              # tc clsact source instead
#   tests/demo.sh generator       # built-in traffic generator (no root, no kernel source)
# It installs the packages, builds flowagent, creates two network namespaces joined by a veth
# pair, sends known traffic (ping, UDP, a TCP transfer) between them, meters it with flowagent
# and exports IPFIX to a real collector (nfcapd) on the namespace's loopback, then shows the
# flows as nfdump decodes them. Everything it creates is removed at exit.
set -euo pipefail
mode=${1:-xdp}
cd "$(dirname "$0")/.."
src=$(pwd)

if [ "$(id -u)" -eq 0 ] && [ -z "${FA_SKIP_DEPS:-}" ]; then
    bash tests/install-deps.sh
fi
if [ ! -x build/flowagent ]; then
    cmake -S "$src" -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build build -j 2
fi
if [ "$mode" != generator ] && [ "$(id -u)" -ne 0 ]; then
    echo "demo: the $mode source needs root (or run: tests/demo.sh generator)" >&2
    exit 1
fi

work=$(mktemp -d /tmp/flowagent-demo.XXXXXX)
ns_a=fademo-a-$$
ns_b=fademo-b-$$
pids=()
cleanup() {
    for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    ip netns del "$ns_a" 2>/dev/null || true
    ip netns del "$ns_b" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

port=$((20000 + RANDOM % 20000))
in_ns=()
if [ "$mode" = generator ]; then
    cat >"$work/flowagent.ini" <<INI
[agent]
source = generator
[flows]
active_timeout = 60
inactive_timeout = 2
[generator]
flows = 24
packets_per_second = 2000
duration = 3
[collector demo]
address = 127.0.0.1:$port
protocol = ipfix
INI
else
    # Two hosts: A (10.77.0.1, fd77::1) sends to B (10.77.0.2, fd77::2); the agent meters B's
    # veth. The addresses exist only inside these namespaces.
    ip netns add "$ns_a"
    ip netns add "$ns_b"
    ip link add vdemo-a netns "$ns_a" type veth peer name vdemo-b netns "$ns_b"
    ip -n "$ns_a" addr add 10.77.0.1/24 dev vdemo-a
    ip -n "$ns_b" addr add 10.77.0.2/24 dev vdemo-b
    ip -n "$ns_a" addr add fd77::1/64 dev vdemo-a nodad
    ip -n "$ns_b" addr add fd77::2/64 dev vdemo-b nodad
    for ns in "$ns_a" "$ns_b"; do
        ip -n "$ns" link set lo up
    done
    ip -n "$ns_a" link set vdemo-a up
    ip -n "$ns_b" link set vdemo-b up
    in_ns=(ip netns exec "$ns_b")
    cat >"$work/flowagent.ini" <<INI
[agent]
source = $mode
interfaces = vdemo-b
[flows]
active_timeout = 60
inactive_timeout = 5
[collector demo]
address = 127.0.0.1:$port
protocol = ipfix
INI
fi

mkdir -p "$work/flows"
"${in_ns[@]}" nfcapd -w "$work/flows" -p "$port" -b 127.0.0.1 >"$work/nfcapd.log" 2>&1 &
pids+=($!)
"${in_ns[@]}" "$src/build/flowagent" -c "$work/flowagent.ini" 2>"$work/agent.log" &
agent=$!
pids+=("$agent")
# Wait until the agent is up (it logs "started").
for _ in $(seq 100); do grep -q started "$work/agent.log" && break; sleep 0.1; done
if ! grep -q started "$work/agent.log"; then
    cat "$work/agent.log" >&2
    exit 1
fi

if [ "$mode" = generator ]; then
    sleep 4
else
    echo "demo: sending traffic: 5 pings, 3 UDP datagrams, a 200 KB TCP transfer, 3 IPv6 pings"
    ip netns exec "$ns_a" ping -c 5 -i 0.2 -q 10.77.0.2 >/dev/null
    for i in 1 2 3; do
        ip netns exec "$ns_a" bash -c "echo demo-$i > /dev/udp/10.77.0.2/5353" || true
    done
    ip netns exec "$ns_b" iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
    pids+=($!)
    sleep 0.5
    ip netns exec "$ns_a" iperf3 -c 10.77.0.2 -p 5201 -n 200K >/dev/null
    ip netns exec "$ns_a" ping -6 -c 3 -i 0.2 -q fd77::2 >/dev/null
fi

kill -TERM "$agent"
wait "$agent" || { echo "demo: flowagent exited with an error" >&2; cat "$work/agent.log" >&2; exit 1; }
sleep 0.5
kill -TERM "${pids[0]}"
wait "${pids[0]}" 2>/dev/null || true
echo
echo "demo: flowagent log:"
sed 's/^/  /' "$work/agent.log"
echo
echo "demo: flows decoded by nfdump (a real IPFIX collector):"
nfdump -R "$work/flows" -o extended -q | sed 's/^/  /'
echo
nfdump -R "$work/flows" -I | grep -E 'Flows:|Packets:|Bytes:|Sequence failures' | sed 's/^/  /'
