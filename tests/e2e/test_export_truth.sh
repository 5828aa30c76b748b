#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# Every exported field is what was observed (issue 14), for every source, decoded from what the
# collectors received (captured on the loopback of the agent's namespace):
# 1. conntrack on a masquerading router (lib/nat_topo.sh, IPv4 and IPv6): NATed connections
#    (client -> server) and untranslated ones (client -> the router itself), including two TCP
#    connections opened 1.5 s BEFORE the agent started, exported to a v9 and an IPFIX collector
#    at once. tshark's decode of both streams (lib/check_times.py): per flow, the v9 start/end
#    (unix_secs * 1000 - sysUpTime + FIRST/LAST_SWITCHED) equal the IPFIX
#    flowStart/EndMilliseconds within 1 ms, and the connections opened before the agent start
#    inside the window their connect() ran in (conntrack's own timestamps), in both streams.
# 2. xdp (IPFIX) and tc (v9) on a veth pair: traffic both ways with ToS 0x48, VLAN-tagged
#    frames, TCP, UDP, ICMP and ICMPv6 in IPv4 and IPv6.
# 3. the generator (IPFIX and v9).
# For each stream (lib/check_fields.py, a decoder written from RFC 3954 / 7011): no template
# field is zero in every record unless zero is the truth there (the script names each case),
# a source's templates carry no IE it cannot observe (conntrack: no TCP flags, ToS,
# interfaces, VLAN, direction; xdp: no egressInterface; nobody: MACs, until issue 10), every v9
# FlowSet is a multiple of 4 bytes, IPFIX sets hold whole records; and tshark decodes every
# datagram without a malformed packet or expert warning.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
require_root
require_tool ip nft python3 ping dumpcap tshark ss
build=${FA_BUILD_DIR:?}
[ -x "$build/flowagent" ] || fa_fail "missing $build/flowagent"
PEER=$here/lib/truth_peer.py
now_ms() { echo $(($(date +%s%N) / 1000000)); }
W="" # set by fa_tmpdir
fa_tmpdir W

# decode NAME NS PCAP PORT ABSENT_IES MIN_TEMPLATES: tshark must decode every datagram cleanly;
# then the field check over the raw payloads.
decode() {
    local name=$1 pcap=$2 port=$3 absent=$4 min=$5
    tshark -r "$pcap" -d "udp.port==$port,cflow" -V >"$W/$name.txt" 2>&1 \
        || fa_fail "$name: tshark failed"
    if grep -n -i -E "malformed|no template found|\[Expert Info \((Error|Warning)" "$W/$name.txt"; then
        fa_fail "$name: tshark reports problems (above)"
    fi
    tshark -r "$pcap" -Y "udp.port==$port" -T fields -e udp.payload >"$W/$name.hex" \
        || fa_fail "$name: tshark payloads"
    python3 "$here/lib/check_fields.py" "$name" "$W/$name.hex" --expect-templates "$min" \
        --ie-absent "$absent" | tee "$W/$name.fields" || fa_fail "$name: field check failed (above)"
}

# start_agent NS INI: the agent in namespace NS; returns once it logged "started".
start_agent() {
    bg_start AGENT ip netns exec "$1" "$build/flowagent" -c "$2" 2>"$2.log"
    wait_for 20 "grep -q started '$2.log' || ! kill -0 $AGENT 2>/dev/null" || true
    grep -q started "$2.log" || fa_fail "agent did not start: $(cat "$2.log")"
}
# stop_agent INI: SIGTERM, exit 0; its summary must report no loss, which is what makes the
# exporter statistics' loss counters (IE 164-168) zero in truth.
stop_agent() {
    local rc=0
    bg_stop "$AGENT" TERM 30 || rc=$?
    [ "$rc" -eq 0 ] || fa_fail "flowagent exited $rc: $(cat "$1.log")"
    grep -q "dropped: table full 0 flows 0 packets; source 0 packets, 0 events" "$1.log" \
        || fa_fail "the agent lost packets: $(grep dropped "$1.log")"
    if grep "not sent: " "$1.log" | grep -v -q "not sent: 0 datagrams, 0 records"; then
        fa_fail "the agent did not send everything: $(grep 'not sent' "$1.log")"
    fi
}

