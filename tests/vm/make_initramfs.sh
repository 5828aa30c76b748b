#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Builds the VM test's initramfs (gzip'd newc cpio) for one target:
#
#   tests/vm/make_initramfs.sh OUT.cpio.gz DEBROOT MODDIR AGENT_BUILD SYSROOT VMTOOL [EXTRA...]
#
# DEBROOT   the target's Debian packages extracted (tests/vm/fetch_debs.sh): busybox-static,
#           iproute2, nftables and their libraries
# MODDIR    the kernel's module tree (lib/modules/VERSION) or "" when everything is built in
# AGENT_BUILD  the cross-built agent (flowagent, bpf/fa_flow.bpf.o)
# SYSROOT   the sysroot the agent was linked against (its shared libraries)
# VMTOOL    tests/vm/vmtool.c built static for the target
# EXTRA     files or directories copied into the root as they are (INITRAMFS_EXTRA)
#
# Shared libraries are collected by following each program's ELF NEEDED entries (and its
# PT_INTERP loader) through the library directories of SYSROOT and DEBROOT, so a new library
# dependency of the agent needs no change here. Kernel modules: the ones the cases need
# (MODULES below) and, from each module's own `depends=` (.modinfo), everything they need,
# written in load order to /etc/modules.order (Debian's packages ship no modules.dep).
set -euo pipefail
out=${1:?usage: make_initramfs.sh OUT DEBROOT MODDIR AGENT_BUILD SYSROOT VMTOOL [EXTRA...]}
debroot=$2 moddir=$3 agent=$4 sysroot=$5 vmtool=$6
shift 6
here=$(cd "$(dirname "$0")" && pwd)
# crc32c_generic first: libcrc32c asks the crypto API for crc32c, it does not depend= on it.
MODULES=${FA_VM_MODULES:-crc32c_generic veth sch_ingress cls_bpf nf_conntrack
    nf_conntrack_netlink nf_tables nft_ct nft_chain_nat nft_masq}

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,bbin,sbin,usr/sbin,usr/bin,lib,etc,proc,sys,dev,run,tmp,out,vm,lib/modules}

copy_file() {  # copy_file SRC DEST (symlinks resolved)
    mkdir -p "$(dirname "$2")"
    cp -L "$1" "$2"
}
copy_file "$debroot/bin/busybox" "$stage/bin/busybox"
# iproute2's /sbin/ip is an absolute symlink to /bin/ip: copy the program itself.
copy_file "$debroot/bin/ip" "$stage/sbin/ip"
copy_file "$debroot/sbin/tc" "$stage/sbin/tc"
copy_file "$debroot/usr/sbin/nft" "$stage/usr/sbin/nft"
copy_file "$agent/flowagent" "$stage/usr/sbin/flowagent"
copy_file "$agent/bpf/fa_flow.bpf.o" "$stage/usr/lib/flowagent/fa_flow.bpf.o"
copy_file "$vmtool" "$stage/usr/bin/vmtool"
copy_file "$here/guest.sh" "$stage/init"
copy_file "$here/../e2e/lib/veth_pair.sh" "$stage/vm/veth_pair.sh"
copy_file "$here/../e2e/lib/nat_topo.sh" "$stage/vm/nat_topo.sh"
chmod 755 "$stage/init"

# ---- shared libraries, by NEEDED ----------------------------------------------------------------
libdirs=()
for r in "$sysroot" "$debroot"; do
    for d in "$r"/lib/*-linux-gnu* "$r"/usr/lib/*-linux-gnu* "$r"/lib "$r"/usr/lib; do
        [ -d "$d" ] && libdirs+=("$d")
    done
done
declare -A have=()
find_lib() {
    local d
    for d in "${libdirs[@]}"; do
        [ -e "$d/$1" ] && { echo "$d/$1"; return 0; }
    done
    return 1
}
add_needed() {  # add_needed ELF: its loader and libraries, recursively, into /lib
    local elf=$1 interp lib path
    interp=$(readelf -lW "$elf" 2>/dev/null | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
    if [ -n "$interp" ] && [ ! -e "$stage$interp" ]; then
        path=$(find_lib "$(basename "$interp")") ||
            { echo "make_initramfs: no loader $interp for $elf" >&2; exit 1; }
        copy_file "$path" "$stage$interp"
    fi
    for lib in $(readelf -dW "$elf" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        [ -z "${have[$lib]:-}" ] || continue
        have[$lib]=1
        path=$(find_lib "$lib") || { echo "make_initramfs: $elf needs $lib: not found" >&2; exit 1; }
        copy_file "$path" "$stage/lib/$lib"
        add_needed "$path"
    done
}
for elf in "$stage"/sbin/ip "$stage"/sbin/tc "$stage"/usr/sbin/nft "$stage"/usr/sbin/flowagent; do
    add_needed "$elf"
done

# ---- kernel modules, in dependency order -------------------------------------------------------
: > "$stage/etc/modules.order"
if [ -n "$moddir" ]; then
    declare -A kofile=() state=()
    while IFS= read -r ko; do
        n=${ko##*/}; n=${n%.ko}
        kofile[${n//-/_}]=$ko
    done < <(find "$moddir" -name '*.ko')
    visit() {  # depth first: dependencies before the module
        local m=${1//-/_} d
        [ -z "${state[$m]:-}" ] || return 0
        state[$m]=1
        [ -n "${kofile[$m]:-}" ] || return 0   # built in (or absent: the case will tell)
        for d in $(tr '\0' '\n' < "${kofile[$m]}" | sed -n 's/^depends=//p' | tr ',' ' '); do
            visit "$d"
        done
        cp "${kofile[$m]}" "$stage/lib/modules/$m.ko"
        echo "$m" >> "$stage/etc/modules.order"
    }
    for m in $MODULES; do visit "$m"; done
fi

for x in "$@"; do
    cp -a "$x" "$stage/"
done
(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 > "$out"
echo "make_initramfs: $out ($(stat -c %s "$out") bytes; modules: $(tr '\n' ' ' < "$stage/etc/modules.order"))"
