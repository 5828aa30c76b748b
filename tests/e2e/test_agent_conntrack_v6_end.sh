#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# The real agent in conntrack mode on an IPv6 NAT66 router, exporting IPFIX to nfcapd, with
# [conntrack] mark = yes and zone = yes:
#   client ns (fd01::2) -- router ns (fd01::1 | fd02::1, nft ip6 masquerade out vr1, ct zone 7
#   set in raw prerouting, ct mark 42 set in forward) -- server ns (fd02::2)
# Traffic (lib/ct_v6_peer.py): UDP [fd01::2]:40001 -> [fd02::2]:9999, 10 datagrams of 148 IPv6
# bytes (100 payload + 8 + 40) and 4 answers of 248; three TCP connections to [fd02::2]:8080:
# 40010 closed with FIN by both sides, 40011 reset by the client (SO_LINGER 0), 40012 left open
# and idle until conntrack's (shortened) established timeout ends it.
# Every connection ends by its own DESTROY event (short per-netns conntrack timeouts; the test
# polls `conntrack -L`, which reaps expired entries at once, until the agent printed all eight
# records), never by the agent's forced end.
# Ground truth: UDP by construction; TCP from a dumpcap capture on the router's client-side
# interface (pre-NAT), decoded by tshark (packets and 40 + ipv6.plen bytes per direction).
# Checks, per flow and direction (8 records): nfdump shows packets and bytes exactly, pre-NAT
# addresses/ports and post-NAT ports (IE 227/228); tshark on a capture of the export shows the
# post-NAT addresses (IE 281/282: the server saw fd02::1; nfdump 1.7.1 does not decode them), flowEndReason (IE 136) endOfFlow (3) for the FIN and
# RST connections and idleTimeout (1) for the idle TCP and the UDP flow (conntrack_decode's
# ct_end_reason), commonPropertiesId (137) = the ct mark 42 and ingressVRFID (234) = zone 7 on
# every record, in data template 2817 (IPv6, NAT, mark and zone).
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
require_root
require_tool ip nft conntrack python3 nfcapd nfdump dumpcap tshark ss
B=${FA_BUILD_DIR:-build}
SRC_DIR=${FA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PEER=$SRC_DIR/tests/e2e/lib/ct_v6_peer.py
[ -x "$B/flowagent" ] || fa_fail "no agent binary $B/flowagent"

fa_tmpdir W
. "$(dirname "$0")/lib/nat_topo.sh"
nat_topo_test fa_c6
nat_topo_v6_up "$C" "$R" "$V" "$S" fa_c6 || fa_fail "IPv6 topology setup failed"
in_r nft -f - <<'NFT' || fa_fail "mark/zone rules"
table inet fa_c6mz {
    chain setzone { type filter hook prerouting priority -300; meta nfproto ipv6 iifname { "vr0", "vr1" } ct zone set 7; }
    chain setmark { type filter hook forward priority 0; meta nfproto ipv6 ct mark set 42; }
}
NFT
# Short timeouts (per netns): the connections end by themselves within seconds.
for kv in tcp_timeout_established=3 tcp_timeout_time_wait=1 tcp_timeout_close=1 \
    udp_timeout=1 udp_timeout_stream=2; do
    in_r sysctl -qw "net.netfilter.nf_conntrack_$kv" || fa_fail "sysctl $kv"
done

P=4739
mkdir -p "$W/nf"
bg_start NF ip netns exec "$R" nfcapd -4 -w "$W/nf" -p $P -b 127.0.0.1 >"$W/nfcapd.log" 2>&1
wait_for 10 "in_r ss -Hlun 'sport = :$P' | grep -q ." || fa_fail "nfcapd did not bind"
bg_start EXPCAP ip netns exec "$R" dumpcap -i lo -f "udp port $P" -w "$W/export.pcapng" 2>"$W/expcap.log"
bg_start TCPCAP ip netns exec "$R" dumpcap -i vr0 -f "tcp port 8080" -w "$W/tcp.pcapng" 2>"$W/tcpcap.log"
wait_for 10 "[ -s '$W/export.pcapng' ] && [ -s '$W/tcp.pcapng' ]" || fa_fail "dumpcap did not start"

cat >"$W/agent.ini" <<INI
[agent]
source = conntrack
[flows]
max_flows = 1024
active_timeout = 600
inactive_timeout = 300
[collector c]
address = 127.0.0.1:$P
[output]
stdout = yes
[conntrack]
mark = yes
zone = yes
INI
bg_start AGENT ip netns exec "$R" "$B/flowagent" -c "$W/agent.ini" >"$W/agent.json" 2>"$W/agent.log"
wait_for 10 "grep -q 'started:' '$W/agent.log'" || fa_fail "agent did not start: $(cat "$W/agent.log")"

bg_start SERVER ip netns exec "$V" python3 "$PEER" server fd02::2 "$W/peers.txt" >"$W/server.out" 2>"$W/server.err"
wait_for 10 "grep -q ready '$W/server.out'" || fa_fail "server did not start: $(cat "$W/server.err")"
bg_start CLIENT ip netns exec "$C" python3 "$PEER" client fd01::2 fd02::2 >"$W/client.out" 2>"$W/client.err"
wait_for 20 "grep -q done '$W/server.out' && grep -q idle '$W/client.out'" \
    || fa_fail "traffic failed: $(cat "$W/server.err" "$W/client.err")"
cat "$W/peers.txt" >&2
grep -q '^udp fd02::1 ' "$W/peers.txt" || fa_fail "server did not see the NAT66 address"

# DESTROY events come when conntrack reaps the expired entries; a dump reaps them at once.
v6_records() { grep -c '"src":"fd0' "$W/agent.json" || true; }
wait_for 30 "in_r conntrack -L >/dev/null 2>&1; [ \$(v6_records) -ge 8 ]" 0.5 \
    || fa_fail "only $(v6_records) of 8 IPv6 records: $(cat "$W/agent.json")"
rc=0
bg_stop "$AGENT" TERM 20 || rc=$?
[ "$rc" -eq 0 ] || fa_fail "agent exited $rc: $(cat "$W/agent.log")"
wait_for 10 "in_r ss -Hlun 'sport = :$P' | awk '{ s += \$2 } END { exit s != 0 }'" || fa_log "collector queue not empty"
bg_stop "$NF" TERM 10 || true
SENT=$(sed -n 's/.*collector c: \([0-9]*\) datagrams.*/\1/p' "$W/agent.log")
dumpcap_stop "$EXPCAP" "$W/expcap.log" "${SENT:-1}"
dumpcap_stop "$TCPCAP" "$W/tcpcap.log" 1

# Ground truth per direction: UDP by construction, TCP from the capture.
port_of() { awk -v n="$1" '$1 == n { print $3 }' "$W/peers.txt"; }
{
    u=$(port_of udp)
    echo "17 fd01::2 40001 fd02::2 9999 10 1480 fd02::1 $u fd02::2 9999 1"
    echo "17 fd02::2 9999 fd02::1 $u 4 992 fd02::2 9999 fd01::2 40001 1"
    tshark -r "$W/tcp.pcapng" -T fields -e ipv6.src -e tcp.srcport -e tcp.dstport -e ipv6.plen |
        awk '{ k = $1 " " $2 " " $3; n[k]++; b[k] += $4 + 40 } END { for (k in n) print k, n[k], b[k] }' |
        while read -r src sp dp n b; do
            if [ "$src" = fd01::2 ]; then cport=$sp; else cport=$dp; fi
            case $cport in 40010) name=fin reason=3 ;; 40011) name=rst reason=3 ;;
                40012) name=idle reason=1 ;; *) continue ;; esac
            np=$(port_of $name)
            if [ "$src" = fd01::2 ]; then
                echo "6 fd01::2 $sp fd02::2 8080 $n $b fd02::1 $np fd02::2 8080 $reason"
            else
                echo "6 fd02::2 8080 fd02::1 $np $n $b fd02::2 8080 fd01::2 $cport $reason"
            fi
        done
} | sort >"$W/want.txt"
[ "$(wc -l <"$W/want.txt")" -eq 8 ] || fa_fail "ground truth has $(wc -l <"$W/want.txt") flows, want 8: $(cat "$W/want.txt")"