# ---- 1. conntrack, NAT and not, v9 and IPFIX at once -----------------------------------------
. "$here/lib/nat_topo.sh"
nat_topo_test fa_tr
nat_topo_v6_up "$C" "$R" "$V" "$S" fa_tr6 || fa_fail "IPv6 topology"
in_r sysctl -qw net.netfilter.nf_conntrack_acct=1 net.netfilter.nf_conntrack_timestamp=1
bg_start SRV_V ip netns exec "$V" python3 "$PEER" serve 10.2.0.2 fd02::2 >"$W/srv_v.out" 2>&1
bg_start SRV_R ip netns exec "$R" python3 "$PEER" serve 10.1.0.1 fd01::1 >"$W/srv_r.out" 2>&1
wait_for 10 "grep -q ready '$W/srv_v.out' && grep -q ready '$W/srv_r.out'" \
    || fa_fail "servers: $(cat "$W"/srv_*.out)"

# Two connections opened before the agent exists: NATed to the server, untranslated to R.
T_OPEN0=$(now_ms)
bg_start HOLD1 ip netns exec "$C" python3 "$PEER" hold 10.1.0.2 40100 10.2.0.2 "$W/close" >"$W/hold1.out" 2>&1
bg_start HOLD2 ip netns exec "$C" python3 "$PEER" hold 10.1.0.2 40101 10.1.0.1 "$W/close" >"$W/hold2.out" 2>&1
wait_for 10 "grep -q open '$W/hold1.out' && grep -q open '$W/hold2.out'" \
    || fa_fail "held connections: $(cat "$W"/hold*.out)"
T_OPEN1=$(now_ms)
sleep 1.5

P_V9=2055
P_IPFIX=4739
bg_start SINK1 ip netns exec "$R" python3 "$here/lib/udp_sink.py" 127.0.0.1 $P_V9 "$W/n_v9"
bg_start SINK2 ip netns exec "$R" python3 "$here/lib/udp_sink.py" 127.0.0.1 $P_IPFIX "$W/n_ipfix"
wait_for 10 "[ -s '$W/n_v9' ] && [ -s '$W/n_ipfix' ]" || fa_fail "UDP sinks did not start"
bg_start CAP ip netns exec "$R" dumpcap -i lo -f "udp port $P_V9 or udp port $P_IPFIX" \
    -w "$W/ct.pcapng" 2>"$W/ct_dumpcap.err"
wait_for 10 "[ -s '$W/ct.pcapng' ]" || fa_fail "dumpcap: $(cat "$W/ct_dumpcap.err")"
cat >"$W/ct.ini" <<INI
[agent]
source = conntrack
[flows]
max_flows = 1024
active_timeout = 600
inactive_timeout = 300
[collector v9]
address = 127.0.0.1:$P_V9
protocol = v9
[collector ipfix]
address = 127.0.0.1:$P_IPFIX
protocol = ipfix
INI
T_AGENT=$(now_ms)
start_agent "$R" "$W/ct.ini"
for dst in 10.2.0.2 10.1.0.1; do
    ip netns exec "$C" ping -q -c 3 -i 0.1 -Q 0x48 "$dst" >/dev/null || fa_fail "ping $dst"
    ip netns exec "$C" python3 "$PEER" burst 10.1.0.2 "$dst" || fa_fail "burst $dst"
done
for dst in fd02::2 fd01::1; do
    ip netns exec "$C" ping -6 -q -c 3 -i 0.1 "$dst" >/dev/null || fa_fail "ping $dst"
    ip netns exec "$C" python3 "$PEER" burst fd01::2 "$dst" || fa_fail "burst $dst"
done
touch "$W/close"
wait "$HOLD1" && wait "$HOLD2" || fa_fail "held connections failed: $(cat "$W"/hold*.out)"
sleep 0.5
stop_agent "$W/ct.ini"
dumpcap_settle "$W/ct_dumpcap.err" 2 || fa_fail "capture did not settle"
bg_stop "$CAP" TERM 10 || true

for p in $P_V9 $P_IPFIX; do
    tshark -r "$W/ct.pcapng" -Y "udp.dstport==$p" -d "udp.port==$p,cflow" -T json \
        --no-duplicate-keys >"$W/ct_$p.json" 2>"$W/tshark.err" || fa_fail "tshark: $(cat "$W/tshark.err")"
done
python3 "$here/lib/check_times.py" "$W/ct_$P_V9.json" "$W/ct_$P_IPFIX.json" \
    --opened-before "6:10.1.0.2:40100" "$T_OPEN0" "$T_OPEN1" "$T_AGENT" \
    --opened-before "6:10.1.0.2:40101" "$T_OPEN0" "$T_OPEN1" "$T_AGENT" | tee "$W/times.txt" \
    || fa_fail "v9 and IPFIX times differ, or a connection opened before the agent is misplaced"
