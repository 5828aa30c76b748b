#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# The real agent end to end: flowagent with the eBPF source (xdp mode exporting IPFIX, tc mode
# exporting NetFlow v9) on one side of a veth pair between two namespaces, exporting to nfcapd
# on that namespace's 127.0.0.1. Known traffic from A to B (UDP v4/v6, raw VLAN 42 frames, ICMP
# echo, a TCP connection with handshake and FIN). Ground truth is an independent capture on
# the metered interface (dumpcap, decoded by tshark). Per flow (summed per 5-tuple+ifIndex
# when the agent split a flow into several records) the packets, bytes, addresses, ports,
# protocol, input/output ifIndex and TCP flags nfdump decoded must equal the capture exactly,
# and nfdump -I must report zero sequence failures.
# Then deterministic 1-in-10 sampling (xdp, IPFIX): the packets seen x 10 must be within
# 10 x (possible CPUs) of the true total (bound argued at the check).
set -euo pipefail
build=${FA_BUILD_DIR:?}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
require_root
require_tool ip dumpcap tshark python3 ping nfcapd nfdump ss
[ -x "$build/flowagent" ] || fa_fail "missing $build/flowagent"

A=fa-agA-$$
B=fa-agB-$$
work="" agent_pid="" nfcapd_pid="" collector_port="" nfiles=""  # set by the helpers below
fa_tmpdir work
on_exit "ip netns del $A 2>/dev/null"
on_exit "ip netns del $B 2>/dev/null"

. "$(dirname "$0")/lib/veth_pair.sh"
veth_pair_up "$A" "$B"

# in_b CMD...: run in B (where the agent, nfcapd and the capture live).
in_b() { ip netns exec "$B" "$@"; }
# Port checks must look inside B, where nfcapd binds.
b_port_bound() { in_b ss -Hlun "sport = :$1" 2>/dev/null | grep -q .; }
b_recvq_empty() {
    local q
    q=$(in_b ss -Hlun "sport = :$1" 2>/dev/null | awk '{ s += $2 } END { print s + 0 }')
    [ "$q" -eq 0 ]
}

traffic() {
    local srv
    bg_start srv ip netns exec "$B" python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.0.2", 9100)); s.listen(1); print("listening", flush=True)
c, _ = s.accept()
while c.recv(4096): pass
c.close()' >"$work/srv.log" 2>&1
    wait_for 10 "grep -q listening '$work/srv.log'" || fa_fail "tcp server did not start"
    ip netns exec "$A" python3 - <<'PY'
import socket, time
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(200): u.sendto(b"x" * 300, ("10.77.0.2", 9000))
u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for i in range(100): u6.sendto(b"y" * 500, ("fd77::2", 9001))
t = socket.create_connection(("10.77.0.2", 9100))
t.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for i in range(10):
    t.send(b"z" * 100); time.sleep(0.01)
t.close()
PY
    ip netns exec "$A" ping -q -c 5 -i 0.05 10.77.0.2 >/dev/null
    ip netns exec "$A" ping -q -c 4 -i 0.05 fd77::2 >/dev/null
    # 50 VLAN 42 tagged IPv4/UDP frames (100 bytes payload: IP total length 128), written raw.
    ip netns exec "$A" python3 - "$mac_a" "$mac_b" <<'PY'
import socket, struct, sys
src, dst = (bytes.fromhex(m.replace(":", "")) for m in sys.argv[1:3])
udp = struct.pack("!HHHH", 9002, 9002, 108, 0) + b"v" * 100
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 128, 1, 0, 64, 17, 0,
                 socket.inet_aton("10.78.0.1"), socket.inet_aton("10.78.0.2"))
frame = dst + src + struct.pack("!HH", 0x8100, 42) + struct.pack("!H", 0x0800) + ip + udp
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("va", 0))
for i in range(50): s.send(frame)
PY
    wait "$srv" || fa_fail "tcp server failed: $(cat "$work/srv.log")"
}