# nfdump: packets, bytes, pre-NAT addresses and ports, post-NAT ports. nfdump 1.7.1 does not
# decode the IPv6 post-NAT addresses (IE 281/282: %xsa/%xda print 0.0.0.0): tshark checks them.
nfdump -R "$W/nf" -q -N -o 'fmt:%pr|%sa|%sp|%da|%dp|%pkt|%byt|%xsa|%xsp|%xda|%xdp' 'inet6' \
    >"$W/nfdump.txt" 2>"$W/nfdump.err" || fa_fail "nfdump: $(cat "$W/nfdump.err")"
tr -d ' ' <"$W/nfdump.txt" | awk -F'|' '$2 ~ /^fd0/' | cut -d'|' -f1-7,9,11 | tr '|' ' ' |
    sort >"$W/nfdump.got"
cut -d' ' -f1-7,9,11 "$W/want.txt" | diff -u - "$W/nfdump.got" >"$W/nfdump.diff" || {
    cat "$W/nfdump.diff" "$W/nfdump.txt" >&2
    fa_fail "nfdump records differ from ground truth (- want, + got)"
}
fa_log "nfdump: 8/8 IPv6 records exact (packets, bytes, pre-NAT addresses and ports, post-NAT ports)"

# tshark: post-NAT IPv6 addresses, end reason, mark, zone, template per record (the fields of one
# datagram are comma-separated lists, one entry per record).
tshark -r "$W/export.pcapng" -d udp.port==$P,cflow -T fields -E separator='|' \
    -e cflow.flowset_id -e cflow.protocol -e cflow.srcaddrv6 -e cflow.srcport -e cflow.dstport \
    -e cflow.flow_end_reason -e cflow.common_properties_id -e cflow.ingress_vrfid \
    -e cflow.post_nat_source_ipv6_address -e cflow.post_nat_destination_ipv6_address \
    -Y 'cflow.srcaddrv6' >"$W/tshark.txt" || fa_fail "tshark failed"
