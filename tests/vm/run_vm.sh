#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# The whole agent on a router-class kernel under qemu-system (TCG), judged on the host.
#
#   tests/vm/run_vm.sh TARGET        TARGET: mipsel (Malta, Linux 6.1, 32-bit little-endian,
#                                    BPF JIT), s390x (Linux 6.1, 64-bit big-endian, no JIT),
#                                    arm64 (virt, Linux 6.1) or amd64 (Linux 6.1 on the host's
#                                    CPU architecture, TCG: the paths of kernels before 6.6)
#
# 1. Debian's kernel package and the target's busybox-static, iproute2 and nftables (with their
#    libraries) through a private apt configuration (tests/vm/fetch_debs.sh; cached in the
#    build tree), 2. the agent cross-built as firmware ships it (tests/cross/build_full.sh,
#    MinSizeRel, BPF object of the target's byte order) and tests/vm/vmtool.c built static,
#    3. an initramfs (tests/vm/make_initramfs.sh) whose /init (tests/vm/guest.sh) runs the cases
#    and prints its result files on the console, 4. the files judged here with the host's real
#    decoders:
#    - xdp / tc (each with the BPF JIT on and off when the kernel has one): the datagrams the
#      in-VM collector stored are replayed to nfcapd on the host's loopback; every flow's
#      packets, bytes, addresses, ports, ifIndex and TCP flags must equal the in-VM capture of
#      the metered interface decoded by tshark (tests/e2e/lib/check_agent_bpf.py), with zero
#      sequence failures (nfdump -I);
#    - endian: the same programs built for the other byte order must be refused, with a
#      message naming it (the agent exits non-zero);
#    - ct: conntrack on a masquerading router: per direction packets and bytes equal the capture
#      on the router's client side, post-NAT address and port equal the capture on its server
#      side, one NAT create event per connection, biflow counters (tests/vm/check_ct.py), zero
#      sequence failures on both collectors.
# Prints per case: flows exact/total, the agent's RSS inside the VM, and boot-to-result time.
#
# Environment:
#   KERNEL=PATH          boot this kernel image instead of Debian's (firmware integrators)
#   KERNEL_MODULES=DIR   its module tree (lib/modules/VERSION); empty: all built in
#   INITRAMFS_EXTRA="PATH..."  extra files/directories copied into the initramfs root
#   FA_VM_CASES=xdp:1,tc:1,xdp:0,tc:0,ct   cases (SOURCE:JIT; ct), default per target
#   FA_VM_DIR (default build-vm), FA_CROSS_DIR (default build-cross: reuses .ci/cross.sh's
#   sysroots and full-TARGET build), FA_VM_TIMEOUT (s, default 600), FA_SKIP_DEPS=1 (no apt)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
. "$src/tests/e2e/lib/common.sh"
target=${1:?usage: run_vm.sh mipsel|s390x}
FA_E2E_NAME=vm-$target
case $target in
    mipsel)
        triple=mipsel-linux-gnu kpkg=linux-image-4kc-malta console=ttyS0
        qemu=(qemu-system-mipsel -M malta -cpu 24Kf -m 256 -vga none -nographic -nic none)
        default_cases=xdp:1,tc:1,xdp:0,tc:0,ct,endian
        drain="map syscalls" ;;  # MIPS caches may alias: never mmap (bpf_drain.cpp)
    s390x)
        triple=s390x-linux-gnu kpkg=linux-image-s390x console=ttysclp0
        qemu=(qemu-system-s390x -M s390-ccw-virtio -m 512 -nographic -nic none)
        default_cases=xdp:0,tc:0,ct,endian
        drain=mmap ;;  # BPF_F_MMAPABLE arrays: the mmap drain, big-endian
    arm64)
        triple=aarch64-linux-gnu kpkg=linux-image-arm64 console=ttyAMA0
        qemu=(qemu-system-aarch64 -M virt -cpu cortex-a57 -m 512 -nographic -nic none)
        default_cases=xdp:1,tc:1,xdp:0,tc:0,ct,endian
        drain=mmap ;;
    amd64)  # the host's CPU on Debian's 6.1 kernel: no tcx, the older-kernel paths
        triple=x86_64-linux-gnu kpkg=linux-image-amd64 console=ttyS0
        qemu=(qemu-system-x86_64 -m 512 -nographic -nic none)
        default_cases=xdp:1,tc:1,xdp:0,tc:0,ct,endian
        drain=mmap ;;
    *) fa_fail "unknown target '$target' (mipsel, s390x, arm64 or amd64)" ;;
esac
cases=${FA_VM_CASES:-$default_cases}
vm=${FA_VM_DIR:-$src/build-vm}
cross=${FA_CROSS_DIR:-$src/build-cross}
mkdir -p "$vm" "$cross"
vm=$(cd "$vm" && pwd)
cross=$(cd "$cross" && pwd)
require_tool "${qemu[0]}" "$triple-gcc" readelf cpio gzip tshark nfcapd nfdump python3 ss

t_start=$(date +%s)
step() { fa_log "$* ($(($(date +%s) - t_start)) s)"; }

