#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# Issue 10 (b): a metered veth deleted and re-created under the same name while traffic flows.
# The agent (xdp, interfaces r1 r2, long timeouts) must follow it without a reload or a restart:
# the flow on r1 before the deletion is exported when r1 goes (one record, old ifindex, exact
# packets and bytes), the same 5-tuple after the re-creation is a new flow on the new ifindex
# (exact), and the flow on r2 that runs across the event is not split (one record with the
# packets of both phases). Then r1 is renamed away from its configured name (its flow exported)
# and back (attached again): a third record. Same pid throughout; no error line in the log.
# nfcapd decodes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/links.sh"
links_init lk
links_topo || fa_fail "topology"

links_agent_start xdp "r1 r2"
old_if=$if1

# Phase 1: 100 datagrams on r1, 50 on r2.
traffic 100 50

# r1 (and its peer) deleted, then made again under the same names.
ip -n "$R" link del r1
wait_log 'links: interface r1 \(ifindex [0-9]+\) was deleted: 1 flows exported'
link_make 1 || fa_fail "re-creating r1"
new_if=$(ifindex_of r1)
[ "$new_if" != "$old_if" ] || fa_fail "r1 came back with the same ifindex $old_if"
wait_log "links: interface r1 appeared \\(ifindex $new_if.*: attached"

# Phase 2: the same 5-tuples again: 70 on the new r1, 50 more on r2.
rx1=0  # the new r1 counts from 0
traffic 70 50

# Renamed away from its configured name (r1 -> r1x: no longer metered, its flow exported) and
# back (attached again, same ifindex): the same 5-tuple is a third record.
ip -n "$R" link set r1 down
ip -n "$R" link set r1 name r1x
wait_log "links: interface r1 \\(ifindex $new_if\\) was renamed: 1 flows exported"
ip -n "$R" link set r1x name r1
ip -n "$R" link set r1 up
wait_log "links: interface r1 appeared \\(ifindex $new_if, down.*: attached"
traffic 30 50
kill -0 "$pid0" 2>/dev/null || fa_fail "the agent is gone: $(cat "$work/agent.log")"
[ "$agent_pid" = "$pid0" ] || fa_fail "the agent was restarted"
links_agent_stop
check_clean_log

# sport|dport|in|out|packets|bytes (bytes: IP total length, 20 + 8 + 300 = 328 per datagram)
expect_udp "5001|9001|$old_if|0|100|32800" \
    "5001|9001|$new_if|0|70|22960" \
    "5001|9001|$new_if|0|30|9840" \
    "6001|9002|$if2|0|150|49200"
echo "r1 deleted and re-created (ifindex $old_if -> $new_if), then renamed away and back:" \
    "100 + 70 + 30 datagrams in three exact records; r2 (ifindex $if2): one record of 150" \
    "across both events; pid $pid0 throughout"
link_events
echo "PASS"
