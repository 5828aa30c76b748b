#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck disable=SC2015 # `ok` always succeeds, so `test && ok || bad` is an if-else
# Exercises toolchains/openwrt-sdk.cmake without a real OpenWrt SDK (none can be fetched here):
# a fake staging_dir with the SDK's layout (toolchain-*/bin/<triple>-gcc, target-*/usr/lib/
# pkgconfig) whose compiler wrappers call Debian's cross compilers and, like the SDK's, insist
# on STAGING_DIR. Checks: the full agent builds for mipsel-openwrt-linux-musl with a
# little-endian BPF object; mips-openwrt-linux-musl is detected as big-endian (bpfeb,
# __MIPSEB__) and its core builds; a missing or wrong SDK path fails with a clear message; the
# mipsel agent links libnetfilter_conntrack and libmnl from the staging dir.
#
#   tests/cross/test_openwrt_sdk_toolchain.sh SYSROOTS_DIR   (from make_sysroot.sh: mipsel full,
#                                                             mips core)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
sysroots=${1:?usage: test_openwrt_sdk_toolchain.sh SYSROOTS_DIR}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# fake_sdk NAME DEBIAN_ARCH DEBIAN_TRIPLE OPENWRT_TRIPLE
fake_sdk() {
    local sdk=$tmp/$1 tc target t
    tc=$sdk/toolchain-$1_gcc-12.2.0_musl
    target=$sdk/target-$1_musl
    mkdir -p "$tc/bin" "$tc/include"
    cp -a "$sysroots/$2" "$target"
    ln -s "$3/pkgconfig" "$target/usr/lib/pkgconfig"
    cp -r "/usr/$3/include/asm" "$tc/include/"
    for t in gcc g++ strip; do
        cat > "$tc/bin/$4-$t" <<WRAP
#!/bin/sh
[ -n "\$STAGING_DIR" ] || { echo "STAGING_DIR not set" >&2; exit 1; }
# Debian's glibc cross compiler stands in for the SDK's musl one: keep its own libc.
for a in "\$@"; do case "\$a" in --sysroot=*) ;; *) set -- "\$@" "\$a" ;; esac; shift; done
exec $3-$t "\$@" -L$target/lib/$3 -Wl,-rpath-link,$target/lib/$3:$target/usr/lib/$3
WRAP
        chmod +x "$tc/bin/$4-$t"
    done
    echo "$sdk"
}

cache() { sed -n "s/^$2:[A-Z]*=//p" "$1/CMakeCache.txt"; }

sdk=$(fake_sdk mipsel_24kc mipsel mipsel-linux-gnu mipsel-openwrt-linux-musl)
b=$tmp/b-mipsel
if cmake -S "$src" -B "$b" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$src/toolchains/openwrt-sdk.cmake" \
        -DOPENWRT_STAGING_DIR="$sdk" -DOPENWRT_TARGET=mipsel-openwrt-linux-musl \
        -DCMAKE_BUILD_TYPE=MinSizeRel -DFA_BUILD_TESTS=OFF >"$b.log" 2>&1 &&
    cmake --build "$b" -j 2 >>"$b.log" 2>&1; then
    ok
    [ "$(cache "$b" FA_BPF_TARGET)" = bpfel ] && ok || bad "mipsel: FA_BPF_TARGET not bpfel"
    case "$(cache "$b" FA_BPF_CFLAGS)" in
        *-D__MIPSEL__*) ok ;;
        *) bad "mipsel: no __MIPSEL__" ;;
    esac
    # ELF EI_DATA (byte 5): 01 little-endian.
    [ "$(od -An -tx1 -j5 -N1 "$b/bpf/fa_flow.bpf.o" | tr -d ' ')" = 01 ] && ok ||
        bad "mipsel: BPF object is not little-endian"
    file "$b/flowagent" | grep -q 'MIPS' && ok || bad "mipsel: flowagent is not a MIPS binary"
    # The conntrack listener's libraries and the link monitor's libnl, from the SDK's staging
    # dir (OpenWrt packages libnetfilter-conntrack, libmnl and libnl-tiny; the Makefile DEPENDS
    # on them; this stand-in staging dir has Debian's libnl-3 where OpenWrt has libnl-tiny).
    needed=$(mipsel-linux-gnu-readelf -d "$b/flowagent" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
    for lib in libnetfilter_conntrack libmnl libnl-3; do
        grep -q "^$lib\.so" <<<"$needed" && ok || bad "mipsel: flowagent does not link $lib ($needed)"
    done
else
    tail -20 "$b.log"; bad "mipsel: SDK build failed"
fi

sdk=$(fake_sdk mips_24kc mips mips-linux-gnu mips-openwrt-linux-musl)
b=$tmp/b-mips
if cmake -S "$src" -B "$b" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$src/toolchains/openwrt-sdk.cmake" \
        -DOPENWRT_STAGING_DIR="$sdk" -DOPENWRT_TARGET=mips-openwrt-linux-musl \
        -DCMAKE_BUILD_TYPE=MinSizeRel -DFA_PLATFORM=OFF -DFA_BUILD_TESTS=OFF >"$b.log" 2>&1 &&
    cmake --build "$b" -j 2 >>"$b.log" 2>&1; then
    ok
    [ "$(cache "$b" FA_BPF_TARGET)" = bpfeb ] && ok || bad "mips: FA_BPF_TARGET not bpfeb"
    case "$(cache "$b" FA_BPF_CFLAGS)" in
        *-D__MIPSEB__*) ok ;;
        *) bad "mips: no __MIPSEB__" ;;
    esac
else
    tail -20 "$b.log"; bad "mips: SDK core build failed"
fi

# Clear errors for a wrong SDK path or triple.
b=$tmp/b-err
cmake -S "$src" -B "$b" -DCMAKE_TOOLCHAIN_FILE="$src/toolchains/openwrt-sdk.cmake" >"$b.log" 2>&1
grep -q "set OPENWRT_STAGING_DIR" "$b.log" && ok || bad "no message for a missing SDK"
rm -rf "$b"
cmake -S "$src" -B "$b" -DCMAKE_TOOLCHAIN_FILE="$src/toolchains/openwrt-sdk.cmake" \
    -DOPENWRT_STAGING_DIR="$sdk" -DOPENWRT_TARGET=arm-openwrt-linux-muslgnueabi >"$b.log" 2>&1
grep -q "no arm-openwrt-linux-muslgnueabi-g++ in" "$b.log" && ok ||
    bad "no message for a bad triple"

echo "openwrt sdk toolchain: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
