# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-only
# Two hosts joined by one veth pair, shared by the eBPF e2e tests (sourced, not run):
#   A: va 10.77.0.1/24 fd77::1/64  <-->  B: vb 10.77.0.2/24 fd77::2/64
# Neighbours are static, so no ARP/ND exchange races with a capture window. Sets `ifindex` to
# vb's ifindex in B, and `mac_a`, `mac_b` to the two MACs. The caller deletes both namespaces.
# Usage: veth_pair_up A B   (returns non-zero on the first failing step)
veth_pair_up() {
    local a=$1 b=$2
    ip netns add "$a" && ip netns add "$b" &&
    ip -n "$a" link add va type veth peer name vb netns "$b" &&
    ip -n "$a" link set lo up && ip -n "$b" link set lo up &&
    ip -n "$a" addr add 10.77.0.1/24 dev va && ip -n "$b" addr add 10.77.0.2/24 dev vb &&
    ip -n "$a" addr add fd77::1/64 dev va nodad && ip -n "$b" addr add fd77::2/64 dev vb nodad &&
    ip -n "$a" link set va up && ip -n "$b" link set vb up || return 1
    mac_a=$(ip -n "$a" -o link show va | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
    mac_b=$(ip -n "$b" -o link show vb | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
    ip -n "$a" neigh add 10.77.0.2 lladdr "$mac_b" dev va &&
    ip -n "$b" neigh add 10.77.0.1 lladdr "$mac_a" dev vb &&
    ip -n "$a" neigh add fd77::2 lladdr "$mac_b" dev va &&
    ip -n "$b" neigh add fd77::1 lladdr "$mac_a" dev vb || return 1
    # shellcheck disable=SC2034 # ifindex, mac_a, mac_b are read by the caller
    ifindex=$(ip -n "$b" -o link show vb | cut -d: -f1)
}