step "packages for $target"
bash "$here/fetch_debs.sh" "$target" "$vm/debs-$target" "$kpkg" busybox-static iproute2 nftables
debroot=$vm/debs-$target/root

step "agent for $target (MinSizeRel)"
if [ "$target" = amd64 ]; then
    sysroot=/   # a native build: the host's own libraries
else
    bash "$src/tests/cross/make_sysroot.sh" "$target" "$cross/sysroots" full >/dev/null
    sysroot=$cross/sysroots/$target
fi
agent=$cross/full-$target
bash "$src/tests/cross/build_full.sh" "$target" "$agent" "$cross/sysroots" ||
    fa_fail "agent build for $target"
# The same programs in the other byte order (the build's own clang command, -target swapped):
# the endian case checks that the agent refuses them with a clear message.
mkdir -p "$vm/other-$target"
other=$vm/other-$target/other-endian.bpf.o   # /other-endian.bpf.o in the initramfs
cmd=$(ninja -C "$agent" -t commands bpf/fa_flow.tmp.o | tail -1)
case $cmd in
    *"-target bpfeb "*) cmd=${cmd/-target bpfeb /-target bpfel } ;;
    *"-target bpfel "*) cmd=${cmd/-target bpfel /-target bpfeb } ;;
    *) fa_fail "no BPF compile command in $agent" ;;
esac
cmd=${cmd%% -o *}
(eval "$cmd -o '$other'") || fa_fail "other-endian BPF object"
vmtool=$vm/vmtool-$target
"$triple-gcc" -static -Os -Wall -Wextra -Werror -o "$vmtool" "$here/vmtool.c" ||
    fa_fail "vmtool build"

if [ -n "${KERNEL:-}" ]; then
    kernel=$KERNEL
    moddir=${KERNEL_MODULES:-}