# conntrack observes no TCP flags (6), ToS (5), interfaces (10, 14), VLAN (58), direction (61),
# MACs (56, 80). Data templates with records: v4 and v6, NATed and not (4).
decode ct_v9 "$W/ct.pcapng" $P_V9 5,6,10,14,58,61,56,80 4
decode ct_ipfix "$W/ct.pcapng" $P_IPFIX 5,6,10,14,58,61,56,80 4
# Untranslated connections have their own layouts without any post-NAT field (1024 v4, 1025
# v6: conntrack observes none of the optional fields), NATed ones carry them (1280, 1281).
for n in ct_v9 ct_ipfix; do
    python3 - "$W/$n.fields" <<'PY' || fa_fail "$n: NAT / untranslated layouts wrong (above)"
import re, sys
t = {}
for line in open(sys.argv[1]):
    m = re.search(r"template (\d+): (\d+) records, fields \[([\d, ]*)\]", line)
    if m:
        t[int(m.group(1))] = [int(x) for x in m.group(3).split(",")]
want = {1024: False, 1025: False, 1280: True, 1281: True}
bad = [tid for tid, nat in want.items()
       if tid not in t or any(ie in t[tid] for ie in (225, 226, 227, 228, 281, 282)) != nat]
print("NAT layouts:", {tid: sorted(set(t.get(tid, [])) & {225, 226, 227, 228, 281, 282}) for tid in want})
sys.exit(1 if bad else 0)
PY
done

# ---- 2. xdp (IPFIX) and tc (v9) ---------------------------------------------------------------
A=fa-trA-$$
B=fa-trB-$$
on_exit "ip netns del $A 2>/dev/null"
on_exit "ip netns del $B 2>/dev/null"
. "$here/lib/veth_pair.sh"
mac_a="" mac_b=""  # set by veth_pair_up
veth_pair_up "$A" "$B" || fa_fail "veth pair"
bg_start SRV_B ip netns exec "$B" python3 "$PEER" serve 10.77.0.2 fd77::2 >"$W/srv_b.out" 2>&1
bg_start SRV_A ip netns exec "$A" python3 "$PEER" serve 10.77.0.1 fd77::1 >"$W/srv_a.out" 2>&1
wait_for 10 "grep -q ready '$W/srv_b.out' && grep -q ready '$W/srv_a.out'" || fa_fail "veth servers"

