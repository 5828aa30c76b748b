# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154 # globals shared with the calling test
# SPDX-License-Identifier: GPL-2.0-only
# Shared by the link e2e tests (test_links_*.sh; sourced after common.sh, not run): a router
# namespace R with two metered veth links to two hosts, the agent and nfcapd in R.
#   H1: h1 10.71.0.1/24  <-->  R: r1 10.71.0.2/24
#   H2: h2 10.72.0.1/24  <-->  R: r2 10.72.0.2/24
# IPv6 is off on every link (no ND/MLD frames) and neighbours are static (no ARP), so the only
# IP packets arriving on r1 and r2 are the test's datagrams. The caller sets R, H1, H2 and
# `work`, and registers the namespaces' deletion with on_exit before calling links_topo.
#
# links_init TAG             root and tools required; build, work, R, H1, H2 set (cleaned up)
# links_ns                   the three namespaces, no link yet
# links_topo                 the three namespaces, both links
# link_make N                (re)creates link N (1 or 2): veth rN <-> hN, addresses, neighbours
# ifindex_of IF              IF's ifindex in R
# rx_packets IF              IF's received-packet counter in R
# send_udp N SPORT DPORT COUNT   COUNT datagrams of 300 bytes payload from hN to R on link N
# traffic N1 N2              N1 datagrams on link 1, N2 on link 2, settled (see there)
# links_agent_start MODE IFS     nfcapd + flowagent (interfaces IFS) in R; sets agent_pid and
#                            pid0 (its pid), if1 and if2 (ifindex of r1, r2 then; 0: none)
# links_agent_stop           TERM (must exit 0), nfcapd reads everything, stops
# wait_log PATTERN [TIMEOUT] waits until the agent log matches PATTERN (grep -E)
# udp_records                one line per UDP record nfcapd stored: sport|dport|in|out|pkt|byt
# check_clean_log            no error line and no "drain failed" in the agent's log
# expect_udp LINE...         udp_records equal these lines (any order)

links_init() {
    require_root
    require_tool ip python3 nfcapd nfdump ss
    build=${FA_BUILD_DIR:?}
    [ -x "$build/flowagent" ] || fa_fail "missing $build/flowagent"
    R=fa-$1R-$$ H1=fa-$1A-$$ H2=fa-$1B-$$
    work="" agent_pid="" nfcapd_pid="" collector_port=""
    fa_tmpdir work
    on_exit "ip netns del $R 2>/dev/null"
    on_exit "ip netns del $H1 2>/dev/null"
    on_exit "ip netns del $H2 2>/dev/null"
}

links_ns() {
    local ns
    for ns in "$R" "$H1" "$H2"; do
        ip netns add "$ns" || return 1
        ip -n "$ns" link set lo up || return 1
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 \
            net.ipv6.conf.all.disable_ipv6=1 || return 1
    done
}
links_topo() { links_ns && link_make 1 && link_make 2; }

