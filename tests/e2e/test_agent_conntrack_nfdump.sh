#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# The real agent in conntrack mode on a masquerading router, exporting IPFIX and NetFlow v9 to
# two nfcapd instances (127.0.0.1 inside the router namespace), and IPFIX to a third collector
# with `biflow = yes` and `nat_events = yes` (see "Third collector" below):
#   client ns (10.1.0.2) -- router ns (10.1.0.1 | 10.2.0.1, nft masquerade out vr1) -- server
#   ns (10.2.0.2)
# Known traffic through the router:
#   ICMP: ping -c 5 -s 56: 5 echo requests and 5 replies of 84 IP bytes (56 + 8 + 20).
#   UDP:  10 datagrams of 128 IP bytes (100 payload) 10.1.0.2:40001 -> 10.2.0.2:9999, and 4
#         answers of 228 IP bytes (200 payload) back.
#   TCP:  10.1.0.2:40010 -> 10.2.0.2:8080, 3000 bytes up, 7000 down, closed by both sides.
#         Ground truth for packets/bytes per direction: the kernel's conntrack counters
#         (conntrack -L -o extended) read before the agent stops (it never resets them), cross-checked
#         against a dumpcap capture on the router's client-side interface decoded by tshark
#         (sum of ip.len per direction).
# Post-NAT source ports: what the server saw as the sender (recvfrom/accept), not the agent.
# The ICMP entry is ended with conntrack -D (DESTROY event path); UDP and TCP are still live at
# SIGTERM and must be exported by the agent's forced end (exit status 0).
# Checks per flow and direction, on both collectors: exactly one record; packets and bytes equal
# ground truth; pre-NAT src/dst address and port; post-NAT src/dst address and port (IPFIX/v9
# IEs 225-228, shown by nfdump 1.7.1 as %xsa %xda %xsp %xdp, its "NSEL XLATE" fields); no
# other 10.x flows; zero sequence failures; flow start/end (nfdump %tsr, + %td) inside the
# wall-clock windows read around the traffic (ICMP starts during ping, >= 800 ms before its end;
# UDP/TCP start while the client ran; end >= start; end <= the agent's exit).
# Self-traffic: the agent's own export datagrams to the three collectors (127.0.0.1, inside the
# router namespace) are conntrack entries too; the agent must not meter them: no record (flow,
# biflow or NAT event) other than the test's 10.x flows may reach the collectors.
# Third collector (biflow + NAT events): one biflow record per connection whose forward and
# reverse (nfdump %opkt/%obyt) packets and bytes equal the two uniflow records' ground truth,
# with the same pre/post-NAT fields; NAT44 session events (nfdump %nevt): a create (ADD) for
# each of the three connections and a delete for ICMP (the only one destroyed while the agent
# ran), with pre/post-NAT addresses and ports (ICMP ports not compared: nfdump 1.7.1 re-derives
# them, README) and event times (%msec) inside the phase that created / destroyed the entry.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
require_root
require_tool ip nft conntrack python3 ping nfcapd nfdump dumpcap tshark ss
B=${FA_BUILD_DIR:-build}
SRC_DIR=${FA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PEER=$SRC_DIR/tests/e2e/lib/ct_nat_peer.py
[ -x "$B/flowagent" ] || fa_fail "no agent binary $B/flowagent"
export TZ=UTC

fa_tmpdir W
. "$(dirname "$0")/lib/nat_topo.sh"
nat_topo_test fa_cn

r_udp_bound() { in_r ss -Hlun "sport = :$1" 2>/dev/null | grep -q .; }
r_recvq_empty() {
    local q
    q=$(in_r ss -Hlun "sport = :$1" 2>/dev/null | awk '{ s += $2 } END { print s + 0 }')
    [ "$q" -eq 0 ]
}

# Collectors: the router namespace is ours alone, so fixed ports cannot clash.
P_IPFIX=4739
P_V9=2055
P_NEL=4740
mkdir -p "$W/ipfix" "$W/v9" "$W/nel"
bg_start NF1 ip netns exec "$R" nfcapd -4 -w "$W/ipfix" -p $P_IPFIX -b 127.0.0.1 >"$W/nfcapd_ipfix.log" 2>&1
bg_start NF2 ip netns exec "$R" nfcapd -4 -w "$W/v9" -p $P_V9 -b 127.0.0.1 >"$W/nfcapd_v9.log" 2>&1
bg_start NF3 ip netns exec "$R" nfcapd -4 -w "$W/nel" -p $P_NEL -b 127.0.0.1 >"$W/nfcapd_nel.log" 2>&1
wait_for 10 "r_udp_bound $P_IPFIX && r_udp_bound $P_V9 && r_udp_bound $P_NEL" \
    || fa_fail "nfcapd did not bind: $(cat "$W"/nfcapd_*.log)"

cat >"$W/agent.ini" <<INI
[agent]
source = conntrack
observation_domain = 11
[flows]
max_flows = 1024
active_timeout = 600
inactive_timeout = 300
[collector ipfix]
address = 127.0.0.1:$P_IPFIX
protocol = ipfix
[collector v9]
address = 127.0.0.1:$P_V9
protocol = v9
observation_domain = 12
[collector nel]
address = 127.0.0.1:$P_NEL
protocol = ipfix
observation_domain = 13
biflow = yes
nat_events = yes
INI
# The kernel default nf_conntrack_events = 2 gives no DESTROY for connections created while no
# listener exists; the agent sets 1 (with a log line) and the setting outlives it.
ip netns exec "$R" sysctl -qw net.netfilter.nf_conntrack_events=2
bg_start AGENT ip netns exec "$R" "$B/flowagent" -c "$W/agent.ini" >"$W/agent.out" 2>"$W/agent.log"
wait_for 10 "grep -q 'started:' '$W/agent.log'" \
    || fa_fail "agent did not start: $(cat "$W/agent.log")"
[ "$(ip netns exec "$R" cat /proc/sys/net/netfilter/nf_conntrack_events)" = 1 ] \
    || fa_fail "agent did not set nf_conntrack_events to 1"
grep -q 'nf_conntrack_events to 1 (was 2)' "$W/agent.log" \
    || fa_fail "no log line for nf_conntrack_events: $(cat "$W/agent.log")"

# Independent TCP ground truth: capture on the client side of the router (pre-NAT addresses).
bg_start DUMPCAP ip netns exec "$R" dumpcap -i vr0 -f "tcp port 8080" -w "$W/tcp.pcapng" 2>"$W/dumpcap.log"
wait_for 10 "[ -s '$W/tcp.pcapng' ]" || fa_fail "dumpcap did not start: $(cat "$W/dumpcap.log")"

bg_start SERVER ip netns exec "$V" python3 "$PEER" server 10.2.0.2 "$W/peers.txt" \
    >"$W/server.out" 2>"$W/server.err"
wait_for 10 "grep -q ready '$W/server.out'" || fa_fail "server did not start: $(cat "$W/server.err")"

# Wall-clock ground truth (ms since the epoch, CLOCK_REALTIME like the kernel's conntrack
# timestamps) around each phase, for the flow start/end times.
now_ms() { echo $(($(date +%s%N) / 1000000)); }
T_PING0=$(now_ms)
ip netns exec $C ping -c 5 -s 56 -i 0.2 -W 2 -q 10.2.0.2 >/dev/null || fa_fail "ping lost packets"
T_PING1=$(now_ms)
ip netns exec $C python3 "$PEER" client 10.1.0.2 10.2.0.2 || fa_fail "client traffic failed"
T_CLIENT1=$(now_ms)
wait "$SERVER" || fa_fail "server failed: $(cat "$W/server.err")"
read -r _ _ UDP_NPORT < <(grep '^udp ' "$W/peers.txt")
read -r _ _ TCP_NPORT < <(grep '^tcp ' "$W/peers.txt")
grep -q '^udp 10\.2\.0\.1 ' "$W/peers.txt" && grep -q '^tcp 10\.2\.0\.1 ' "$W/peers.txt" \
    || fa_fail "server did not see the masqueraded address: $(cat "$W/peers.txt")"
fa_log "post-NAT source ports seen by the server: udp $UDP_NPORT, tcp $TCP_NPORT"

# The last ACK moves the entry to TIME_WAIT: after that no more packets of this connection.
ct_tcp() { in_r conntrack -L -o extended -p tcp --dport 8080 2>/dev/null; }
wait_for 10 "ct_tcp | grep -q TIME_WAIT" || fa_fail "TCP entry not in TIME_WAIT: $(ct_tcp)"
CT_LINE=$(ct_tcp)
fa_log "conntrack: $CT_LINE"
read -r TCP_FP TCP_FB TCP_RP TCP_RB < <(sed -n 's/.*packets=\([0-9]*\) bytes=\([0-9]*\).*packets=\([0-9]*\) bytes=\([0-9]*\).*/\1 \2 \3 \4/p' <<<"$CT_LINE")
[ -n "${TCP_RB:-}" ] || fa_fail "no counters in conntrack output: $CT_LINE"

# Cross-check the kernel counters with the capture (frames may be GSO super-packets; conntrack
# counts them as one packet of ip.len bytes, as does the capture).
wait_for 10 "[ \$(dumpcap_count '$W/dumpcap.log') -ge $((TCP_FP + TCP_RP)) ]" \
    || fa_log "dumpcap saw only $(dumpcap_count "$W/dumpcap.log") packets"
bg_stop "$DUMPCAP" TERM 10 || true
read -r CAP_FP CAP_FB CAP_RP CAP_RB < <(tshark -r "$W/tcp.pcapng" -T fields -e ip.src -e ip.len \
    | awk '$1=="10.1.0.2" {fp++; fb+=$2} $1=="10.2.0.2" {rp++; rb+=$2}
           END {print fp+0, fb+0, rp+0, rb+0}')
fa_log "TCP ground truth: conntrack $TCP_FP/$TCP_FB + $TCP_RP/$TCP_RB, capture $CAP_FP/$CAP_FB + $CAP_RP/$CAP_RB"
[ "$CAP_FP $CAP_FB $CAP_RP $CAP_RB" = "$TCP_FP $TCP_FB $TCP_RP $TCP_RB" ] \
    || fa_fail "conntrack counters disagree with the capture"
# At least the payload plus 20+20 header bytes per packet.
[ "$TCP_FB" -ge $((3000 + 40 * TCP_FP)) ] && [ "$TCP_RB" -ge $((7000 + 40 * TCP_RP)) ] \
    || fa_fail "TCP byte counts below payload: $TCP_FB $TCP_RB"

# ICMP ends through the DESTROY event path, UDP and TCP through the agent's forced end.
in_r conntrack -D -p icmp >/dev/null 2>&1 || fa_fail "conntrack -D -p icmp found no entry"
rc=0
t0=$(date +%s%N)
bg_stop "$AGENT" TERM 20 || rc=$?
[ "$rc" -eq 0 ] || fa_fail "agent exited $rc: $(cat "$W/agent.log")"
fa_log "agent exited 0, $((($(date +%s%N) - t0) / 1000000)) ms after SIGTERM"
T_STOP=$(now_ms)
wait_for 10 "r_recvq_empty $P_IPFIX && r_recvq_empty $P_V9 && r_recvq_empty $P_NEL" \
    || fa_log "collector queue not empty"
bg_stop "$NF1" TERM 10 || true
bg_stop "$NF2" TERM 10 || true
bg_stop "$NF3" TERM 10 || true

# Expected records (nfdump -N: numeric protocol): proto src sport dst dport packets bytes xsrc xsport xdst xdport.
# nfdump shows ICMP type.code in the destination port: echo request 8.0, echo reply 0.0.
cat >"$W/want.txt" <<EOF
1 10.1.0.2 0 10.2.0.2 8.0 5 420 10.2.0.1 0 10.2.0.2 0
1 10.2.0.2 0 10.2.0.1 0.0 5 420 10.2.0.2 0 10.1.0.2 0
17 10.1.0.2 40001 10.2.0.2 9999 10 1280 10.2.0.1 $UDP_NPORT 10.2.0.2 9999
17 10.2.0.2 9999 10.2.0.1 $UDP_NPORT 4 912 10.2.0.2 9999 10.1.0.2 40001
6 10.1.0.2 40010 10.2.0.2 8080 $TCP_FP $TCP_FB 10.2.0.1 $TCP_NPORT 10.2.0.2 8080
6 10.2.0.2 8080 10.2.0.1 $TCP_NPORT $TCP_RP $TCP_RB 10.2.0.2 8080 10.1.0.2 40010
EOF
sort -o "$W/want.txt" "$W/want.txt"

fail=0
# Records (nfdump text, '|'-separated) that are not the test's 10.x traffic, as the agent's own
# export datagrams would be: none allowed. NAME FILE
no_other_records() {
    local other
    other=$(tr -d ' ' <"$2" | awk -F'|' '$2 !~ /^10\./ && $4 !~ /^10\./' | wc -l)
    echo "$1: other (loopback) records $other"
    [ "$other" -eq 0 ] && return 0
    echo "FAIL $1: $other records not of the test's traffic (the agent's own export?):"
    tr -d ' ' <"$2" | awk -F'|' '$2 !~ /^10\./ && $4 !~ /^10\./'
    return 1
}
for proto in ipfix v9; do
    nfdump -R "$W/$proto" -q -N \
        -o 'fmt:%pr|%sa|%sp|%da|%dp|%pkt|%byt|%xsa|%xsp|%xda|%xdp|%tsr|%td' \
        >"$W/$proto.txt" 2>"$W/$proto.err" || fa_fail "nfdump $proto: $(cat "$W/$proto.err")"
    # The test's own flows (10.x); anything else (the agent's export to 127.0.0.1) fails below.
    tr -d ' ' <"$W/$proto.txt" | awk -F'|' '$2 ~ /^10\./ || $4 ~ /^10\./' | cut -d'|' -f1-11 \
        | tr '|' ' ' | sort >"$W/$proto.got"
    if ! diff -u "$W/want.txt" "$W/$proto.got" >"$W/$proto.diff"; then
        echo "FAIL $proto: records differ from ground truth (- want, + got):"
        cat "$W/$proto.diff"
        echo "--- all $proto records:"
        cat "$W/$proto.txt"
        fail=1
    else
        echo "$proto: 6/6 records exact (packets, bytes, pre- and post-NAT addresses and ports)"
    fi
    # Flow start (%tsr, s since the epoch) and end (start + duration %td: nfdump 1.7.1 prints
    # %ter with a wrong fraction, .835 as .035) against the wall clock read around the
    # traffic: ICMP starts during ping (>= 800 ms before its end: 5 requests 0.2 s apart) and ends
    # by the agent's exit; UDP and TCP start while the client ran; every end >= its start and
    # <= the agent's exit. 5 ms slack for rounding to ms.
    if ! tr -d ' ' <"$W/$proto.txt" | awk -F'|' -v p0="$T_PING0" -v p1="$T_PING1" \
        -v c1="$T_CLIENT1" -v st="$T_STOP" '
        $2 !~ /^10\./ && $4 !~ /^10\./ { next }
        {
            ts = $12 * 1000; te = ts + $13 * 1000; lo = p1; hi = c1
            if ($1 == 1) { lo = p0; hi = p1 - 800 }
            ok = ts >= lo - 5 && ts <= hi + 5 && te >= ts && te <= st + 5
            printf "%s %s:%s > %s:%s start %.3f end %.3f (start window %.3f..%.3f, end <= %.3f) %s\n",
                $1, $2, $3, $4, $5, ts / 1000, te / 1000, lo / 1000, hi / 1000, st / 1000,
                ok ? "ok" : "WRONG"
            if (!ok) bad = 1
        }
        END { exit bad }' >"$W/$proto.times"; then
        echo "FAIL $proto: flow start/end times outside the wall-clock window of the traffic:"
        cat "$W/$proto.times"
        fail=1
    else
        echo "$proto: 6/6 flow start/end times inside the traffic's wall-clock windows"
    fi
    seqfail=$(nfdump -R "$W/$proto" -I | awk '/^Sequence failures:/ {print $3}')
    echo "$proto: sequence failures ${seqfail:-?}"
    no_other_records "$proto" "$W/$proto.txt" || fail=1
    [ "${seqfail:-x}" = 0 ] || { echo "FAIL $proto: sequence failures ${seqfail:-?}"; fail=1; }
done

# Third collector. Biflow records: proto src sport dst dport packets bytes out-packets out-bytes
# xsrc xsport xdst xdport (the reply direction's counts are the uniflow reply records' above).
cat >"$W/want_bi.txt" <<EOF
1 10.1.0.2 0 10.2.0.2 8.0 5 420 5 420 10.2.0.1 0 10.2.0.2 0
17 10.1.0.2 40001 10.2.0.2 9999 10 1280 4 912 10.2.0.1 $UDP_NPORT 10.2.0.2 9999
6 10.1.0.2 40010 10.2.0.2 8080 $TCP_FP $TCP_FB $TCP_RP $TCP_RB 10.2.0.1 $TCP_NPORT 10.2.0.2 8080
EOF
# NAT events: proto src sport dst dport nsrc nsport ndst ndport event ('-': ICMP port, not compared).
cat >"$W/want_nel.txt" <<EOF
1 10.1.0.2 - 10.2.0.2 - 10.2.0.1 - 10.2.0.2 - ADD
1 10.1.0.2 - 10.2.0.2 - 10.2.0.1 - 10.2.0.2 - DELETE
17 10.1.0.2 40001 10.2.0.2 9999 10.2.0.1 $UDP_NPORT 10.2.0.2 9999 ADD
6 10.1.0.2 40010 10.2.0.2 8080 10.2.0.1 $TCP_NPORT 10.2.0.2 8080 ADD
EOF
sort -o "$W/want_bi.txt" "$W/want_bi.txt"
sort -o "$W/want_nel.txt" "$W/want_nel.txt"
nfdump -R "$W/nel" -q -N \
    -o 'fmt:%pr|%sa|%sp|%da|%dp|%pkt|%byt|%opkt|%obyt|%nsa|%nsp|%nda|%ndp|%nevt|%msec' \
    >"$W/nel.txt" 2>"$W/nel.err" || fa_fail "nfdump nel: $(cat "$W/nel.err")"
tr -d ' ' <"$W/nel.txt" | awk -F'|' '($2 ~ /^10\./ || $4 ~ /^10\./) && $14 != "ADD" && $14 != "DELETE"' \
    | cut -d'|' -f1-13 | tr '|' ' ' | sort >"$W/bi.got"
tr -d ' ' <"$W/nel.txt" | awk -F'|' -v OFS=' ' '$14 == "ADD" || $14 == "DELETE" {
        if ($1 == 1) { $3 = "-"; $5 = "-"; $11 = "-"; $13 = "-" }
        print $1, $2, $3, $4, $5, $10, $11, $12, $13, $14 }' | sort >"$W/nel.got"
no_other_records nel "$W/nel.txt" || fail=1
if ! diff -u "$W/want_bi.txt" "$W/bi.got"; then
    echo "FAIL biflow: records differ from ground truth (- want, + got); all records:"
    cat "$W/nel.txt"
    fail=1
else
    echo "biflow: 3/3 connections exact (forward and reverse packets, bytes, NAT fields)"
fi
if ! diff -u "$W/want_nel.txt" "$W/nel.got"; then
    echo "FAIL NAT events differ from ground truth (- want, + got); all records:"
    cat "$W/nel.txt"
    fail=1
else
    echo "NAT events: 4/4 exact (create per connection, delete for the destroyed ICMP entry)"
fi
# Event times (ms): ICMP create during ping, UDP/TCP create during the client run, the ICMP
# delete between the end of the client run (conntrack -D came after it) and the agent's exit.
# A NEW event carries no kernel timestamp: its time is when the agent read it, so creates get
# 500 ms past the end of their phase for the agent's wake-up on a loaded host (the ping phase
# is >= 800 ms long, so the ICMP create still falls inside it); deletes carry the kernel's stop
# time.
if ! tr -d ' ' <"$W/nel.txt" | awk -F'|' -v p0="$T_PING0" -v p1="$T_PING1" -v c1="$T_CLIENT1" \
    -v st="$T_STOP" '
    $14 != "ADD" && $14 != "DELETE" { next }
    {
        lo = p1; hi = c1 + 500
        if ($1 == 1 && $14 == "ADD") { lo = p0; hi = p1 }
        if ($14 == "DELETE") { lo = c1; hi = st }
        ok = $15 >= lo - 5 && $15 <= hi + 5
        printf "%s %s %s at %.3f (window %.3f..%.3f) %s\n", $1, $2, $14, $15 / 1000, lo / 1000,
            hi / 1000, ok ? "ok" : "WRONG"
        if (!ok) bad = 1
    }
    END { exit bad }' >"$W/nel.times"; then
    echo "FAIL NAT event times outside their windows:"
    cat "$W/nel.times"
    fail=1
else
    echo "NAT events: 4/4 event times inside their phases"
    cat "$W/nel.times"
fi
[ "$fail" -eq 0 ] || { echo "--- agent log:"; cat "$W/agent.log"; exit 1; }
echo "PASS: conntrack NAT flows exact on nfcapd (IPFIX and v9; IPFIX biflow and NAT events)"