python3 - "$W/tshark.txt" "$W/want.txt" <<'PY' || fa_fail "tshark: post-NAT address / end reason / mark / zone wrong"
import ipaddress, sys
got = {}
for line in open(sys.argv[1]):
    cols = [c.split(",") for c in line.rstrip("\n").split("|")]
    sets, protos, srcs, sports, dports, reasons, marks, zones, psrcs, pdsts = cols
    for i in range(len(srcs)):
        key = (int(protos[i]), str(ipaddress.ip_address(srcs[i])), int(sports[i]), int(dports[i]))
        got.setdefault(key, []).append((int(reasons[i]), int(marks[i]), int(zones[i]),
                                        str(ipaddress.ip_address(psrcs[i])),
                                        str(ipaddress.ip_address(pdsts[i]))))
    # The sets of a datagram that holds these records: template sets (2 IPFIX, 0 v9), options
    # template sets (3, 1) and options data (258-264) aside, every data set must be 2817
    # (1024 + IPv6 1 + NAT 256 + mark 512 + zone 1024). cflow.template_id only appears in
    # template sets, so the set IDs are what tells which template the records were sent under.
    data_sets = {int(x) for x in sets if x and int(x) >= 1024}
    if data_sets != {2817}:
        print("data sets %s in a datagram with these records, want only 2817" % sorted(data_sets))
        sys.exit(1)
bad = 0
for w in open(sys.argv[2]):
    f = w.split()
    key = (int(f[0]), str(ipaddress.ip_address(f[1])), int(f[2]), int(f[4]))
    want = [(int(f[11]), 42, 7, str(ipaddress.ip_address(f[7])), str(ipaddress.ip_address(f[9])))]
    ok = got.get(key) == want
    bad += not ok
    print("%s %s:%s > :%s end reason/mark/zone/post-NAT src/dst %s, want %s %s" %
          (key[0], key[1], key[2], key[3], got.get(key), want, "ok" if ok else "WRONG"))
sys.exit(1 if bad else 0)
PY
grep -q 'conntrack: event socket receive buffer .* mark on, zone on' "$W/agent.log" || fa_fail "start log"
echo "PASS: IPv6 NAT66 flows exact on nfcapd; FIN/RST end of flow, idle timeout; mark and zone"
