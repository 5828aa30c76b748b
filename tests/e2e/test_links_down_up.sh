#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# Issue 10 (c): a metered interface set down and up again (not deleted). The tc programs stay
# attached across it and the flow only pauses: the same 5-tuple before and after is one record
# with the packets of both phases (long timeouts), on the same ifindex; the other interface's
# flow is one record too. The agent logs down and up; no error line; same pid.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/links.sh"
links_init ld
links_topo || fa_fail "topology"

links_agent_start tc "r1 r2"

traffic 100 50

ip -n "$R" link set r1 down
wait_log "links: interface r1 \\(ifindex $if1\\) is down: programs stay attached"
ip -n "$R" link set r1 up
wait_log "links: interface r1 \\(ifindex $if1\\) is up"
# Down dropped R's neighbour entries on r1; H1's stay (its side never went down).
ip -n "$R" neigh replace 10.71.0.1 lladdr "$(ip -n "$H1" -o link show h1 |
    sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')" dev r1 nud permanent

traffic 70 50
[ "$(ifindex_of r1)" = "$if1" ] || fa_fail "r1 changed its ifindex"
kill -0 "$pid0" 2>/dev/null || fa_fail "the agent is gone: $(cat "$work/agent.log")"
links_agent_stop
check_clean_log
grep -q 'was deleted\|appeared' "$work/agent.log" && fa_fail "down/up taken for a deletion"
expect_udp "5001|9001|$if1|0|170|55760" \
    "6001|9002|$if2|0|100|32800"
echo "r1 (ifindex $if1) down and up: 100 + 70 datagrams in one record; r2 one record of 100;" \
    "pid $pid0 throughout"
link_events
echo "PASS"
