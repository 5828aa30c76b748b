#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# The agent reads the kernel's connection tracking and never writes it: other readers of the
# per-connection counters (conntrack -L, nlbwmon, conntrackd, nft "ct bytes" rules) see what
# they would see without it. Through the masquerading router of lib/nat_topo.sh, one UDP
# connection (every datagram echoed) and one TCP connection (every byte echoed), opened before
# the agent starts, carry traffic while the agent starts, reloads (SIGHUP), stops (SIGTERM) and
# starts again. After each step the counters of both connections and directions are read with
# `conntrack -L -o extended` (once settled) and must never decrease; a step that sends nothing
# (agent start, SIGHUP, SIGTERM, restart, final SIGTERM) must leave them exactly as they were.
# The UDP counters at the end equal the traffic sent (80 datagrams of 128 IP bytes each way).
# An nft rule in the router counts the client's datagrams of a connection that has already
# carried 5120 bytes (`ct bytes ge 5120`, both directions): datagram k (echoed before k + 1 is
# sent) sees 256 k - 128 bytes, so it matches from k = 21 on. Checked before the agent starts
# (30 sent: 10 matches) and at the end (80 sent: 60 matches): what the rule counts without the
# agent, and what it must still count with it. (Before this rule existed, the agent's stop
# zeroed every connection's counters: after the first SIGTERM the counters read 0 and the rule
# stopped matching for the next 20 datagrams.)
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
require_root
require_tool ip nft conntrack python3 ss
B=${FA_BUILD_DIR:-build}
SRC_DIR=${FA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PEER=$SRC_DIR/tests/e2e/lib/ct_long_peer.py
PORT=43001
[ -x "$B/flowagent" ] || fa_fail "no agent binary $B/flowagent"

fa_tmpdir W
. "$(dirname "$0")/lib/nat_topo.sh"
. "$(dirname "$0")/lib/ct_long.sh"
nat_topo_test fa_cox

in_r sysctl -qw net.netfilter.nf_conntrack_acct=1 net.netfilter.nf_conntrack_timestamp=1
in_r nft -f - <<NFT || fa_fail "nft ct bytes rule"
table inet fa_cox_ct {
    chain c_forward { type filter hook forward priority 0; udp dport 9999 ct bytes ge 5120 counter; }
}
NFT
rule_matches() { in_r nft list table inet fa_cox_ct | sed -n 's/.*counter packets \([0-9]*\) .*/\1/p'; }

bg_start SERVER ip netns exec "$V" python3 "$PEER" server 10.2.0.2 >"$W/server.out" 2>"$W/server.err"
wait_for 10 "grep -q ready '$W/server.out'" || fa_fail "server did not start: $(cat "$W/server.err")"
mkfifo "$W/cmd"
bg_start CLIENT ip netns exec "$C" python3 "$PEER" client 10.1.0.2 10.2.0.2 "$W/cmd" $PORT \
    >"$W/client.out" 2>"$W/client.err"
exec {CMD_FD}>"$W/cmd"
wait_for 10 "grep -q connected '$W/client.out'" || fa_fail "client did not connect"

fail=0
PREV=""
# step NAME same|grow: reads the settled counters and compares them with the previous step's.
step() {
    local now i
    now=$(ct_settled $PORT)
    read -r -a n <<<"$now"
    [ "${#n[@]}" -eq 8 ] || fa_fail "$1: no counters for both connections: $(in_r conntrack -L -o extended 2>&1)"
    fa_log "$1: $now"
    if [ -n "$PREV" ]; then
        read -r -a p <<<"$PREV"
        for i in 0 1 2 3 4 5 6 7; do
            if [ "${n[i]}" -lt "${p[i]}" ]; then
                fa_log "FAIL: $1: counter $i went down from ${p[i]} to ${n[i]} ($PREV -> $now)"
                fail=1
            fi
        done
        if [ "$2" = same ] && [ "$now" != "$PREV" ]; then
            fa_log "FAIL: $1 changed the counters without traffic: $PREV -> $now"
            fail=1
        fi
    fi
    PREV=$now
}

cat >"$W/agent.ini" <<INI
[agent]
source = conntrack
[flows]
max_flows = 1024
active_timeout = 2
inactive_timeout = 1
[collector c]
address = 127.0.0.1:9
[conntrack]
state_file = $W/ct.state
INI
start_agent() {
    bg_start AGENT ip netns exec "$R" "$B/flowagent" -c "$W/agent.ini" >/dev/null 2>"$W/agent$1.log"
    wait_for 10 "grep -q 'started:' '$W/agent$1.log'" || fa_fail "agent did not start: $(cat "$W/agent$1.log")"
}
stop_agent() {
    local rc=0
    bg_stop "$AGENT" TERM 20 || rc=$?
    [ "$rc" -eq 0 ] || fa_fail "agent exited $rc: $(tail -20 "$W/agent$1.log")"
}

ct_send "$W/client.out" 30
step "30 sent, no agent" grow
m=$(rule_matches)
[ "$m" = 10 ] || fa_fail "the ct bytes rule matched $m of the first 30 datagrams without the agent, want 10"
start_agent 1
step "agent started" same
ct_send "$W/client.out" 15
sleep 2.5  # an active-timeout dump cycle
step "15 sent" grow
kill -HUP "$AGENT"
wait_for 10 "[ \$(grep -c 'started:' '$W/agent1.log') -ge 2 ]" || fa_fail "no reload after SIGHUP"
step "SIGHUP" same
ct_send "$W/client.out" 15
step "15 sent after the reload" grow
stop_agent 1
step "SIGTERM" same
start_agent 2
step "agent restarted" same
ct_send "$W/client.out" 20
sleep 2.5
step "20 sent" grow
stop_agent 2
step "final SIGTERM" same

echo quit >&"$CMD_FD"
exec {CMD_FD}>&-
wait "$CLIENT" || fa_fail "client failed: $(cat "$W/client.err")"
read -r -a n <<<"$PREV"
[ "${n[*]:0:4}" = "80 10240 80 10240" ] \
    || { fa_log "FAIL: UDP counters ${n[*]:0:4}, sent 80 datagrams of 128 bytes each way"; fail=1; }
m=$(rule_matches)
[ "$m" = 60 ] || { fa_log "FAIL: the ct bytes rule matched $m of 80 datagrams, want 60 (as without the agent)"; fail=1; }
[ "$fail" -eq 0 ] || exit 1
echo "PASS: conntrack counters only grew across start, SIGHUP, SIGTERM and restart (unchanged by each); ct bytes rule matched 60 of 80 as without the agent"