else
    kernel=$(ls "$debroot"/boot/vmlinuz-*)
    moddir=$(ls -d "$debroot"/lib/modules/*)
fi
work=$vm/run-$target
rm -rf "$work"
mkdir -p "$work/result"
step "initramfs"
# shellcheck disable=SC2086 # INITRAMFS_EXTRA is a list of paths
bash "$here/make_initramfs.sh" "$work/initramfs.gz" "$debroot" "$moddir" "$agent" \
    "$sysroot" "$vmtool" "$other" ${INITRAMFS_EXTRA:-}

step "boot $(basename "$kernel") under ${qemu[0]} (cases $cases)"
t_boot=$(date +%s%N)
rc=0
timeout "${FA_VM_TIMEOUT:-600}" "${qemu[@]}" -no-reboot -kernel "$kernel" \
    -initrd "$work/initramfs.gz" \
    -append "console=$console rdinit=/init panic=-1 quiet loglevel=3 fa_cases=$cases" \
    </dev/null >"$work/console.log" 2>&1 || rc=$?
boot_s=$(awk -v n=$(($(date +%s%N) - t_boot)) 'BEGIN { printf "%.1f", n / 1e9 }')
[ "$rc" -eq 0 ] || { tail -40 "$work/console.log"; fa_fail "qemu exited $rc after $boot_s s"; }
tr -d '\r' <"$work/console.log" | sed -n '/^FA-VM-RESULT-BEGIN$/,/^FA-VM-RESULT-END$/p' |
    sed '1d;$d' | base64 -d | tar -xzf - -C "$work/result" ||
    { tail -40 "$work/console.log"; fa_fail "no result on the console"; }
guest_s=$(sed -n 's/^result at \([0-9.]*\) s$/\1/p' "$work/result/guest.log")
fa_log "boot to result: $boot_s s on the host (guest uptime at result $guest_s s)"
grep -v '^case\|^init at\|^result at\|^BPF JIT' "$work/result/guest.log" >&2 || true

fail=0
summary=()
# nfcapd_replay PCAP DIR: the datagrams a VM collector stored, through nfcapd on the loopback.
nfcapd_replay() {
    local pcap=$1 dir=$2 port pid n
    port=$(free_udp_port 127.0.0.1)
    nfcapd_start pid "$dir" "$port" 127.0.0.1
    n=$(python3 "$here/replay.py" "$pcap" "$port")
    wait_for 10 "udp_recvq_empty $port" || fa_log "nfcapd did not drain its socket"
    nfcapd_stop "$pid"
    echo "$n"
}
rss_of() { [ -f "$1/rss" ] || { echo "-"; return; }; awk '{ printf "%d kB (peak %d kB)", $1, $2 }' "$1/rss"; }

for c in ${cases//,/ }; do
    case $c in
        ct|endian) d=$work/result/$c ;;
        *) d=$work/result/${c%%:*}-jit${c#*:} ;;
    esac
    name=${d##*/}
    if [ ! -f "$d/agent.rc" ]; then
        fa_log "$name: did not run: $(cat "$d/agent.log" 2>/dev/null)"
        summary+=("$target $name: did not run")
        fail=1
        continue
    fi
    [ "$c" = endian ] || [ "$(cat "$d/agent.rc")" = 0 ] || { fa_log "$name: agent exited $(cat "$d/agent.rc"): $(cat "$d/agent.log")"; fail=1; }
    ok=1
    if [ "$c" = endian ]; then
        # The agent must refuse the other byte order's object, saying so, and exit non-zero.
        echo "endian: 1 flows, refusal expected, mismatches: 0" >"$d/check.txt"
        if [ "$(cat "$d/agent.rc")" = 0 ] ||
            ! grep -q 'has the other byte order than this CPU' "$d/agent.log"; then
            fa_log "$name: the other-endian object was not refused clearly: $(cat "$d/agent.log")"
            ok=0
        else
            echo "ok  refused: $(grep -m1 'other byte order' "$d/agent.log")" >>"$d/check.txt"
        fi
    elif [ "$c" = ct ]; then
        for p in 4739 4740; do
            n=$(nfcapd_replay "$d/col$p.pcap" "$d/nf$p")
            nfdump_all "$d/nf$p" -q -N \
                -o 'fmt:%pr|%sa|%sp|%da|%dp|%pkt|%byt|%opkt|%obyt|%xsa|%xsp|%xda|%xdp|%nevt' \
                >"$d/nf$p.txt"
            sf=$(nfdump_stat "$d/nf$p" | sed -n 's/^Sequence failures: //p')
            fa_log "$name: collector :$p: $n datagrams, sequence failures $sf"
            [ "$sf" = 0 ] || { fa_log "$name: sequence failures $sf on :$p"; ok=0; }
        done
        for i in vr0 vr1; do
            tshark -r "$d/$i.pcap" -T fields -E separator=, -E aggregator=';' -e ip.proto \
                -e ip.src -e ip.dst -e ip.len -e tcp.srcport -e tcp.dstport -e udp.srcport \
                -e udp.dstport -e icmp.type -e icmp.code >"$d/$i.csv"
        done
        python3 "$here/check_ct.py" "$d/vr0.csv" "$d/vr1.csv" "$d/nf4739.txt" "$d/nf4740.txt" \
            >"$d/check.txt" || ok=0
    else
        read -r mac_a _ ifindex <"$d/meta"
        if [ -z "${KERNEL:-}" ] && ! grep -q "drained through $drain\$" "$d/agent.log"; then
            fa_log "$name: expected the $drain drain: $(grep 'drained through' "$d/agent.log")"
            ok=0
        fi
        if [ "${c%%:*}" = xdp ] && ! grep -q 'generic XDP' "$d/agent.log"; then
            fa_log "$name: the agent did not fall back to generic XDP: $(cat "$d/agent.log")"
            ok=0
        fi
        n=$(nfcapd_replay "$d/col4739.pcap" "$d/nf")
        nfdump_all "$d/nf" -6 -q -N -o 'fmt:%pr|%sa|%sp|%da|%dp|%in|%out|%pkt|%byt|%flg' \
            >"$d/nfdump.txt"
        sf=$(nfdump_stat "$d/nf" | sed -n 's/^Sequence failures: //p')
        fa_log "$name: $n datagrams, sequence failures $sf"
        [ "$sf" = 0 ] || { fa_log "$name: sequence failures $sf"; ok=0; }
        tshark -r "$d/cap.pcap" -T fields -E separator=, -E aggregator=';' -e eth.src -e vlan.id \
            -e ip.proto -e ip.src -e ip.dst -e ip.len -e ipv6.nxt -e ipv6.src -e ipv6.dst \
            -e ipv6.plen -e tcp.srcport -e tcp.dstport -e udp.srcport -e udp.dstport \
            -e icmp.type -e icmp.code -e icmpv6.type -e icmpv6.code -e tcp.flags >"$d/truth.csv"
        python3 "$src/tests/e2e/lib/check_agent_bpf.py" "${c%%:*}" "$mac_a" "$ifindex" \
            "$d/truth.csv" "$d/nfdump.txt" >"$d/check.txt" || ok=0
    fi
    flows=$(sed -n 's/^\([a-z]*\): \([0-9]*\) flows, .*mismatches: \([0-9]*\)$/\2 \3/p' "$d/check.txt" | tail -1)
    read -r total _ <<<"${flows:-0 0}"
    exact=$(grep -c '^ok ' "$d/check.txt" || true)
    t=$(sed -n "s/^case $c done in \([0-9.]*\) s$/\1/p" "$work/result/guest.log")
    line="$target $name: flows exact $exact/$total, agent RSS $(rss_of "$d"), case ${t:-?} s"
    if [ "$ok" = 1 ] && [ "$total" -gt 0 ]; then
        summary+=("$line: ok")
    else
        summary+=("$line: FAIL")
        fa_log "$name: records differ from the ground truth:"
        grep -v '^ok ' "$d/check.txt" >&2 || true
        fail=1
    fi
done
step "summary (boot to result $boot_s s, guest uptime $guest_s s)"
printf '  %s\n' "${summary[@]}"
[ "$fail" -eq 0 ] || fa_fail "$target: see above; files in $work"
echo "vm $target: PASS"