bpf_case() {
    local mode=$1 proto=$2 absent=$3 min=$4 port cap
    port=$(ip netns exec "$B" python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    bg_start SINK ip netns exec "$B" python3 "$here/lib/udp_sink.py" 127.0.0.1 "$port" "$W/n_$mode"
    wait_for 10 "[ -s '$W/n_$mode' ]" || fa_fail "$mode: sink"
    bg_start cap ip netns exec "$B" dumpcap -i lo -f "udp port $port" -w "$W/$mode.pcapng" \
        2>"$W/${mode}_dumpcap.err"
    wait_for 10 "[ -s '$W/$mode.pcapng' ]" || fa_fail "$mode: dumpcap"
    cat >"$W/$mode.ini" <<INI
[agent]
source = $mode
interfaces = vb
[flows]
active_timeout = 60
inactive_timeout = 30
[collector c]
address = 127.0.0.1:$port
protocol = $proto
INI
    start_agent "$B" "$W/$mode.ini"
    # Both directions (B answers A and A answers B), ToS 0x48 everywhere, VLAN both ways.
    ip netns exec "$A" python3 "$PEER" burst 10.77.0.1 10.77.0.2 || fa_fail "$mode: burst v4"
    ip netns exec "$A" python3 "$PEER" burst fd77::1 fd77::2 || fa_fail "$mode: burst v6"
    ip netns exec "$B" python3 "$PEER" burst 10.77.0.2 10.77.0.1 || fa_fail "$mode: burst v4 back"
    ip netns exec "$B" python3 "$PEER" burst fd77::2 fd77::1 || fa_fail "$mode: burst v6 back"
    ip netns exec "$A" ping -q -c 3 -i 0.1 -Q 0x48 10.77.0.2 >/dev/null || fa_fail "$mode: ping"
    ip netns exec "$A" ping -6 -q -c 3 -i 0.1 -Q 0x48 fd77::2 >/dev/null || fa_fail "$mode: ping6"
    ip netns exec "$B" ping -q -c 3 -i 0.1 -Q 0x48 10.77.0.1 >/dev/null || fa_fail "$mode: ping back"
    ip netns exec "$B" ping -6 -q -c 3 -i 0.1 -Q 0x48 fd77::1 >/dev/null || fa_fail "$mode: ping6 back"
    ip netns exec "$A" python3 "$PEER" vlan va "$mac_a" "$mac_b" 10.78.0.1 10.78.0.2 42
    ip netns exec "$A" python3 "$PEER" vlan va "$mac_a" "$mac_b" fd78::1 fd78::2 43
    ip netns exec "$B" python3 "$PEER" vlan vb "$mac_b" "$mac_a" 10.78.0.2 10.78.0.1 44
    ip netns exec "$B" python3 "$PEER" vlan vb "$mac_b" "$mac_a" fd78::2 fd78::1 45
    sleep 0.5
    stop_agent "$W/$mode.ini"
    dumpcap_settle "$W/${mode}_dumpcap.err" 2 || fa_fail "$mode: capture did not settle"
    bg_stop "$cap" TERM 10 || true
    bg_stop "$SINK" TERM 5 || true
    decode "$mode" "$W/$mode.pcapng" "$port" "$absent" "$min"
    check_macs "$mode" "$W/$mode.pcapng" "$port"
}
# check_macs NAME PCAP PORT: every record of the veth carries the MACs of its frame, as tshark
# reads them: frames into vb (ingress) come from va (mac_a), frames out of vb (egress) from vb
# (mac_b); the destination is the other end or a group address (IPv6 neighbour discovery).
check_macs() {
    tshark -r "$2" -d "udp.port==$3,cflow" -Y cflow.srcmac -T fields -E occurrence=a \
        -E aggregator=';' -e cflow.srcmac -e cflow.dstmac -e cflow.direction >"$W/$1.macs" \
        || fa_fail "$1: tshark MAC fields"
    python3 - "$1" "$W/$1.macs" "$mac_a" "$mac_b" <<'PY' || fa_fail "$1: MAC fields (above)"
import sys
name, path, mac_a, mac_b = sys.argv[1], sys.argv[2], sys.argv[3].lower(), sys.argv[4].lower()
n = bad = 0
for line in open(path):
    cols = line.rstrip("\n").split("\t")
    if len(cols) < 3 or not cols[0]:
        continue
    src, dst, dirs = (c.split(";") for c in cols[:3])
    if not (len(src) == len(dst) == len(dirs)):
        print("%s: %d MAC pairs, %d directions in one datagram" % (name, len(src), len(dirs)))
        bad += 1
        continue
    for s, d, di in zip(src, dst, dirs):
        n += 1
        want_src, want_dst = (mac_a, mac_b) if di == "0" else (mac_b, mac_a)
        group = int(d.split(":")[0], 16) & 1
        if s.lower() != want_src or (d.lower() != want_dst and not group):
            print("%s: record with direction %s: MACs %s > %s, want %s > %s (or a group address)"
                  % (name, di, s, d, want_src, want_dst))
            bad += 1
print("%s: %d records with MACs, %d wrong" % (name, n, bad))
sys.exit(1 if bad or n < 10 else 0)
PY
}
# xdp: the ingress hook only: no egressInterface; templates v4 and v6; MACs (veth: an L2
# device).
bpf_case xdp ipfix 14 2
# tc: a layout per direction (ingress without egressInterface, egress without
# ingressInterface): v4 and v6 each way.
bpf_case tc v9 "" 4

# ---- 3. generator ---------------------------------------------------------------------------
for proto in ipfix v9; do
    port=$(free_udp_port)
    bg_start SINK python3 "$here/lib/udp_sink.py" 127.0.0.1 "$port" "$W/n_gen_$proto"
    wait_for 10 "[ -s '$W/n_gen_$proto' ]" || fa_fail "generator: sink"
    dumpcap_start cap "$W/gen_$proto.pcapng" "$W/gen_${proto}_dumpcap.err" lo "udp port $port"
    cat >"$W/gen_$proto.ini" <<INI
[agent]
source = generator
[generator]
flows = 64
packets_per_second = 2000
duration = 1
[collector c]
address = 127.0.0.1:$port
protocol = $proto
INI
    bg_start AGENT "$build/flowagent" -c "$W/gen_$proto.ini" 2>"$W/gen_$proto.ini.log"
    wait_for 20 "grep -q 'generator: done' '$W/gen_$proto.ini.log'" || fa_fail "generator did not finish"
    stop_agent "$W/gen_$proto.ini"
    dumpcap_settle "$W/gen_${proto}_dumpcap.err" 2 || fa_fail "generator: capture did not settle"
    bg_stop "$cap" TERM 10 || true
    bg_stop "$SINK" TERM 5 || true
    # The generator makes no out interface, ToS, VLAN or MACs.
    decode "gen_$proto" "$W/gen_$proto.pcapng" "$port" 5,14,58,56,80 2
done
echo "PASS"
