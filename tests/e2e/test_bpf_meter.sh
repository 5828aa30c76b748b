#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# The BPF source on real traffic, in xdp mode and in tc mode: two namespaces joined by a veth
# pair (VLAN 42 frames written raw: this kernel has no 8021q), known traffic from A to B (UDP v4/v6/VLAN-tagged, ICMP
# echo, a TCP connection with handshake and FIN). bpf_meter (the real BpfSource: attach, drain
# every 100 ms, detach and final drain on SIGTERM) runs on B's veth. Ground truth is an
# independent capture on the same interface (dumpcap, decoded by tshark): per flow, packets,
# octets, addresses, ports, protocol, VLAN, ifIndex, direction and TCP flags must be equal.
# Then 1-in-10 random sampling: count x 10 within 6 standard deviations of what was sent.
set -euo pipefail
build=${FA_BUILD_DIR:?}
if [ "$(id -u)" -ne 0 ]; then
    [ "${CI:-}" = true ] && { echo "needs root" >&2; exit 1; }
    exit 77
fi
for t in ip dumpcap tshark python3 ping; do
    command -v "$t" >/dev/null || { echo "missing tool: $t" >&2; exit 1; }
done
[ -x "$build/bpf_meter" ] || { echo "missing $build/bpf_meter" >&2; exit 1; }

