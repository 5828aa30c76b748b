#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# Issue 10: a PPPoE redial as the agent sees it. ppp0 is a tun device typed PPP (packets start
# at the IP header, as on pppoe-wan), metered by the xdp source's L3 entry. It is deleted and
# made again under the same name (a new ifindex) while the agent runs: the flows before are
# exported when it goes, with the old ifindex, the same 5-tuples after it are new records with
# the new ifindex; both exact (lib/tun_peer.py counts what it wrote). Same pid, no error line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/links.sh"
links_init lr
links_ns || fa_fail "namespaces"
peer=$here/lib/tun_peer.py

# ppp_up: the tun device ppp0 in R, typed PPP (ARPHRD 512), 10.89.0.1/24 and fd89::1/64.
ppp_up() {
    ip -n "$R" tuntap add dev ppp0 mode tun &&
    ip netns exec "$R" python3 "$peer" settype ppp0 512 &&
    ip netns exec "$R" sysctl -qw net.ipv6.conf.ppp0.disable_ipv6=0 &&
    ip -n "$R" link set ppp0 up &&
    ip -n "$R" addr add 10.89.0.1/24 dev ppp0 && ip -n "$R" addr add fd89::1/64 dev ppp0 nodad
}
# dial N IDX: tun_peer writes N IPv4 and N IPv6 datagrams in through ppp0; the expected
# records (incoming flows: xdp) go to $work/want.lines as sport|dport|in|out|packets|bytes.
dial() {
    ip netns exec "$R" python3 "$peer" run ppp0 10.89.0.1 10.89.0.2 fd89::1 fd89::2 9900 "$1" \
        >"$work/peer.out" || fa_fail "tun_peer failed"
    awk -v idx="$2" '$1 == "in" && $2 == 17 { print $4 "|" $6 "|" idx "|0|" $7 "|" $8 }' \
        "$work/peer.out" >>"$work/want.lines"
}

ppp_up || fa_fail "ppp0"
links_agent_start xdp ppp0
old_if=$(ifindex_of ppp0)
grep -q "attached to ppp0 (ifindex $old_if, L3)" "$work/agent.log" ||
    fa_fail "ppp0 not attached as an L3 device: $(cat "$work/agent.log")"
: >"$work/want.lines"
dial 40 "$old_if"

ip -n "$R" link del ppp0
wait_log "links: interface ppp0 \\(ifindex $old_if\\) was deleted: 2 flows exported"
ppp_up || fa_fail "ppp0 again"
new_if=$(ifindex_of ppp0)
[ "$new_if" != "$old_if" ] || fa_fail "ppp0 came back with the same ifindex"
wait_log "links: interface ppp0 appeared \\(ifindex $new_if.*link type 512\\): attached"
dial 25 "$new_if"

kill -0 "$pid0" 2>/dev/null || fa_fail "the agent is gone: $(cat "$work/agent.log")"
links_agent_stop
check_clean_log
[ "$(wc -l <"$work/want.lines")" -eq 4 ] || fa_fail "tun_peer: $(cat "$work/peer.out")"
mapfile -t want <"$work/want.lines"
expect_udp "${want[@]}"
echo "ppp0 (PPP, L3 entry) deleted and made again (ifindex $old_if -> $new_if): 2 flows of" \
    "40 and 2 of 25 datagrams, exact, old and new ifindex; pid $pid0 throughout"
link_events
echo "PASS"
