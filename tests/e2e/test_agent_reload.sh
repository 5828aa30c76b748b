#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# SIGHUP reload through the real agent: xdp source on one side of a veth pair, two collectors
# (nfcapd, IPFIX and v9) on that namespace's loopback. Three bursts of known UDP traffic, with a
# reload between them (the second one changes a setting, the active timeout); each burst is sent
# only once the agent says it has (re)started, so every packet passes an attached program.
# Checks: every packet of every burst is in the records nfdump decodes (nothing counted is lost
# across a reload); each collector sees one exporter, and one UDP source port in a capture (the
# reload keeps the socket); the
# numbering continues across reloads: v9 with zero sequence failures in nfdump, IPFIX by the
# RFC 7011 rule on every datagram of a capture (lib/check_seq.py, from tshark's decode), with
# nfcapd counting exactly the failures its flow-only IPFIX counting predicts for that stream.
set -euo pipefail
build=${FA_BUILD_DIR:?}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
require_root
require_tool ip python3 nfcapd nfdump ss dumpcap tshark
[ -x "$build/flowagent" ] || fa_fail "missing $build/flowagent"

A=fa-rlA-$$
B=fa-rlB-$$
work="" agent="" nf4="" nf9="" cap=""  # set by fa_tmpdir and bg_start below
fa_tmpdir work
on_exit "ip netns del $A 2>/dev/null"
on_exit "ip netns del $B 2>/dev/null"
. "$here/lib/veth_pair.sh"
veth_pair_up "$A" "$B" || fa_fail "veth pair set-up failed"
# No IPv6 chatter (MLD, RS) on the metered interface: only the bursts cross it.
ip netns exec "$A" sysctl -qw net.ipv6.conf.va.disable_ipv6=1
ip netns exec "$B" sysctl -qw net.ipv6.conf.vb.disable_ipv6=1

in_b() { ip netns exec "$B" "$@"; }
b_port() {
    in_b python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
p4=$(b_port)
p9=$(b_port)
mkdir -p "$work/ipfix" "$work/v9"
bg_start nf4 ip netns exec "$B" nfcapd -w "$work/ipfix" -p "$p4" -b 127.0.0.1 >/dev/null 2>&1
bg_start nf9 ip netns exec "$B" nfcapd -w "$work/v9" -p "$p9" -b 127.0.0.1 >/dev/null 2>&1
wait_for 10 "in_b ss -Hlun 'sport = :$p4' | grep -q . && in_b ss -Hlun 'sport = :$p9' | grep -q ." \
    || fa_fail "nfcapd did not bind"

ini() {
    cat >"$work/agent.ini" <<INI
[agent]
source = xdp
interfaces = vb
observation_domain = 3
[flows]
active_timeout = $1
inactive_timeout = 30
[collector ipfix]
address = 127.0.0.1:$p4
protocol = ipfix
[collector v9]
address = 127.0.0.1:$p9
protocol = v9
INI
}
bg_start cap ip netns exec "$B" dumpcap -i lo -f "udp dst port $p4 or udp dst port $p9" -w "$work/export.pcapng" \
    2>"$work/dumpcap.log"
wait_for 10 "[ -s '$work/export.pcapng' ]" || fa_fail "dumpcap did not start: $(cat "$work/dumpcap.log")"
ini 60
# ip netns exec execs the agent: $agent is the agent's own pid, which SIGHUP must reach.
bg_start agent ip netns exec "$B" "$build/flowagent" -c "$work/agent.ini" 2>"$work/agent.err"
starts() { grep -c 'started:' "$work/agent.err" 2>/dev/null || true; }
wait_for 20 "[ \$(starts) -ge 1 ]" || fa_fail "agent did not start: $(cat "$work/agent.err")"

# burst PORT N: N UDP datagrams of 200 bytes payload from A to B's port PORT (228 IP octets).
burst() {
    ip netns exec "$A" python3 -c '
import socket, sys
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[2])): u.sendto(b"r" * 200, ("10.77.0.2", int(sys.argv[1])))' "$1" "$2"
}
burst 9301 300
kill -HUP "$agent"
wait_for 20 "[ \$(starts) -ge 2 ]" || fa_fail "no restart after the first SIGHUP: $(cat "$work/agent.err")"
ini 45
burst 9302 500
kill -HUP "$agent"
wait_for 20 "[ \$(starts) -ge 3 ]" || fa_fail "no restart after the second SIGHUP: $(cat "$work/agent.err")"
grep -q "timeouts 45/30" "$work/agent.err" || fa_fail "the reloaded setting was not applied"
burst 9303 700
bg_stop "$agent" TERM 30 || fa_fail "agent did not exit cleanly: $(cat "$work/agent.err")"
wait_for 10 "in_b ss -Hlun 'sport = :$p4' | awk '{ s += \$2 } END { exit s != 0 }'" || true
wait_for 10 "in_b ss -Hlun 'sport = :$p9' | awk '{ s += \$2 } END { exit s != 0 }'" || true
bg_stop "$nf4" TERM 10 || true
bg_stop "$nf9" TERM 10 || true
sent4=$(sed -n 's/.*collector ipfix: \([0-9]*\) datagrams.*/\1/p' "$work/agent.err" |
    awk '{ s += $1 } END { print s + 0 }')
