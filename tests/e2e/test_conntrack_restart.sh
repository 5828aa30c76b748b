#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# Restart exactness without touching the kernel's counters. Through the masquerading router of
# lib/nat_topo.sh, one UDP connection (10.1.0.2:PORT -> 10.2.0.2:9999, every datagram echoed)
# and one TCP connection (10.1.0.2:PORT+9 -> 10.2.0.2:8080, every byte echoed) carry traffic
# before, during and after a SIGTERM + restart of the agent ([conntrack] state_file in the test
# directory, active_timeout = 2 so the first run also exports active-timeout deltas):
#   agent 1 runs: send 20, wait for an active-timeout export, send 10; SIGTERM (forced end of
#   both connections, state file written); counters K1 (conntrack -L -o extended);
#   agent down: send 15; counters K2;
#   agent 2 starts (same state file): send 25; TCP closed; counters KEND; SIGTERM.
# Ground truth per connection and direction is the kernel's own counters (never reset now:
# KEND is the connections' whole lifetime), and for UDP also the traffic sent: 70 datagrams of
# 128 IP bytes each way. The collector (nfcapd, IPFIX) totals per connection and direction,
# summed over both runs by nfdump, must equal:
#   clean    the state file as written: KEND exactly (no double count, no loss: the delta the
#            first run exported is the second run's baseline);
#   corrupt  a record byte of the state file flipped between the runs (CRC mismatch). The
#            documented fallback (README, [conntrack] state_file): the counters the second
#            run's start-up dump finds are the baselines, so the traffic sent while no agent ran
#            is not exported and nothing is counted twice: K1 + (KEND - K2) exactly.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
require_root
require_tool ip nft conntrack python3 nfcapd nfdump ss
B=${FA_BUILD_DIR:-build}
SRC_DIR=${FA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PEER=$SRC_DIR/tests/e2e/lib/ct_long_peer.py
[ -x "$B/flowagent" ] || fa_fail "no agent binary $B/flowagent"

fa_tmpdir W
. "$(dirname "$0")/lib/nat_topo.sh"
. "$(dirname "$0")/lib/ct_long.sh"
nat_topo_test fa_crs

# Accounting on before the TCP connections open (before the agent, which would set it too):
# the kernel gives a connection counters only if it was on when the connection was created.
in_r sysctl -qw net.netfilter.nf_conntrack_acct=1 net.netfilter.nf_conntrack_timestamp=1
bg_start SERVER ip netns exec "$V" python3 "$PEER" server 10.2.0.2 >"$W/server.out" 2>"$W/server.err"
wait_for 10 "grep -q ready '$W/server.out'" || fa_fail "server did not start: $(cat "$W/server.err")"

start_agent() {  # start_agent CASE PORT RUN
    cat >"$W/$1.ini" <<INI
[agent]
source = conntrack
[flows]
max_flows = 1024
active_timeout = 2
inactive_timeout = 1
[collector c]
address = 127.0.0.1:$2
protocol = ipfix
[conntrack]
state_file = $W/$1.state
INI
    bg_start AGENT ip netns exec "$R" "$B/flowagent" -c "$W/$1.ini" >/dev/null 2>"$W/$1.agent$3.log"
    wait_for 10 "grep -q 'started:' '$W/$1.agent$3.log'" \
        || fa_fail "$1: agent $3 did not start: $(cat "$W/$1.agent$3.log")"
}
stop_agent() {  # stop_agent CASE RUN
    local rc=0
    bg_stop "$AGENT" TERM 20 || rc=$?
    [ "$rc" -eq 0 ] || fa_fail "$1: agent $2 exited $rc: $(tail -20 "$W/$1.agent$2.log")"
}
fail=0
run_case() {  # run_case CASE PORT(client UDP; TCP is +9, collector PORT - 30000)
    local name=$1 port=$2 cport=$(($2 - 30000))
    mkdir -p "$W/$name.nf"
    bg_start NF ip netns exec "$R" nfcapd -4 -w "$W/$name.nf" -p "$cport" -b 127.0.0.1 >"$W/$name.nfcapd.log" 2>&1
    wait_for 10 "in_r ss -Hlun 'sport = :$cport' | grep -q ." || fa_fail "$name: nfcapd did not bind"
    mkfifo "$W/$name.cmd"
    bg_start CLIENT ip netns exec "$C" python3 "$PEER" client 10.1.0.2 10.2.0.2 "$W/$name.cmd" "$port" \
        >"$W/$name.client.out" 2>"$W/$name.client.err"
    exec {CMD_FD}>"$W/$name.cmd"
    wait_for 10 "grep -q connected '$W/$name.client.out'" || fa_fail "$name: client did not connect"

    start_agent "$name" "$cport" 1
    ct_send "$W/$name.client.out" 20
    sleep 3  # active_timeout 2: the dumps export a delta of both connections
    ct_send "$W/$name.client.out" 10
    ct_settled "$port" >/dev/null  # the last delayed ACK, before the forced-end dump counts it
    stop_agent "$name" 1
    # (the first case's connections, still in the table, are saved in the second case too)
    grep -Eq "state file $W/$name.state written: [0-9]+ connection baseline" "$W/$name.agent1.log" \
        || fa_fail "$name: the first run saved no baselines: $(grep conntrack: "$W/$name.agent1.log")"
    read -r -a K1 < <(ct_settled "$port")
    ct_send "$W/$name.client.out" 15  # no agent
    read -r -a K2 < <(ct_settled "$port")
    if [ "$name" = corrupt ]; then
        python3 - "$W/$name.state" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[72 + 20] ^= 0x01  # a counter byte of the first record: the CRC no longer matches
open(p, "wb").write(b)
PY
    fi
    start_agent "$name" "$cport" 2
    if [ "$name" = corrupt ]; then
        grep -q "state file $W/$name.state is unusable: CRC mismatch" "$W/$name.agent2.log" \
            || fa_fail "$name: no fallback log line: $(grep conntrack: "$W/$name.agent2.log")"
    else
        grep -Eq "state file $W/$name.state: baselines of [0-9]+ live connection\(s\) restored" "$W/$name.agent2.log" \
            || fa_fail "$name: baselines not restored: $(grep conntrack: "$W/$name.agent2.log")"
    fi
    ct_send "$W/$name.client.out" 25
    echo close >&"$CMD_FD"
    wait_for 10 "grep -q closed '$W/$name.client.out'" || fa_fail "$name: TCP close failed"
    wait_for 10 "in_r conntrack -L -p tcp --sport $((port + 9)) 2>/dev/null | grep -q TIME_WAIT" \
        || fa_fail "$name: TCP not in TIME_WAIT"
    read -r -a KEND < <(ct_settled "$port")
    fa_log "$name: counters at the end: ${KEND[*]}"
    [ "${#KEND[@]}" -eq 8 ] || fa_fail "$name: no counters: $(in_r conntrack -L -o extended 2>&1)"
    echo quit >&"$CMD_FD"
    exec {CMD_FD}>&-
    wait "$CLIENT" || fa_fail "$name: client failed: $(cat "$W/$name.client.err")"
    stop_agent "$name" 2
    wait_for 10 "in_r ss -Hlun 'sport = :$cport' | awk '{ s += \$2 } END { exit s != 0 }'" || true
    bg_stop "$NF" TERM 10 || true

    # UDP ground truth from the traffic itself: 70 datagrams of 128 bytes each way.
    [ "${KEND[*]:0:4}" = "70 8960 70 8960" ] \
        || fa_fail "$name: conntrack UDP counters ${KEND[*]:0:4}, sent 70/8960 each way"
    local want=() i
    for i in 0 1 2 3 4 5 6 7; do
        if [ "$name" = corrupt ]; then want+=($((K1[i] + KEND[i] - K2[i]))); else want+=("${KEND[i]}"); fi
    done
    # Collector totals per connection and direction: UDP orig, UDP reply, TCP orig, TCP reply.
    local got
    # (the reply direction by its destination, the masqueraded client port, which the kernel
    # keeps here: the other case's connections are live too and reach this collector)
    got=$(nfdump -R "$W/$name.nf" -q -N -o 'fmt:%pr|%sa|%sp|%pkt|%byt|%dp' 2>/dev/null | tr -d ' ' |
        awk -F'|' -v p="$port" '
            $1 == 17 && $2 == "10.1.0.2" && $3 == p                    { a += $4; b += $5 }
            $1 == 17 && $2 == "10.2.0.2" && $3 == 9999 && $6 == p      { c += $4; d += $5 }
            $1 == 6  && $2 == "10.1.0.2" && $3 == p + 9                { e += $4; f += $5 }
            $1 == 6  && $2 == "10.2.0.2" && $3 == 8080 && $6 == p + 9  { g += $4; h += $5 }
            END { print a + 0, b + 0, c + 0, d + 0, e + 0, f + 0, g + 0, h + 0 }')
    fa_log "$name: K1 ${K1[*]} | K2 ${K2[*]} | KEND ${KEND[*]}"
    if [ "$got" = "${want[*]}" ]; then
        fa_log "$name: collector totals exact per connection and direction: $got"
    else
        fa_log "FAIL $name: collector totals $got, want ${want[*]} (udp o/r, tcp o/r: packets bytes)"
        fail=1
    fi
}

run_case clean 41001
run_case corrupt 42001
[ "$fail" -eq 0 ] || exit 1
echo "PASS: restart exact per connection and direction (clean state file), documented fallback exact (corrupt state file)"
