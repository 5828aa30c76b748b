#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# L3 devices (issue 10 item 1, proof (a)): a tun device in a namespace, whose packets start at
# the IP header as on pppoe-wan and wg0. lib/tun_peer.py is its far end: it writes 300 IPv4
# and 300 IPv6 UDP datagrams into the host through tun0 and, at the same time, the host sends
# 300 + 300 through tun0 to the peer, which reads every packet. The agent (xdp; tc on tcx;
# tc on clsact) meters tun0 with the L3 entries and exports NetFlow v9 to nfcapd. Ground truth
# is what tun_peer.py wrote (in) and what the host's sockets sent (out: tc egress sees them
# before the tun's queue, which may drop a few; the peer checks that it read back the same
# flows and no more) (per flow: packets, sum of IP total lengths). nfdump must
# show exactly those flows with exactly those packets and bytes, the tun's ifindex as input
# (in) or output (out) interface; xdp sees only the incoming ones; the agent must not warn
# that the packets were not IP (what an Ethernet parser would make of them). Also:
#  - a tun whose link type is set to PPP (TUNSETLINK 512, the type of pppoe-wan), xdp and tc:
#    the same exact flows;
#  - a tun whose link type neither entry parses (IEEE 802.15.4, 804): the agent refuses to
#    start, naming the interface and its type;
#  - a veth that carries 1,200 frames of a non-IP EtherType (0x88b5) and nothing else: the
#    agent warns that 1,200 of 1,200 packets were not IP.
# Needs root (namespaces, XDP/tc); skipped otherwise, a failure under CI=true.
set -euo pipefail
build=${FA_BUILD_DIR:?}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
require_root
require_tool ip python3 nfcapd nfdump ss
[ -x "$build/flowagent" ] || fa_fail "missing $build/flowagent"
[ -c /dev/net/tun ] || fa_skip "no /dev/net/tun"

T=fa-tun-$$
work="" nf="" port="" agent=""  # set by fa_tmpdir, bg_start
fa_tmpdir work
on_exit "ip netns del $T 2>/dev/null"
ip netns add "$T"
ip -n "$T" link set lo up
in_t() { ip netns exec "$T" "$@"; }
peer=$here/lib/tun_peer.py

# tun_up NAME [ARPHRD]: a persistent tun device, 10.88.0.1/24 and fd88::1/64.
tun_up() {
    in_t ip tuntap add dev "$1" mode tun
    [ -z "${2:-}" ] || in_t python3 "$peer" settype "$1" "$2"
    # A queue that holds every datagram the host sends (2 x 500), so that drops behind the
    # egress hook (counted by it, rightly) stay rare.
    in_t ip link set "$1" txqueuelen 4096
    in_t ip link set "$1" up
    in_t ip addr add 10.88.0.1/24 dev "$1"
    in_t ip addr add fd88::1/64 dev "$1" nodad
}

ns_nfcapd_start nf port "$T" "$work/nf"

ini() {  # ini FILE SOURCE IFACE
    cat >"$1" <<INI
[agent]
source = $2
interfaces = $3
control_socket = $work/agent.sock
[flows]
active_timeout = 60
inactive_timeout = 30
[collector c]
address = 127.0.0.1:$port
protocol = v9
INI
}

# run_case NAME SOURCE IFACE UDPPORT [ENV...]: the agent on IFACE, tun_peer.py's traffic, a
# clean stop; the expected flows go to $work/NAME.truth (xdp: the incoming ones only).
run_case() {
    local name=$1 src=$2 ifc=$3 p=$4 rc=0 idx
    shift 4
    ini "$work/$name.ini" "$src" "$ifc"
    bg_start agent ip netns exec "$T" env "$@" "$build/flowagent" -c "$work/$name.ini" \
        2>"$work/$name.log"
    wait_for 20 "grep -q 'started:' '$work/$name.log' || ! kill -0 $agent 2>/dev/null" || true
    grep -q 'started:' "$work/$name.log" || fa_fail "$name: agent did not start: $(cat "$work/$name.log")"
    idx=$(in_t ip -o link show "$ifc" | cut -d: -f1)
    grep -q "attached to $ifc (ifindex $idx, L3)" "$work/$name.log" \
        || fa_fail "$name: $ifc not attached as an L3 device: $(grep bpf "$work/$name.log")"
    in_t python3 "$peer" run "$ifc" 10.88.0.1 10.88.0.2 fd88::1 fd88::2 "$p" 500 \
        >"$work/$name.peer" || fa_fail "$name: tun_peer failed"
    bg_stop "$agent" TERM 30 || rc=$?
    [ "$rc" -eq 0 ] || fa_fail "$name: agent exited $rc: $(tail -5 "$work/$name.log")"
    grep -q "were not IP" "$work/$name.log" && fa_fail "$name: $(grep "not IP" "$work/$name.log")"
    if [ "$src" = xdp ]; then
        grep '^in ' "$work/$name.peer" >"$work/$name.truth"
    else
        cp "$work/$name.peer" "$work/$name.truth"
    fi
    echo "$name $idx $p" >>"$work/cases"
    fa_log "$name: $(wc -l <"$work/$name.truth") flows expected"
}