A=fa-bpfA-$$
B=fa-bpfB-$$
work=$(mktemp -d)
export FA_RUN_DIR=$work/run  # bpf_meter's run directory (the interface owner locks)
pids=()
cleanup() {
    # Every background job, including ones not in pids (a crash-recovery meter that a failed
    # check left running): otherwise `wait` below would wait for it forever.
    for p in "${pids[@]:-}" $(jobs -p); do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

. "$(dirname "$0")/lib/veth_pair.sh"
veth_pair_up "$A" "$B"

wait_for() {  # wait_for FILE PATTERN: bounded poll (10 s)
    for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    echo "timeout waiting for '$2' in $1" >&2; cat "$1" >&2 || true; return 1
}

traffic() {
    ip netns exec "$B" python3 - >"$work/srv.log" 2>&1 <<'PY' &
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.0.2", 9100)); s.listen(1); print("listening", flush=True)
c, _ = s.accept()
while c.recv(4096): pass
c.close()
PY
    local srv=$!
    wait_for "$work/srv.log" listening
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
    # 50 VLAN 42 tagged IPv4/UDP frames (100 bytes payload: IP total length 128).
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
    wait "$srv"
}

# run_mode MODE: meter + capture + traffic, then compare.
run_mode() {
    local mode=$1
    rm -f "$work/cap.pcapng"
    ip netns exec "$B" dumpcap -q -i vb -w "$work/cap.pcapng" >"$work/dumpcap.log" 2>&1 &
    local cap=$!
    pids+=("$cap")
    for _ in $(seq 100); do [ -s "$work/cap.pcapng" ] && break; sleep 0.1; done
    ip netns exec "$B" "$build/bpf_meter" "$mode" vb >"$work/meter.csv" 2>"$work/meter.log" &
    local meter=$!
    pids+=("$meter")
    wait_for "$work/meter.log" ready
    traffic
    sleep 0.3  # let the last replies reach the capture; the meter has no such need
    kill -TERM "$meter"
    wait "$meter" || { echo "bpf_meter failed"; cat "$work/meter.log"; return 1; }
    kill -TERM "$cap"; wait "$cap" 2>/dev/null || true
    tshark -r "$work/cap.pcapng" -T fields -E separator=, -E aggregator=';' -e eth.src -e vlan.id -e ip.proto \
        -e ip.src -e ip.dst -e ip.len -e ip.dsfield -e ipv6.nxt -e ipv6.src -e ipv6.dst \
        -e ipv6.plen -e ipv6.tclass -e tcp.srcport -e tcp.dstport -e udp.srcport \
        -e udp.dstport -e icmp.type -e icmp.code -e icmpv6.type -e icmpv6.code -e tcp.flags \
        >"$work/truth.csv"
    python3 - "$mode" "$mac_a" "$ifindex" "$work/truth.csv" "$work/meter.csv" <<'PY'
import sys, collections
mode, mac_a, ifx, truth_f, meter_f = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
want = collections.defaultdict(lambda: [0, 0, 0])
for line in open(truth_f):
    # Multiple occurrences (the inner header of an ICMP error) are ';'-joined: the outer
    # header is the first.
    f = [x.split(";")[0] for x in line.rstrip("\n").split(",")]
    (src_mac, vlan, p4, s4, d4, len4, ds4, nxt6, s6, d6, plen6, tc6,
     tsp, tdp, usp, udp_, it, ic, i6t, i6c, tflags) = f[:21]
    ingress = src_mac.lower() == mac_a.lower()
    if mode == "xdp" and not ingress:
        continue
    if s4:
        proto, src, dst, octets = int(p4), s4, d4, int(len4)
        tos = int(ds4, 16) if ds4.startswith("0x") else int(ds4 or 0)
    elif s6:
        # The upper-layer protocol after any extension chain (tshark's ipv6.nxt is only the
        # fixed header's): taken from which L4 dissector ran.
        proto = 58 if i6t else 6 if tsp else 17 if usp else int(nxt6.split(";")[-1])
        src, dst, octets = s6, d6, int(plen6) + 40
        tos = int(tc6, 16) if tc6.startswith("0x") else int(tc6 or 0)
    else:
        continue  # ARP etc.: not flows
    sp = dp = 0
    if proto == 6: sp, dp = int(tsp), int(tdp)
    elif proto == 17: sp, dp = int(usp), int(udp_)
    elif proto == 1: dp = int(it.split(";")[0]) << 8 | int(ic.split(";")[0])
    elif proto == 58: dp = int(i6t.split(";")[0]) << 8 | int(i6c.split(";")[0])
    vid = int(vlan.split(";")[0]) if vlan else 0
    key = (proto, src, sp, dst, dp, ifx if ingress else 0, 0 if ingress else ifx,
           0 if ingress else 1, vid, tos)
    w = want[key]
    w[0] += 1; w[1] += octets
    if tflags: w[2] |= int(tflags, 16) & 0xff
got = {}
for line in open(meter_f):
    f = line.strip().split(",")
    key = (int(f[0]), f[1], int(f[2]), f[3], int(f[4]), int(f[5]), int(f[6]), int(f[7]),
           int(f[8]), int(f[9]))
    got[key] = [int(f[10]), int(f[11]), int(f[12])]
# Compare the generated traffic; the kernel's own chatter (MLD, router solicitations to
# link-local/multicast addresses) may start before the meter attaches and is left out.
ours = lambda k: any(a.startswith(("10.77.", "10.78.", "fd77:")) for a in (k[1], k[3]))
want = {k: v for k, v in want.items() if ours(k)}
got = {k: v for k, v in got.items() if ours(k)}
bad = 0
for k in sorted(set(want) | set(got), key=str):
    w, g = want.get(k), got.get(k)
    ok = w == g
    bad += not ok
    print(("ok  " if ok else "BAD ") + f"{mode} {k}: truth={w} meter={g}")
tp = sum(v[0] for v in want.values())
print(f"{mode}: {len(want)} flows, {tp} packets in ground truth; mismatches: {bad}")
sys.exit(1 if bad or tp < 300 else 0)
PY
}

run_mode xdp
run_mode tc

# Exact drain under load: two senders flood B as fast as this machine allows for 3 s while the
# meter drains every 100 ms. Ground truth: B's own UDP stack (per-namespace /proc/net/snmp
# Udp NoPorts: nothing listens on 9600/9601), which counts every datagram XDP passed.
noports() { ip netns exec "$B" awk '/^Udp:/ { if (h) { print $3; exit } h = 1 }' /proc/net/snmp; }
[ "$(ip netns exec "$B" awk '/^Udp:/ { print $3; exit }' /proc/net/snmp)" = NoPorts ]
ip netns exec "$B" "$build/bpf_meter" xdp vb >"$work/meter.csv" 2>"$work/meter.log" &
meter=$!
pids+=("$meter")
wait_for "$work/meter.log" ready
before=$(noports)
for port in 9600 9601; do
    ip netns exec "$A" python3 -c '
import socket, sys, time
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.connect(("10.77.0.2", int(sys.argv[1])))
end, n, m = time.time() + 3, 0, b"f" * 18
while time.time() < end:
    for i in range(1000):
        try: u.send(m); n += 1
        except OSError: pass
print(n)' "$port" >"$work/flood.$port" &
    pids+=($!)
done
wait "${pids[-1]}" "${pids[-2]}"
kill -TERM "$meter"
wait "$meter"
after=$(noports)
truth=$((after - before))
sent=$(( $(cat "$work/flood.9600") + $(cat "$work/flood.9601") ))
got=$(awk -F, '$1 == 17 && ($5 == 9600 || $5 == 9601) { p += $11; o += $12 } END { print p + 0, o + 0 }' "$work/meter.csv")
ticks=$(sed -n 's/^ticks \([0-9]*\).*/\1/p' "$work/meter.log")
echo "flood: sent $sent, B's UDP stack received $truth, meter counted $got (packets octets), $ticks drains"
[ "${got% *}" -eq "$truth" ] || { echo "FAIL: drain not exact under load"; exit 1; }
[ "${got#* }" -eq $((truth * 46)) ] || { echo "FAIL: octets"; exit 1; }
[ "$truth" -gt 10000 ] || { echo "FAIL: too little traffic to prove anything"; exit 1; }

# Crash recovery. Through BPF links (XDP links, tcx) the hooks die with the process: nothing is
# left after SIGKILL. Netlink XDP and clsact (kernels without links, forced here with
# FA_BPF_NO_XDP_LINK / FA_BPF_NO_TCX): SIGKILL leaves the programs attached; the next start
# replaces its own stale programs (no stacking, no failure). A clean exit leaves nothing behind
# in every mode. The owner locks live in the run directory of bpf_meter's default config.
# links_of IDS...: BPF links holding one of these programs (the ids bpf_meter's owner record
# names; other tests on the machine may hold links of their own). A link closed a moment ago
# may still be listed (freed after an RCU grace): links_gone waits up to 5 s.
links_of() {
    python3 - "$@" <<'PY'
import json, subprocess, sys
ids = {int(x) for x in sys.argv[1:] if int(x)}
links = json.loads(subprocess.run(["bpftool", "-j", "link", "show"], capture_output=True,
                                  text=True, check=True).stdout or "[]")
print(sum(1 for l in links if l.get("prog_id") in ids))
PY
}
lock_ids() { sed -n 's/.* ids \([0-9]*\) \([0-9]*\)$/\1 \2/p' "$FA_RUN_DIR/bpf-vb.lock"; }
links_gone() {
    local _
    for _ in $(seq 50); do
        # shellcheck disable=SC2086 # a list of ids
        [ "$(links_of $1)" -eq 0 ] && return 0
        sleep 0.1
    done
    return 1
}
for mode in xdp xdp-legacy tc tcx; do
    arg=${mode%-legacy} env=()
    [ "$mode" = xdp-legacy ] && env=(FA_BPF_NO_XDP_LINK=1)
    [ "$mode" = tc ] && env=(FA_BPF_NO_TCX=1)
    [ "$mode" = tcx ] && arg=tc
    ip netns exec "$B" env "${env[@]}" "$build/bpf_meter" "$arg" vb >/dev/null 2>"$work/k1.log" &
    m=$!
    wait_for "$work/k1.log" ready
    ids=$(lock_ids)
    if [ "$mode" = xdp ] || [ "$mode" = tcx ]; then
        want=1
        [ "$mode" = tcx ] && want=2
        # shellcheck disable=SC2086 # a list of ids
        n=$(links_of $ids)
        [ "$n" -eq "$want" ] || { echo "FAIL: $mode: $n links, want $want"; exit 1; }
    fi
    kill -KILL "$m"; wait "$m" 2>/dev/null || true
    if [ "$mode" = xdp-legacy ]; then
        ip -n "$B" link show vb | grep -q xdp || { echo "FAIL: expected a stale XDP program"; exit 1; }
    fi
    if [ "$mode" = xdp ] || [ "$mode" = tcx ]; then
        links_gone "$ids" || { echo "FAIL: $mode links outlived a SIGKILL"; exit 1; }
        if ip -n "$B" link show vb | grep -q xdp; then echo "FAIL: XDP outlived a SIGKILL"; exit 1; fi
    fi
    ip netns exec "$B" env "${env[@]}" "$build/bpf_meter" "$arg" vb >/dev/null 2>"$work/k2.log" &
    m=$!
    wait_for "$work/k2.log" ready
    ids2=$(lock_ids)
    if [ "$mode" = xdp-legacy ]; then
        grep -q "replacing stale fa_xdp" "$work/k2.log" || { cat "$work/k2.log"; exit 1; }
    elif [ "$mode" = xdp ]; then
        grep -q "XDP (native, link) attached" "$work/k2.log" || { cat "$work/k2.log"; exit 1; }
        if grep -q "stale" "$work/k2.log"; then cat "$work/k2.log"; exit 1; fi
    elif [ "$mode" = tc ]; then
        for dir in ingress egress; do
            n=$(tc -n "$B" filter show dev vb "$dir" 2>/dev/null | grep -c "fa_tc_" || true)
            [ "$n" -eq 1 ] || { echo "FAIL: $n tc $dir filters after restart"; exit 1; }
        done
    else
        grep -q "tcx ingress+egress attached" "$work/k2.log" || { cat "$work/k2.log"; exit 1; }
        # shellcheck disable=SC2086 # a list of ids
        n=$(links_of $ids2)
        [ "$n" -eq 2 ] || { echo "FAIL: $n tcx links, want 2"; exit 1; }
    fi
    kill -TERM "$m"; wait "$m"
    if ip -n "$B" link show vb | grep -q "xdp"; then echo "FAIL: XDP left attached"; exit 1; fi
    n=$(tc -n "$B" filter show dev vb ingress 2>/dev/null | grep -c "fa_tc_" || true)
    [ "$n" -eq 0 ] || { echo "FAIL: tc filter left attached"; exit 1; }
    links_gone "$ids $ids2" || { echo "FAIL: links left attached"; exit 1; }
    [ ! -e "$FA_RUN_DIR/bpf-vb.lock" ] || { echo "FAIL: owner lock left"; exit 1; }
    echo "crash recovery ($mode): nothing stale or stacked after a restart, clean exit detached"
done

# Sampling 1-in-10 (random), xdp: 20000 datagrams. Selected count is binomial(20000, 0.1):
# mean 2000, sd 42.4; accept |count - 2000| <= 255 (6 sd), i.e. count x 10 within 20000 +- 2550.
ip netns exec "$B" "$build/bpf_meter" xdp vb 10 random >"$work/meter.csv" 2>"$work/meter.log" &
meter=$!
pids+=("$meter")
wait_for "$work/meter.log" ready
ip netns exec "$A" python3 -c '
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(20000): u.sendto(b"s" * 64, ("10.77.0.2", 9555))'
kill -TERM "$meter"
wait "$meter"
n=$(awk -F, '$1 == 17 && $5 == 9555 { s += $11 } END { print s + 0 }' "$work/meter.csv")
echo "sampling 1/10: $n selected of 20000 sent, estimate $((n * 10)) (accept 17450..22550)"
[ "$n" -ge 1745 ] && [ "$n" -le 2255 ]
echo "PASS"
