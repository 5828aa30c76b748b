#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# Export follows the routes (issue 10 item 4, proof (e)). Three namespaces:
#   T (traffic) tt 10.70.0.1 <-> rt 10.70.0.2  R (router: the agent, xdp on rt)
#   R re 10.88.0.1/24 + 10.89.0.1/24 <-> ce 10.88.0.2/24 + 10.89.0.2/24  C (collector)
# The collector's addresses 10.99.0.1 and .2 (on C's lo) are routed via 10.88.0.2 (metric 10)
# and via 10.89.0.2 (metric 20): the agent's export socket starts on 10.88.0.1. Known UDP flows
# from T to R are metered and exported in three rounds; between rounds 1 and 2, 10.88.0.1 is
# removed from re (`ip addr del`, as a renumbered WAN or a redialed PPPoE link). The agent has
# no address events here (the link monitor calls Daemon::on_address_removed; not in this test):
# the next send fails (IPv4: ENETUNREACH), the socket is reopened, the kernel picks 10.89.0.1.
# Checked, against a capture on C (tshark) and nfcapd:
#  - export resumes: every flow of the three rounds is in nfcapd with exactly the packets and
#    bytes T sent (computed here), and the agent counted nothing as not sent;
#  - one log line for the reopen, with the reason and old/new local address;
#  - templates first in every new session, and the sequence numbers carry on across the moves
#    (lib/check_reopen.py; IPFIX: no gap, no repeat on the merged stream; v9: none within each
#    session, and the new session's template-only first packet repeats the old last number);
#  - nfcapd's sequence failures equal what lib/check_seq.py predicts for each source address
#    (nfcapd's exporter; v9: 0).
# Cases: IPFIX and v9 to 10.99.0.1; then IPFIX to a name (R's /etc/hosts, through `ip netns
# exec`'s /etc/netns/R/hosts): the name moves to 10.99.0.2 before the removal, so the reopen's
# fresh lookup moves the socket there (after the datagram in hand went to the old address);
# then back to 10.99.0.1 and `flowagent reload`, which resolves it again and moves it back.
# Last (v9), no route to the collector when the agent starts: it meters, round 1 waits in the
# send queue, and goes out (templates first) once the route is added; no address is removed.
# Against an agent without the reopen the second round never arrives.
set -euo pipefail
build=${FA_BUILD_DIR:?}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
require_root
require_tool ip dumpcap tshark python3 nfcapd nfdump ss
BIN=$build/flowagent
[ -x "$BIN" ] || fa_fail "missing $BIN"

T=fa-rtT-$$
R=fa-rtR-$$
C=fa-rtC-$$
work="" agent_pid="" nf_pid="" cap_pid=""  # set by the helpers below
fa_tmpdir work
for ns in "$T" "$R" "$C"; do on_exit "ip netns del $ns 2>/dev/null"; done
[ -d /etc/netns ] || on_exit "rmdir /etc/netns 2>/dev/null"
on_exit "rm -rf /etc/netns/$R"

in_r() { ip netns exec "$R" "$@"; }
in_c() { ip netns exec "$C" "$@"; }

