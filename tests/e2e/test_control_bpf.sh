#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# `flowagent status --json` and `flows --json` for the eBPF sources, against known traffic in
# namespaces: the agent (xdp, then tc) meters vb in B; A sends 200 UDP/IPv4 datagrams of 300
# bytes to port 9000, 100 UDP/IPv6 datagrams of 500 bytes to port 9001, and 30 raw frames of
# an experimental EtherType (0x88b5, not IP). Checks: the interface with its ifindex and attach
# mode (xdp: xdp-native or xdp-generic; tc: tcx or clsact); the per-reason counters: not_ip
# equals the 30 frames, nothing sampled out, no map full; the two UDP flows in `flows --json`
# with exactly the packets sent and their IP bytes (328 and 548 each); the same flows grouped
# by destination port.
set -euo pipefail
build=${FA_BUILD_DIR:?}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
require_root
require_tool ip python3 jq
[ -x "$build/flowagent" ] || fa_fail "missing $build/flowagent"

A=fa-cbA-$$
B=fa-cbB-$$
work="" agent=""  # set by fa_tmpdir / bg_start
fa_tmpdir work
on_exit "ip netns del $A 2>/dev/null"
on_exit "ip netns del $B 2>/dev/null"
. "$here/lib/veth_pair.sh"
veth_pair_up "$A" "$B" || fa_fail "veth pair setup failed"
port=$(ip netns exec "$B" python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
bg_start sink ip netns exec "$B" python3 "$here/lib/udp_sink.py" 127.0.0.1 "$port" "$work/sink.count"
wait_for 5 "[ -s '$work/sink.count' ]" || fa_fail "udp sink did not start"

send_traffic() {
    ip netns exec "$A" python3 - "$mac_a" "$mac_b" <<'PY'
import socket, sys
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(200): u.sendto(b"x" * 300, ("10.77.0.2", 9000))
u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for i in range(100): u6.sendto(b"y" * 500, ("fd77::2", 9001))
src, dst = (bytes.fromhex(m.replace(":", "")) for m in sys.argv[1:3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("va", 0))
for i in range(30): s.send(dst + src + b"\x88\xb5" + b"n" * 60)
PY
}

for mode in xdp tc; do
    sock=$work/$mode.sock
    cat >"$work/$mode.ini" <<INI
[agent]
source = $mode
interfaces = vb
control_socket = $sock
[flows]
active_timeout = 600
inactive_timeout = 600
[collector main]
address = 127.0.0.1:$port
INI
    bg_start agent ip netns exec "$B" "$build/flowagent" -c "$work/$mode.ini"
    wait_for 20 "[ -S '$sock' ] && '$build/flowagent' status --socket '$sock' >/dev/null 2>&1" 0.2 ||
        fa_fail "$mode: agent did not start"
    send_traffic
    # The maps are drained once a second: wait until both UDP flows are complete.
    flows_json() { "$build/flowagent" flows --socket "$sock" --json --top 200 >"$work/flows.json"; }
    udp_done="flows_json && [ \"\$(jq '[.rows[] | select(.proto == 17 and (.dst_port == 9000 or .dst_port == 9001)) | .packets] | add' '$work/flows.json')\" = 300 ]"
    wait_for 10 "$udp_done" 0.3 || fa_fail "$mode: UDP flows incomplete: $(cat "$work/flows.json")"
    sleep 1.2  # one more drain: the per-reason counters are read with it
    "$build/flowagent" status --socket "$sock" --json >"$work/status.json"
    flows_json
    python3 - "$mode" "$ifindex" "$work/status.json" "$work/flows.json" <<'PY'
import json, sys
mode, ifindex = sys.argv[1], int(sys.argv[2])
st, fl = json.load(open(sys.argv[3])), json.load(open(sys.argv[4]))
def fail(m):
    sys.exit("control_bpf %s: FAIL: %s" % (mode, m))
ifs = st["interfaces"]
modes = ("xdp-native", "xdp-generic") if mode == "xdp" else ("tcx", "clsact")
if len(ifs) != 1 or ifs[0]["name"] != "vb" or ifs[0]["ifindex"] != ifindex or ifs[0]["mode"] not in modes:
    fail("interfaces %r, want vb ifindex %d mode in %r" % (ifs, ifindex, modes))
r = st["packets_by_reason"]
if r["not_ip"]["packets"] != 30 or r["not_ip"]["bytes"] != 30 * 74:
    fail("not_ip %r, sent 30 frames of 74 bytes" % r["not_ip"])
for k in ("sampled_out", "map_full"):
    if r[k]["packets"] != 0:
        fail("%s %r" % (k, r[k]))
if st["source"] != mode or st["sampling"]["rate"] != 1:
    fail("source %r sampling %r" % (st["source"], st["sampling"]))
want = {("10.77.0.1", "10.77.0.2", 9000): (200, 200 * 328), ("fd77::1", "fd77::2", 9001): (100, 100 * 548)}
got = {}
for row in fl["rows"]:
    k = (row["src"], row["dst"], row["dst_port"])
    if row["proto"] == 17 and k in want:
        p, b = got.get(k, (0, 0))
        got[k] = (p + row["packets"], b + row["bytes"])
if got != want:
    fail("UDP flows %r, sent %r" % (got, want))
print("control_bpf %s: ok: %s %s, not_ip %d, flows %r" % (mode, ifs[0]["name"], ifs[0]["mode"], r["not_ip"]["packets"], got))
PY
    "$build/flowagent" flows --socket "$sock" --json --group-by port >"$work/ports.json"
    jq -e '[.rows[] | select(.proto == 17 and .port == 9000)][0] | .packets == 200 and .bytes == 65600' \
        "$work/ports.json" >/dev/null || fa_fail "$mode: port group 9000: $(cat "$work/ports.json")"
    bg_stop "$agent" TERM 20 || fa_fail "$mode: agent exit status $?"
done
fa_log "status and flows match the traffic sent, xdp and tc"
