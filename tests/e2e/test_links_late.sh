#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# Issue 10 (d): the agent (tc) started before its interfaces exist (a router's boot order).
# --check-config names both as missing and still exits 0. The agent starts, waits with one
# log line per interface and no error (no "drain failed" while nothing is attached), attaches
# each interface when it is created, and the flows on them are exact in nfdump.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/links.sh"
links_init ll
links_ns || fa_fail "namespaces"

links_agent_start tc "r1 r2"
# --check-config with the same file, in R: valid (0), both interfaces named as missing.
rc=0
ip netns exec "$R" "$build/flowagent" -c "$work/agent.ini" --check-config >"$work/check.out" \
    2>"$work/check.err" || rc=$?
[ "$rc" -eq 0 ] || fa_fail "--check-config exited $rc: $(cat "$work/check.err")"
for i in r1 r2; do
    grep -q "interfaces: $i does not exist now" "$work/check.err" ||
        fa_fail "--check-config did not name $i: $(cat "$work/check.err")"
done
grep -q '2 of 2 interfaces do not exist now' "$work/check.out" ||
    fa_fail "--check-config summary: $(cat "$work/check.out")"

# Two drain intervals with nothing attached.
sleep 2.5
[ "$(grep -c 'waiting for interface' "$work/agent.log")" -eq 2 ] ||
    fa_fail "want one waiting line per interface: $(cat "$work/agent.log")"

link_make 2 || fa_fail "making r2"
if2=$(ifindex_of r2)
wait_log "links: interface r2 appeared \\(ifindex $if2.*: attached"
link_make 1 || fa_fail "making r1"
if1=$(ifindex_of r1)
wait_log "links: interface r1 appeared \\(ifindex $if1.*: attached"

traffic 100 40
kill -0 "$pid0" 2>/dev/null || fa_fail "the agent is gone: $(cat "$work/agent.log")"
links_agent_stop
check_clean_log
expect_udp "5001|9001|$if1|0|100|32800" \
    "6001|9002|$if2|0|40|13120"
echo "started with r1 and r2 missing; attached when made (ifindex $if1, $if2); 100 and 40" \
    "datagrams exact; pid $pid0 throughout"
link_events
echo "PASS"