sent9=$(sed -n 's/.*collector v9: \([0-9]*\) datagrams.*/\1/p' "$work/agent.err" |
    awk '{ s += $1 } END { print s + 0 }')
dumpcap_stop "$cap" "$work/dumpcap.log" $((sent4 + sent9))
tshark -r "$work/export.pcapng" -d "udp.port==$p4,cflow" -Y "udp.dstport == $p4" -V \
    >"$work/ipfix.txt" 2>/dev/null
want_seq4=$(python3 "$here/lib/check_seq.py" "$work/ipfix.txt" ipfix) \
    || fa_fail "IPFIX sequence numbers break the RFC rule across reloads (above)"
echo "ipfix: $sent4 datagrams in 3 runs; RFC 7011 sequence rule holds on the capture;" \
    "nfcapd must count $want_seq4 failures (its flow-only counting)"

fail=0
for proto in ipfix v9; do
    for port in 9301 9302 9303; do
        read -r p b < <(nfdump -R "$work/$proto" -q -N -o 'fmt:%pkt|%byt' "dst port $port and proto udp" |
            tr -d ' ' | awk -F'|' '{ p += $1; b += $2 } END { print p + 0, b + 0 }')
        want=$(( (port - 9300) * 200 + 100 ))
        echo "$proto port $port: $p packets, $b bytes (sent $want packets, $((want * 228)) bytes)"
        [ "$p" -eq "$want" ] && [ "$b" -eq $((want * 228)) ] || fail=1
    done
    stats=$(nfdump -R "$work/$proto" -I)
    seqfail=$(awk '/^Sequence failures:/ { print $3 }' <<<"$stats")
    exporters=$(for f in $(nfcapd_files "$work/$proto"); do nfdump -E "$f"; done |
        grep -o 'IP: *[0-9.]*, version: [0-9]*, ID: *[0-9]*' | sort -u | wc -l)
    want=0
    [ "$proto" = ipfix ] && want=$want_seq4
    echo "$proto: sequence failures ${seqfail:-?} (want $want), exporters $exporters"
    [ "${seqfail:-x}" = "$want" ] || fail=1
    [ "$exporters" -eq 1 ] || fail=1
    # nfdump names an exporter by address and domain only: the kept socket shows in the capture
    # as one source port for all datagrams of the three runs.
    dport=$p4
    [ "$proto" = v9 ] && dport=$p9
    sports=$(tshark -r "$work/export.pcapng" -Y "udp.dstport == $dport" -T fields -e udp.srcport |
        sort -u | wc -l)
    echo "$proto: datagrams of the three runs came from $sports source port(s)"
    [ "$sports" -eq 1 ] || fail=1
done
[ "$fail" -eq 0 ] || { cat "$work/agent.err" >&2; fa_fail "records or sequence numbers differ across reloads"; }
echo "PASS"