link_make() {
    local n=$1 mac_r mac_h h
    h=$H1
    [ "$n" = 2 ] && h=$H2
    ip -n "$R" link add "r$n" type veth peer name "h$n" netns "$h" &&
    ip -n "$R" addr add "10.7$n.0.2/24" dev "r$n" && ip -n "$h" addr add "10.7$n.0.1/24" dev "h$n" &&
    ip -n "$R" link set "r$n" up && ip -n "$h" link set "h$n" up || return 1
    mac_r=$(ip -n "$R" -o link show "r$n" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
    mac_h=$(ip -n "$h" -o link show "h$n" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
    ip -n "$h" neigh replace "10.7$n.0.2" lladdr "$mac_r" dev "h$n" nud permanent &&
    ip -n "$R" neigh replace "10.7$n.0.1" lladdr "$mac_h" dev "r$n" nud permanent
}

ifindex_of() { ip netns exec "$R" cat "/sys/class/net/$1/ifindex"; }
rx_packets() { ip netns exec "$R" cat "/sys/class/net/$1/statistics/rx_packets"; }

send_udp() {
    local n=$1 sport=$2 dport=$3 count=$4 h=$H1
    [ "$n" = 2 ] && h=$H2
    ip netns exec "$h" python3 - "10.7$n.0.2" "$sport" "$dport" "$count" <<'PY'
import socket, sys
dst, sport, dport, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", sport))
for i in range(count):
    s.sendto(b"x" * 300, (dst, dport))
PY
}

# settle IF N: waits until IF in R has received N packets (each datagram passed its hook).
settle() {
    wait_for 10 "[ \$(rx_packets $1) -ge $2 ]" || fa_fail "$1: $(rx_packets "$1") of $2 packets arrived"
    sleep 0.2
}

# traffic N1 N2: N1 datagrams on link 1 (5001 -> 9001), N2 on link 2 (6001 -> 9002), then
# waits until R counted them (rx1/rx2: packets so far on r1/r2; a link made again starts at 0).
rx1=0 rx2=0
traffic() {
    send_udp 1 5001 9001 "$1"
    send_udp 2 6001 9002 "$2"
    rx1=$((rx1 + $1)) rx2=$((rx2 + $2))
    settle r1 "$rx1"
    settle r2 "$rx2"
}

links_agent_start() {
    local mode=$1 ifs=$2
    ns_nfcapd_start nfcapd_pid collector_port "$R" "$work/flows"
    cat >"$work/agent.ini" <<INI
[agent]
source = $mode
interfaces = $ifs
control_socket = $work/agent.sock
[flows]
active_timeout = 600
inactive_timeout = 300
[collector c]
address = 127.0.0.1:$collector_port
protocol = ipfix
INI
    bg_start agent_pid ip netns exec "$R" "$build/flowagent" -c "$work/agent.ini" \
        2>"$work/agent.log"
    wait_for 20 "grep -q 'started:' '$work/agent.log' || ! kill -0 $agent_pid 2>/dev/null" || true
    grep -q 'started:' "$work/agent.log" || fa_fail "agent did not start: $(cat "$work/agent.log")"
    pid0=$agent_pid
    if1=$(ifindex_of r1 2>/dev/null || echo 0)
    if2=$(ifindex_of r2 2>/dev/null || echo 0)
}

links_agent_stop() {
    local rc=0
    kill -0 "$agent_pid" 2>/dev/null || fa_fail "the agent is no longer running: $(cat "$work/agent.log")"
    bg_stop "$agent_pid" TERM 30 || rc=$?
    [ "$rc" -eq 0 ] || fa_fail "flowagent exited $rc: $(cat "$work/agent.log")"
    wait_for 10 '[ "$(collector_recvq)" -eq 0 ]' || fa_fail "nfcapd did not drain its socket"
    bg_stop "$nfcapd_pid" TERM 10 || true
    [ "$(nfcapd_files "$work/flows" | wc -l)" -ge 1 ] || fa_fail "nfcapd wrote no file"
}

collector_recvq() {
    ip netns exec "$R" ss -Hlun "sport = :$collector_port" | awk '{ s += $2 } END { print s + 0 }'
}

wait_log() {
    wait_for "${2:-10}" "grep -Eq '$1' '$work/agent.log'" ||
        fa_fail "the agent did not log /$1/: $(cat "$work/agent.log")"
}

udp_records() {
    TZ=UTC nfdump_all "$work/flows" -q -N -o 'fmt:%pr|%sp|%dp|%in|%out|%pkt|%byt' 'proto udp' |
        tr -d ' ' | cut -d'|' -f2-
}

check_clean_log() {
    if grep -E 'error:|drain failed' "$work/agent.log"; then
        fa_fail "error lines in the agent's log: $(cat "$work/agent.log")"
    fi
    [ "$(grep -c 'started:' "$work/agent.log")" -eq 1 ] || fa_fail "the agent started more than once"
}

# The link monitor's counters, from the agent's exit line (for the test's report).
link_events() { grep -o 'links: [0-9]* link events, [0-9]* address events.*' "$work/agent.log"; }

expect_udp() {
    printf '%s\n' "$@" | sort >"$work/want.txt"
    udp_records | sort >"$work/udp.txt"
    if ! diff "$work/want.txt" "$work/udp.txt"; then
        fa_log "agent log:"
        cat "$work/agent.log" >&2
        fa_fail "records differ from the traffic (want above, nfdump below)"
    fi
}
