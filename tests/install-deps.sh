#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Installs everything flowagent needs to build and test on Debian 12 (bookworm), from Debian's
# own packages. Idempotent. Needs root.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: run as root" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
pkgs=(
    # build
    build-essential cmake ninja-build pkg-config git
    # eBPF: clang for the kernel programs, libbpf for the loader (these -dev packages, inih's
    # and build-essential's libc6-dev also ship the .a archives a -DFA_STATIC=ON build links)
    clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
    # config, the conntrack listener (libnetfilter_conntrack parses, libmnl moves the messages),
    # tests
    libinih-dev libnetfilter-conntrack-dev libmnl-dev libcpputest-dev cpputest
    # the link monitor: rtnetlink through libnl-3's socket and message calls (the cache API of
    # libnl-route-3 is not used)
    libnl-3-dev
    # network test hosts and traffic
    iproute2 iputils-ping nftables conntrack iperf3 ethtool procps psmisc python3
    # real collectors and decoders that judge the output
    tshark nfdump pmacct jq
    # lint: ctest lint.shellcheck
    shellcheck
    # a real terminal for `flowagent top` (e2e.control_socket: send-keys / capture-pane)
    tmux
    # peers for benchmarks
    softflowd
)
if [ -z "${FA_APT_UPDATED:-}" ]; then
    apt-get update -q
fi
apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null
echo "install-deps: ok (${#pkgs[@]} packages)"