tun_up tun0
run_case tun-xdp xdp tun0 9800
run_case tun-tcx tc tun0 9810
run_case tun-clsact tc tun0 9820 FA_BPF_NO_TCX=1
in_t ip link del tun0
tun_up tunp 512
run_case ppp-xdp xdp tunp 9830
run_case ppp-tc tc tunp 9840
in_t ip link del tunp

# A link type neither entry parses: refused at start, naming the interface and its type.
in_t ip tuntap add dev tunx mode tun
in_t python3 "$peer" settype tunx 804
in_t ip link set tunx up
ini "$work/x.ini" xdp tunx
rc=0
timeout 30 ip netns exec "$T" "$build/flowagent" -c "$work/x.ini" 2>"$work/x.log" || rc=$?
[ "$rc" -ne 0 ] || fa_fail "unsupported: the agent started on an IEEE 802.15.4 device"
grep -q "interface tunx has link type ieee802.15.4 (ARPHRD 804)" "$work/x.log" \
    || fa_fail "unsupported: $(cat "$work/x.log")"
fa_log "unsupported link type: refused (exit $rc): $(grep -o 'interface tunx has[^,]*' "$work/x.log")"

# Nearly all packets not IP: a warning.
in_t ip link add vz type veth peer name vw
# No IPv6 on the pair (its MLD/RS would be IP): the 1,200 frames are all vz sees.
in_t sysctl -qw net.ipv6.conf.vz.disable_ipv6=1 net.ipv6.conf.vw.disable_ipv6=1
in_t ip link set vz up && in_t ip link set vw up
ini "$work/n.ini" xdp vz
bg_start agent ip netns exec "$T" "$build/flowagent" -c "$work/n.ini" 2>"$work/n.log"
wait_for 20 "grep -q 'started:' '$work/n.log' || ! kill -0 $agent 2>/dev/null" || true
grep -q 'started:' "$work/n.log" || fa_fail "not-IP: agent did not start: $(cat "$work/n.log")"
in_t python3 -c '
import socket
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("vw", 0))
for i in range(1200): s.send(b"\xff" * 6 + b"\x02\0\0\0\0\x01" + b"\x88\xb5" + b"n" * 46)'
wait_for 10 "grep -q 'were not IP' '$work/n.log'" || true
rc=0
bg_stop "$agent" TERM 30 || rc=$?
[ "$rc" -eq 0 ] || fa_fail "not-IP: agent exited $rc"
grep -q "bpf: interface vz: 1200 of 1200 packets were not IP (Ethernet entry)" "$work/n.log" \
    || fa_fail "not-IP: no warning: $(cat "$work/n.log")"
fa_log "not-IP: $(grep -o 'interface vz: .*' "$work/n.log")"

wait_for 10 "in_t ss -Hlun 'sport = :$port' | awk '{ s += \$2 } END { exit s != 0 }'" || true
bg_stop "$nf" TERM 10 || true
TZ=UTC nfdump_all "$work/nf" -6 -q -N -o 'fmt:%pr|%sa|%sp|%da|%dp|%in|%out|%pkt|%byt' \
    >"$work/nfdump.txt"
python3 - "$work" <<'PY' || fa_fail "nfdump differs from the truth (nfdump: $(cat "$work/nfdump.txt"))"
import collections, ipaddress, sys
work = sys.argv[1]
got = collections.defaultdict(lambda: [0, 0])
for line in open(work + "/nfdump.txt"):
    f = [x.strip() for x in line.split("|")]
    if len(f) != 9 or f[0] != "17":  # the test's UDP flows (not the host's own ICMPv6)
        continue
    key = (int(f[0]), str(ipaddress.ip_address(f[1])), int(f[2]), str(ipaddress.ip_address(f[3])),
           int(f[4]), int(f[5]), int(f[6]))
    got[key][0] += int(f[7])
    got[key][1] += int(f[8])
bad = 0
for case in open(work + "/cases"):
    name, idx, port = case.split()
    idx, port = int(idx), int(port)
    want = {}
    for line in open("%s/%s.truth" % (work, name)):
        d, proto, sa, sp, da, dp, pk, by = line.split()
        inif, outif = (idx, 0) if d == "in" else (0, idx)
        want[(int(proto), str(ipaddress.ip_address(sa)), int(sp), str(ipaddress.ip_address(da)),
              int(dp), inif, outif)] = [int(pk), int(by)]
    mine = {k: v for k, v in got.items() if k[2] in (port, port + 1) or k[4] in (port, port + 1)}
    if mine != want or len(want) != (2 if name.endswith("xdp") else 4):
        bad += 1
        print("%s: want %r\n  got %r" % (name, want, mine))
    else:
        for k, v in sorted(want.items()):
            print("%s: %s %s:%d -> %s:%d in %d out %d: %d packets %d bytes (exact)"
                  % ((name,) + k[:1] + k[1:] + tuple(v)))
sys.exit(1 if bad else 0)
PY
echo PASS
