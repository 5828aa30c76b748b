# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-only
# The NAT router topology the conntrack tests share (sourced, not run):
#   client C (10.1.0.2) --vc$S|vr0-- router R (10.1.0.1 | 10.2.0.1) --vr1|vs$S-- server V (10.2.0.2)
# R forwards and masquerades out of vr1 (nft table ip TABLE), so conntrack in R sees every
# connection with its NAT. The caller deletes the three namespaces (the table goes with R).
# Usage: nat_topo_up C R V S TABLE   (returns non-zero on the first failing step)
nat_topo_up() {
    local c=$1 r=$2 v=$3 s=$4 table=$5
    ip netns add "$c" && ip netns add "$r" && ip netns add "$v" &&
    ip link add "vc$s" netns "$c" type veth peer name vr0 netns "$r" &&
    ip link add "vs$s" netns "$v" type veth peer name vr1 netns "$r" &&
    ip -n "$c" addr add 10.1.0.2/24 dev "vc$s" &&
    ip -n "$v" addr add 10.2.0.2/24 dev "vs$s" &&
    ip -n "$r" addr add 10.1.0.1/24 dev vr0 &&
    ip -n "$r" addr add 10.2.0.1/24 dev vr1 &&
    ip -n "$c" link set "vc$s" up && ip -n "$c" link set lo up &&
    ip -n "$v" link set "vs$s" up && ip -n "$v" link set lo up &&
    ip -n "$r" link set vr0 up && ip -n "$r" link set vr1 up && ip -n "$r" link set lo up &&
    ip -n "$c" route add default via 10.1.0.1 &&
    ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1 &&
    ip netns exec "$r" nft -f - <<NFT
table ip $table { chain post { type nat hook postrouting priority 100; oifname "vr1" masquerade; }; }
NFT
}

# IPv6 on the same topology (after nat_topo_up): client fd01::2, router fd01::1 | fd02::1, server
# fd02::2, and NAT66 masquerade out of vr1 (nft table ip6 TABLE), so conntrack in R sees the
# translated IPv6 reply tuple. Addresses without DAD, so they are usable at once.
# Usage: nat_topo_v6_up C R V S TABLE
nat_topo_v6_up() {
    local c=$1 r=$2 v=$3 s=$4 table=$5
    ip netns exec "$r" sysctl -qw net.ipv6.conf.all.forwarding=1 &&
    ip -n "$c" addr add fd01::2/64 dev "vc$s" nodad &&
    ip -n "$v" addr add fd02::2/64 dev "vs$s" nodad &&
    ip -n "$r" addr add fd01::1/64 dev vr0 nodad &&
    ip -n "$r" addr add fd02::1/64 dev vr1 nodad &&
    ip -n "$c" -6 route add default via fd01::1 &&
    ip netns exec "$r" nft -f - <<NFT
table ip6 $table { chain post { type nat hook postrouting priority 100; oifname "vr1" masquerade; }; }
NFT
}

# For scripts that source lib/common.sh: sets S ($$) and the namespace names C, R, V (PREFIX
# then c/r/s then S), deletes the namespaces at exit (on_exit), brings the topology up with the
# nft table PREFIX, and, with `drop_udp`, makes the server drop UDP silently (no ICMP port
# unreachable that would add reply packets to the router's connections). `in_r CMD...` runs a
# command in the router namespace.
# Usage: nat_topo_test PREFIX [drop_udp]
in_r() { ip netns exec "$R" "$@"; }
nat_topo_test() {
    local prefix=$1
    S=$$
    C=${prefix}c$S
    R=${prefix}r$S
    V=${prefix}s$S
    on_exit "ip netns del $C 2>/dev/null; ip netns del $R 2>/dev/null; ip netns del $V 2>/dev/null"
    nat_topo_up "$C" "$R" "$V" "$S" "$prefix" || fa_fail "topology setup failed"
    if [ "${2:-}" = drop_udp ]; then
        ip netns exec "$V" nft -f - <<NFT || fa_fail "server drop rule"
table ip ${prefix}drop { chain cin { type filter hook input priority 0; meta l4proto udp drop; }; }
NFT
    fi
}