setup() {
    local ns
    for ns in "$T" "$R" "$C"; do
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        # No IPv6 on the links: no router solicitations or MLD reports become flows.
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
            net.ipv6.conf.default.disable_ipv6=1
    done
    ip -n "$T" link add tt type veth peer name rt netns "$R"
    ip -n "$R" link add re type veth peer name ce netns "$C"
    ip -n "$T" addr add 10.70.0.1/24 dev tt
    ip -n "$R" addr add 10.70.0.2/24 dev rt
    ip -n "$R" addr add 10.88.0.1/24 dev re
    ip -n "$R" addr add 10.89.0.1/24 dev re
    ip -n "$C" addr add 10.88.0.2/24 dev ce
    ip -n "$C" addr add 10.89.0.2/24 dev ce
    ip -n "$C" addr add 10.99.0.1/32 dev lo
    ip -n "$C" addr add 10.99.0.2/32 dev lo
    ip -n "$T" link set tt up
    ip -n "$R" link set rt up
    ip -n "$R" link set re up
    ip -n "$C" link set ce up
    # Static neighbours: no ARP on the metered link, none racing the first export.
    local mac_tt mac_rt mac_re mac_ce
    mac_tt=$(ip -n "$T" -o link show tt | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
    mac_rt=$(ip -n "$R" -o link show rt | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
    mac_re=$(ip -n "$R" -o link show re | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
    mac_ce=$(ip -n "$C" -o link show ce | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
    ip -n "$T" neigh add 10.70.0.2 lladdr "$mac_rt" dev tt
    ip -n "$R" neigh add 10.70.0.1 lladdr "$mac_tt" dev rt
    ip -n "$R" neigh add 10.88.0.2 lladdr "$mac_ce" dev re
    ip -n "$R" neigh add 10.89.0.2 lladdr "$mac_ce" dev re
    ip -n "$C" neigh add 10.88.0.1 lladdr "$mac_re" dev ce
    ip -n "$C" neigh add 10.89.0.1 lladdr "$mac_re" dev ce
    ip -n "$R" route add 10.99.0.0/30 via 10.88.0.2 metric 10
    ip -n "$R" route add 10.99.0.0/30 via 10.89.0.2 metric 20
}

# hosts ADDR: the collector's name resolves to ADDR in R (rewritten in place: the bind mount
# `ip netns exec` makes of /etc/netns/R/hosts keeps pointing at the same file).
hosts_dir=/etc/netns/$R
hosts() {
    printf '127.0.0.1 localhost\n%s collector.fa-reopen.test\n' "$1" >"$hosts_dir/hosts"
}

# flows ROUND: T sends 6 UDP flows to R (port 9000 + ROUND), from source ports 20000 + 10 x
# ROUND + i: i + 1 datagrams of 40 + 30 x i bytes each. Appends "sport packets bytes" (bytes: IP
# total length, 28 + payload) to truth.txt.
flows() {
    ip netns exec "$T" python3 - "$1" "$work/truth.txt" <<'PY'
import socket, sys
r, out = int(sys.argv[1]), sys.argv[2]
with open(out, "a") as f:
    for i in range(6):
        sport, n, size = 20000 + 10 * r + i, i + 1, 40 + 30 * i
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("10.70.0.1", sport))
        for _ in range(n):
            s.sendto(b"f" * size, ("10.70.0.2", 9000 + r))
        s.close()
        f.write("%d %d %d\n" % (sport, n, n * (28 + size)))
PY
}

status_json() { "$BIN" status --socket "$work/agent.sock" --json >"$work/status.json" 2>/dev/null; }
# sent_records: flow records the agent counted as sent to the collector.
sent_records() {
    status_json && python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["collectors"][0]["records"])' "$work/status.json"
}
wait_records() {
    wait_for 20 "[ \"\$(sent_records)\" -ge $1 ]" 0.2 ||
        fa_fail "$2: the agent sent $(sent_records) flow records, want $1:" \
            "$(cat "$work/status.json" 2>/dev/null) $(tail -5 "$work/agent.log")"
}

# metered_records: flow records the agent made (exported or waiting to be).
metered_records() {
    status_json && python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["metered"]["records"])' "$work/status.json"
}

# run_case NAME PROTO HOST [boot]: HOST is 10.99.0.1 or the name (then the socket moves twice
# more). boot: no route to the collector when the agent starts, instead of the removal.
run_case() {
    local name=$1 proto=$2 host=$3 mode=${4:-move} port rc=0 bind=(-b 10.99.0.1)
    work=$work_root/$name
    mkdir -p "$work/flows"
    : >"$work/truth.txt"
    setup
    port=$(in_c python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.99.0.1", 0))
print(s.getsockname()[1])')
    bg_start cap_pid ip netns exec "$C" dumpcap -i ce -f "udp port $port" -w "$work/export.pcapng" \
        2>"$work/dumpcap.log"
    wait_for 10 "[ -s '$work/export.pcapng' ]" || fa_fail "dumpcap did not start: $(cat "$work/dumpcap.log")"
    if [ "$host" != 10.99.0.1 ]; then
        bind=()  # both addresses
        mkdir -p "$hosts_dir"
        hosts 10.99.0.1
    fi
    bg_start nf_pid ip netns exec "$C" nfcapd -4 -w "$work/flows" -p "$port" "${bind[@]}" \
        >"$work/nfcapd.log" 2>&1
    wait_for 10 "in_c ss -Hlun 'sport = :$port' | grep -q ." \
        || fa_fail "nfcapd did not bind: $(cat "$work/nfcapd.log")"
    cat >"$work/agent.ini" <<INI
[agent]
source = xdp
interfaces = rt
control_socket = $work/agent.sock
[flows]
active_timeout = 60
inactive_timeout = 1
[collector c]
address = $host:$port
protocol = $proto
template_refresh = 3600
template_refresh_packets = 1000
INI
    if [ "$mode" = boot ]; then
        ip -n "$R" route del 10.99.0.0/30 via 10.88.0.2
        ip -n "$R" route del 10.99.0.0/30 via 10.89.0.2
    fi
    bg_start agent_pid ip netns exec "$R" "$BIN" -c "$work/agent.ini" 2>"$work/agent.log"
    wait_for 20 "grep -q started '$work/agent.log' || ! kill -0 $agent_pid 2>/dev/null" || true
    grep -q started "$work/agent.log" || fa_fail "$name: agent did not start: $(cat "$work/agent.log")"
    local src sessions=("10.88.0.1>10.99.0.1" "10.89.0.1>10.99.0.1") moves=0 reopens=1 after=0
    if [ "$mode" = boot ]; then
        # The agent started without a route: round 1 is metered and waits in the send queue.
        grep -q 'Network is unreachable; metering goes on' "$work/agent.log" \
            || fa_fail "$name: no warning for the missing route: $(cat "$work/agent.log")"
        flows 1
        wait_for 20 "[ \"\$(metered_records)\" -ge 6 ]" 0.2 \
            || fa_fail "$name: round 1 not metered: $(cat "$work/status.json")"
        [ "$(sent_records)" -eq 0 ] || fa_fail "$name: sent without a route"
        ip -n "$R" route add 10.99.0.0/30 via 10.88.0.2 metric 10
        wait_records 6 "$name: round 1, once the route exists"
        sessions=("10.88.0.1>10.99.0.1")
        reopens=0 after=1
    fi
    src=$(in_r ip route get 10.99.0.1 | sed -n 's/.* src \([0-9.]*\).*/\1/p')
    [ "$src" = 10.88.0.1 ] || fa_fail "$name: the route to the collector starts from '$src'"

    [ "$mode" = boot ] || flows 1
    wait_records 6 "$name: round 1"
    [ "$host" = 10.99.0.1 ] || hosts 10.99.0.2
    if [ "$mode" != boot ]; then
        ip -n "$R" addr del 10.88.0.1/24 dev re
        src=$(in_r ip route get 10.99.0.1 | sed -n 's/.* src \([0-9.]*\).*/\1/p')
        [ "$src" = 10.89.0.1 ] || fa_fail "$name: after the removal the route starts from '$src'"
    fi
    flows 2
    wait_records 12 "$name: round 2 (after the address removal)"
    if [ "$host" != 10.99.0.1 ]; then
        # The reopen asked the resolver again: the socket moved to the name's new address.
        wait_for 10 "grep -q 'now resolves to 10.99.0.2:' '$work/agent.log'" \
            || fa_fail "$name: the reopen did not resolve the name again: $(tail -5 "$work/agent.log")"
        hosts 10.99.0.1
        "$BIN" reload --socket "$work/agent.sock" >"$work/reload.txt" \
            || fa_fail "$name: reload: $(cat "$work/reload.txt")"
        wait_for 10 "grep -q 'now resolves to 10.99.0.1:' '$work/agent.log'" \
            || fa_fail "$name: the reload did not resolve the name again: $(tail -5 "$work/agent.log")"
        sessions+=("10.89.0.1>10.99.0.2" "10.89.0.1>10.99.0.1")
        moves=2
    fi
    flows 3
    wait_records 18 "$name: round 3"

    bg_stop "$agent_pid" TERM 30 || rc=$?
    [ "$rc" -eq 0 ] || fa_fail "$name: flowagent exited $rc: $(cat "$work/agent.log")"
    wait_for 10 "in_c ss -Hlun 'sport = :$port' | awk '{ s += \$2 } END { exit s != 0 }'" \
        || fa_fail "$name: nfcapd did not drain its socket"
    dumpcap_stop "$cap_pid" "$work/dumpcap.log" 3
    bg_stop "$nf_pid" TERM 10 || true

    # One reopen, logged once with its reason and both local addresses.
    local lines
    lines=$(grep -c 'export socket reopened (' "$work/agent.log" || true)
    [ "$lines" -eq "$reopens" ] ||
        fa_fail "$name: $lines reopen lines in the log, want $reopens: $(cat "$work/agent.log")"
    lines=$(grep -c 'export socket reopened after [0-9]* s without a route' "$work/agent.log" || true)
    [ "$lines" -eq "$after" ] || fa_fail "$name: $lines lines for a route found, want $after"
    lines=$(grep -c 'now resolves to' "$work/agent.log" || true)
    [ "$lines" -eq "$moves" ] || fa_fail "$name: $lines moves to a new collector address, want $moves"
    # The reason: the link monitor's address event, or (when a send comes first) the send error.
    [ "$mode" = boot ] ||
        grep -q -E "collector c: export socket reopened \((send: Network is unreachable|local address 10\.88\.0\.1 removed)\): local address 10\.88\.0\.1:[0-9]+ -> 10\.89\.0\.1:[0-9]+" \
            "$work/agent.log" || fa_fail "$name: reopen line: $(grep reopened "$work/agent.log")"
    grep -q 'not sent: 0 datagrams, 0 records' "$work/agent.log" \
        || fa_fail "$name: the agent counted datagrams as not sent: $(grep 'not sent' "$work/agent.log")"

    # The stream on the wire (every datagram C received, in order).
    tshark -r "$work/export.pcapng" -d "udp.port==$port,cflow" -V >"$work/export.txt" 2>"$work/tshark.err" \
        || fa_fail "$name: tshark failed: $(cat "$work/tshark.err")"
    local verdict
    if ! verdict=$(python3 "$here/lib/check_reopen.py" "$work/export.txt" "$proto" "${sessions[@]}"); then
        # A name: when the link monitor's address event moves the socket before any datagram
        # is due, the fresh lookup answers first and no datagram goes from the new address to
        # the old collector address (the session 10.89.0.1>10.99.0.1 in between is empty).
        # Both orders are right; any other stream is not.
        [ "$host" != 10.99.0.1 ] && [ "$mode" != boot ] ||
            fa_fail "$name: export stream around the reopen (decode in $work/export.txt)"
        sessions=("${sessions[0]}" "${sessions[@]:2}")
        verdict=$(python3 "$here/lib/check_reopen.py" "$work/export.txt" "$proto" "${sessions[@]}") \
            || fa_fail "$name: export stream around the reopen (decode in $work/export.txt)"
        fa_log "$name: the address event moved the socket before a datagram was due"
    fi
    # nfcapd keeps one stream per source address: its failures are the two sessions' sum.
    local s want=0 n
    for s in "${sessions[@]}"; do
        s=${s%>*}
        [ -e "$work/export-$s.txt" ] && continue
        tshark -r "$work/export.pcapng" -d "udp.port==$port,cflow" -Y "ip.src==$s" -V \
            >"$work/export-$s.txt" 2>>"$work/tshark.err"
        n=$(python3 "$here/lib/check_seq.py" "$work/export-$s.txt" "$proto") \
            || fa_fail "$name: sequence numbers from $s"
        want=$((want + n))
    done
    local got
    got=$(nfdump_stat "$work/flows" | sed -n 's/^Sequence failures: //p')
    [ "$got" = "$want" ] || fa_fail "$name: nfcapd counted $got sequence failures, want $want"

    # Every flow with exactly what T sent.
    TZ=UTC nfdump_all "$work/flows" -q -N -o 'fmt:%sa|%sp|%da|%dp|%pr|%pkt|%byt' \
        'proto udp and src ip 10.70.0.1' >"$work/nfdump.txt" || fa_fail "$name: nfdump failed"
    python3 - "$work/truth.txt" "$work/nfdump.txt" <<'PY' || fa_fail "$name: per-flow counts"
import sys
truth = {}
for line in open(sys.argv[1]):
    sport, pkts, byts = map(int, line.split())
    truth[sport] = (pkts, byts)
got = {}
for line in open(sys.argv[2]):
    f = [x.strip() for x in line.split("|")]
    if len(f) < 7:
        continue
    sport = int(f[1])
    p, b = got.get(sport, (0, 0))
    got[sport] = (p + int(f[5]), b + int(f[6]))
if got != truth:
    for k in sorted(set(truth) | set(got)):
        if truth.get(k) != got.get(k):
            print("sport %d: sent %s, nfcapd has %s" % (k, truth.get(k), got.get(k)), file=sys.stderr)
    sys.exit(1)
print("%d flows exact" % len(truth), file=sys.stderr)
PY
    fa_log "$name: ok: $verdict; nfcapd sequence failures $got (predicted $want);" \
        "$(grep -o 'export socket reopened [0-9]* times.*' "$work/agent.log" | head -1)"
    for s in "$T" "$R" "$C"; do ip netns del "$s"; done
    rm -rf "$hosts_dir"
}

work_root=$work
run_case ipfix ipfix 10.99.0.1
run_case v9 v9 10.99.0.1
run_case name ipfix collector.fa-reopen.test
run_case boot v9 10.99.0.1 boot
fa_log "all cases passed"