# start_agent DIR MODE PROTO [SAMPLING_INI]: nfcapd + flowagent in B; returns when both are up.
start_agent() {
    local dir=$1 mode=$2 proto=$3 extra=${4:-} port
    mkdir -p "$dir/flows"
    port=$(in_b python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
    bg_start nfcapd_pid ip netns exec "$B" nfcapd -4 -w "$dir/flows" -p "$port" -b 127.0.0.1 \
        >"$dir/nfcapd.log" 2>&1
    wait_for 10 "b_port_bound $port" || fa_fail "nfcapd did not bind: $(cat "$dir/nfcapd.log")"
    cat >"$dir/agent.ini" <<INI
[agent]
source = $mode
interfaces = vb
[flows]
active_timeout = 60
inactive_timeout = 30
$extra
[collector c]
address = 127.0.0.1:$port
protocol = $proto
INI
    bg_start agent_pid ip netns exec "$B" "$build/flowagent" -c "$dir/agent.ini" 2>"$dir/agent.log"
    # Up when it logs "started"; stop waiting early if it exits instead.
    wait_for 20 "grep -q started '$dir/agent.log' || ! kill -0 $agent_pid 2>/dev/null" || true
    if ! grep -q started "$dir/agent.log"; then
        fa_fail "agent did not start: $(cat "$dir/agent.log")"
    fi
    collector_port=$port
}

# stop_agent DIR: SIGTERM (the agent flushes every flow and must exit 0), then let nfcapd
# read every datagram before it is stopped (it closes its file on SIGTERM).
stop_agent() {
    local dir=$1 rc=0
    bg_stop "$agent_pid" TERM 30 || rc=$?
    [ "$rc" -eq 0 ] || fa_fail "flowagent exited $rc: $(cat "$dir/agent.log")"
    wait_for 10 "b_recvq_empty $collector_port" || fa_fail "nfcapd did not drain its socket"
    bg_stop "$nfcapd_pid" TERM 10 || true
    nfiles=$(nfcapd_files "$dir/flows" | wc -l)
    [ "$nfiles" -ge 1 ] || fa_fail "nfcapd wrote no file: $(cat "$dir/nfcapd.log")"
}

# nf_dump DIR: every record nfcapd stored, one line per record (-6: full IPv6 addresses,
# -N: plain numbers; the columns are what check_agent_bpf.py parses).
nf_dump() {
    TZ=UTC nfdump_all "$1/flows" -6 -q -N -o 'fmt:%pr|%sa|%sp|%da|%dp|%in|%out|%pkt|%byt|%flg'
}

# seq_failures DIR: "Sequence failures" summed over every file nfcapd wrote.
seq_failures() {
    local n
    n=$(nfdump_stat "$1/flows" | sed -n 's/^Sequence failures: //p')
    [ -n "$n" ] || fa_fail "nfdump -I printed no sequence failure count in $1/flows"
    echo "$n"
}

# run_mode MODE PROTO: capture + agent + traffic, then the per-flow comparison.
run_mode() {
    local mode=$1 proto=$2 dir="$work/$1" cap
    mkdir -p "$dir"
    bg_start cap ip netns exec "$B" dumpcap -i vb -w "$dir/cap.pcapng" 2>"$dir/dumpcap.log"
    wait_for 10 "[ -s '$dir/cap.pcapng' ]" \
        || fa_fail "dumpcap did not start: $(cat "$dir/dumpcap.log")"
    start_agent "$dir" "$mode" "$proto"
    traffic
    # Every frame the capture shows has already passed the hooks (XDP and tc ingress run before
    # the frame reaches a packet socket on receive; tc egress before the tap on transmit).
    dumpcap_settle "$dir/dumpcap.log" 300 \
        || fa_fail "capture did not settle: $(cat "$dir/dumpcap.log")"
    stop_agent "$dir"
    bg_stop "$cap" TERM 10 || true
    tshark -r "$dir/cap.pcapng" -T fields -E separator=, -E aggregator=';' -e eth.src -e vlan.id \
        -e ip.proto -e ip.src -e ip.dst -e ip.len -e ipv6.nxt -e ipv6.src -e ipv6.dst -e ipv6.plen \
        -e tcp.srcport -e tcp.dstport -e udp.srcport -e udp.dstport -e icmp.type -e icmp.code \
        -e icmpv6.type -e icmpv6.code -e tcp.flags >"$dir/truth.csv"
    nf_dump "$dir" >"$dir/nfdump.txt"
    local sf
    sf=$(seq_failures "$dir")
    python3 "$here/lib/check_agent_bpf.py" "$mode" "$mac_a" "$ifindex" "$dir/truth.csv" \
        "$dir/nfdump.txt" | tee "$dir/check.txt" || {
        fa_log "agent log:"; cat "$dir/agent.log" >&2
        fa_log "nfdump:"; cat "$dir/nfdump.txt" >&2
        fa_fail "$mode/$proto: flows differ from the capture"
    }
    echo "$mode/$proto: nfdump -I sequence failures: $sf (files: $nfiles)"
    [ "$sf" -eq 0 ] || fa_fail "$mode/$proto: $sf sequence failures"
}

run_mode xdp ipfix
run_mode tc v9

# Deterministic 1-in-10 sampling, xdp, IPFIX. The program keeps one counter per CPU (a fresh
# per-CPU map per agent start) and selects every 10th frame that CPU sees, before parsing. So
# on each CPU c that saw n_c frames, selected_c x 10 differs from n_c by less than 10, and over
# all C possible CPUs |selected x 10 - total| < 10 x C. Every frame counts, so A's IPv6 is
# disabled first (no MLD/RS chatter) and the neighbours are static (no ARP): the only frames
# on vb are the 5000 datagrams, which the capture confirms.
possible=$(awk -F- '{ print ($2 == "" ? 1 : $2 + 1) }' /sys/devices/system/cpu/possible)
ip netns exec "$A" sysctl -qw net.ipv6.conf.va.disable_ipv6=1
dir="$work/sampling"
mkdir -p "$dir"
bg_start cap ip netns exec "$B" dumpcap -i vb -w "$dir/cap.pcapng" 2>"$dir/dumpcap.log"
wait_for 10 "[ -s '$dir/cap.pcapng' ]" || fa_fail "dumpcap did not start"
start_agent "$dir" xdp ipfix $'[sampling]\nrate = 10\nmode = deterministic'
ip netns exec "$A" python3 -c '
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(5000): u.sendto(b"s" * 64, ("10.77.0.2", 9555))'
dumpcap_settle "$dir/dumpcap.log" 5000 || fa_fail "capture did not settle"
stop_agent "$dir"
bg_stop "$cap" TERM 10 || true
# Ground truth: every frame that arrived on vb (sent by A); XDP sees nothing else. B's ICMP
# port unreachables go out, not in.
true_total=$(tshark -r "$dir/cap.pcapng" -Y "eth.src == $mac_a" -T fields -e frame.number | wc -l)
ours=$(tshark -r "$dir/cap.pcapng" -Y "eth.src == $mac_a && udp.dstport == 9555" -T fields \
    -e frame.number | wc -l)
nf_dump "$dir" >"$dir/nfdump.txt"
sf=$(seq_failures "$dir")
[ "$sf" -eq 0 ] || fa_fail "sampling: $sf sequence failures"
[ "$true_total" -eq "$ours" ] \
    || fa_fail "sampling: $((true_total - ours)) stray frames arrived on vb"
# nfcapd learned the rate from the agent's sampling announcement (interval 1 + space 9 = 1 in
# 10) and nfdump prints counters already multiplied by it: the estimate. The seen count is
# the estimate / 10, cross-checked with the agent's own exported-packets total.
for f in $(nfcapd_files "$dir/flows"); do nfdump -E "$f"; done >"$dir/exporters.txt"
grep -q "packet interval: 1, packet space: 9" "$dir/exporters.txt" \
    || fa_fail "sampling 1/10 not announced to nfcapd: $(cat "$dir/exporters.txt")"
estimate=$(awk -F'|' '{ p += $8 } END { print p + 0 }' "$dir/nfdump.txt")
[ $((estimate % 10)) -eq 0 ] || fa_fail "sampling: nfdump total $estimate is not a multiple of 10"
seen=$((estimate / 10))
agent_seen=$(sed -n 's/.*records exported (\([0-9]*\) packets.*/\1/p' "$dir/agent.log")
[ "$seen" = "$agent_seen" ] \
    || fa_fail "sampling: nfdump shows $seen packets seen, agent exported $agent_seen"
bound=$((10 * possible))
diff=$((seen * 10 - true_total))
echo "sampling 1/10 deterministic: $true_total frames arrived, $seen seen, estimate" \
    "$((seen * 10)) (nfdump), |diff| $diff, bound < $bound (10 x $possible possible CPUs)," \
    "sequence failures $sf"
[ "${diff#-}" -lt "$bound" ] || fa_fail "sampling: estimate off by $diff (bound < $bound)"
[ "$seen" -gt 0 ] || fa_fail "sampling: nothing seen"
echo "PASS"
