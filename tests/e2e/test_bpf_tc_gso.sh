#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# tc mode with real GSO super-packets: a 4 MB TCP transfer from A to B over a veth pair with
# TSO on, so most skbs the tc hooks on B's vb see carry several TCP segments (gso_segs > 1);
# veth never segments them. The agent must count segments, not skbs. Ground truth is the
# senders' TCP MIB (/proc/net/snmp per namespace): OutSegs + RetransSegs counts segments
# (tcp_skb_pcount; OutSegs leaves retransmissions out), A's for what arrives on vb, B's for
# what B sends back; the transfer is the only TCP traffic
# in either namespace. B's InSegs counts received skbs, so InSegs < A's OutSegs shows that
# super-packets really crossed the hook. The agent prints its records as JSON lines (--print);
# the TCP packets it exported on vb ingress and egress must equal the two senders' exactly.
set -euo pipefail
build=${FA_BUILD_DIR:?}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
require_root
require_tool ip python3 ethtool ss
[ -x "$build/flowagent" ] || fa_fail "missing $build/flowagent"

A=fa-gsoA-$$
B=fa-gsoB-$$
work="" agent_pid="" srv=""  # set by fa_tmpdir and bg_start below
fa_tmpdir work
on_exit "ip netns del $A 2>/dev/null"
on_exit "ip netns del $B 2>/dev/null"

. "$here/lib/veth_pair.sh"
veth_pair_up "$A" "$B" || fa_fail "veth pair set-up failed"
ip netns exec "$A" ethtool -K va tso on gso on >/dev/null 2>&1 || true
tso=$(ip netns exec "$A" ethtool -k va | awk '/^tcp-segmentation-offload:/ { print $2 }')
[ "$tso" = on ] || fa_fail "TSO could not be enabled on the veth (ethtool says '$tso')"

# tcp_segs NS In|Out: TCP segments received (skbs) or sent (segments, retransmissions
# included) in namespace NS.
tcp_segs() {
    ip netns exec "$1" awk -v w="$2" '/^Tcp:/ {
        if (!n) { for (i = 1; i <= NF; i++) c[$i] = i; n = 1; next }
        print (w == "In" ? $c["InSegs"] : $c["OutSegs"] + $c["RetransSegs"]) }' /proc/net/snmp
}

cat >"$work/agent.ini" <<INI
[agent]
source = tc
interfaces = vb
[flows]
active_timeout = 60
inactive_timeout = 30
[collector sink]
address = 127.0.0.1:9
protocol = ipfix
INI
bg_start agent_pid ip netns exec "$B" "$build/flowagent" -c "$work/agent.ini" --print \
    >"$work/records.json" 2>"$work/agent.log"
wait_for 20 "grep -q started '$work/agent.log' || ! kill -0 $agent_pid 2>/dev/null" || true
grep -q started "$work/agent.log" || fa_fail "agent did not start: $(cat "$work/agent.log")"

a_out0=$(tcp_segs "$A" Out)
b_out0=$(tcp_segs "$B" Out)
b_in0=$(tcp_segs "$B" In)
bg_start srv ip netns exec "$B" python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.0.2", 9200)); s.listen(1); print("listening", flush=True)
c, _ = s.accept()
n = 0
while True:
    b = c.recv(1 << 20)
    if not b: break
    n += len(b)
c.close()
print("received", n, flush=True)' >"$work/srv.log" 2>&1
wait_for 10 "grep -q listening '$work/srv.log'" || fa_fail "tcp server did not start"
ip netns exec "$A" python3 -c '
import socket
t = socket.create_connection(("10.77.0.2", 9200))
t.sendall(b"g" * (4 << 20))
t.close()'
wait "$srv" || fa_fail "tcp server failed: $(cat "$work/srv.log")"
grep -q "received $((4 << 20))" "$work/srv.log" || fa_fail "transfer incomplete: $(cat "$work/srv.log")"
# Every segment of the connection has been sent once neither side has a :9200 socket left
# in any state but TIME-WAIT (which sends nothing more); then stop the agent (SIGTERM flushes).
open_9200() {
    ip netns exec "$1" ss -Htan state all '( sport = :9200 or dport = :9200 )' |
        grep -v -c -e TIME-WAIT -e '^$' || true
}
wait_for 10 "[ \$(open_9200 $A) -eq 0 ] && [ \$(open_9200 $B) -eq 0 ]" \
    || fa_fail "the TCP connection did not close: $(ip netns exec "$A" ss -tan; ip netns exec "$B" ss -tan)"
a_out=$(($(tcp_segs "$A" Out) - a_out0))
b_out=$(($(tcp_segs "$B" Out) - b_out0))
b_in=$(($(tcp_segs "$B" In) - b_in0))
bg_stop "$agent_pid" TERM 30 || fa_fail "flowagent did not exit cleanly: $(cat "$work/agent.log")"

check() {
python3 - "$work/records.json" "$ifindex" "$a_out" "$b_out" "$b_in" <<'PY'
import json, sys
path, ifindex = sys.argv[1], int(sys.argv[2])
want_in, want_out, skbs_in = (int(x) for x in sys.argv[3:6])
got_in = got_out = oct_in = 0
for line in open(path):
    r = json.loads(line)
    if r.get("proto") != 6:
        continue
    if r.get("in_if") == ifindex and r.get("dir") == "ingress":
        got_in += r["packets"]; oct_in += r["octets"]
    elif r.get("out_if") == ifindex:
        got_out += r["packets"]
print(f"tc gso: vb ingress TCP packets {got_in} (A out+retrans {want_in}, in {skbs_in} skbs), "
      f"egress {got_out} (B out+retrans {want_out}), ingress octets {oct_in} "
      f"({oct_in / max(got_in, 1):.0f} per packet)")
ok = got_in == want_in and got_out == want_out
if skbs_in >= want_in:
    print("no super-packet crossed the hook: the test proves nothing on this machine")
    ok = False
# Octets are wire octets: each segment at most a 1500-byte MTU, and each carries its own IP and
# TCP header (at least 40 bytes) on top of its share of the 4 MiB payload.
ok = ok and got_in > 0 and oct_in / got_in <= 1500 and oct_in >= (4 << 20) + 40 * got_in
sys.exit(0 if ok else 1)
PY
}
check || fa_fail "TCP segments counted by the agent differ from the TCP MIB"
echo "PASS"
