#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# A static x86_64 musl build of flowagent with the conntrack and generator sources (no eBPF:
# Debian has no libbpf for musl), for measuring what a musl system (OpenWrt) sees:
#
#   tests/cross/build_musl.sh BUILD_DIR && tests/cross/measure_rss.sh BUILD_DIR generator conntrack
#
# Needs musl-tools (Debian). For measurement only, not for shipping: Debian has no musl g++, so
# this compiles with the host g++ against musl's headers (libstdc++'s glibc-configured headers
# in front) and links musl's libc.a with the host's libstdc++.a and libinih.a, which were built
# for glibc. The few glibc-only symbols those reference are supplied by shim.c below.
set -euo pipefail
out=${1:?usage: build_musl.sh BUILD_DIR}
src=$(cd "$(dirname "$0")/../.." && pwd)
musl_inc=/usr/include/x86_64-linux-musl
specs=/usr/lib/x86_64-linux-musl/musl-gcc.specs
[ -f "$specs" ] || { echo "build_musl: install musl-tools" >&2; exit 1; }
gxx_ver=$(g++ -dumpversion)
multiarch=$(gcc -print-multiarch)
mkdir -p "$out/musl-shim/sys"
out=$(cd "$out" && pwd)
shim=$out/musl-shim

# libstdc++'s headers were configured for glibc: they test __GLIBC_PREREQ and include
# <sys/single_threaded.h>.
printf '#define __GLIBC_PREREQ(x, y) 0\n' > "$shim/prereq.h"
printf '#pragma once\nextern "C" char __libc_single_threaded;\n' > "$shim/sys/single_threaded.h"
cat > "$shim/shim.c" <<'C'
/* glibc-only symbols referenced by Debian's glibc-built libinih.a (isspace reads the table of
 * __ctype_b_loc: glibc's little-endian bits _ISalpha 0x400, _ISdigit 0x800, _ISspace 0x2000),
 * libstdc++.a (__libc_single_threaded: 0 = take the thread-safe path) and libgcc_eh.a
 * (_dl_find_object: only for unwinding, and the agent has no exceptions). */
#include <ctype.h>
char __libc_single_threaded = 0;
int _dl_find_object(void* pc, void* result) { (void)pc; (void)result; return -1; }
static unsigned short table[384];
static const unsigned short* ptr;
const unsigned short** __ctype_b_loc(void)
{
    if (!ptr) {
        for (int c = 0; c < 256; ++c)
            table[c + 128] = (unsigned short)((isspace(c) ? 0x2000 : 0) |
                                              (isalpha(c) ? 0x400 : 0) | (isdigit(c) ? 0x800 : 0));
        ptr = table + 128;
    }
    return &ptr;
}
C
inc="-nostdinc -isystem $shim -isystem $musl_inc -isystem $(gcc -print-file-name=include)"
inc="$inc -idirafter /usr/include -idirafter /usr/include/$multiarch"
cxx="-nostdinc++ -include $shim/prereq.h -isystem /usr/include/c++/$gxx_ver"
cxx="$cxx -isystem /usr/include/$multiarch/c++/$gxx_ver"
cmake -S "$src" -B "$out" -G Ninja -DCMAKE_BUILD_TYPE=MinSizeRel -DFA_BUILD_TESTS=OFF \
    -DFA_WITH_BPF=OFF -DFA_WITH_CONNTRACK=ON -DCMAKE_C_FLAGS="$inc" -DCMAKE_CXX_FLAGS="$cxx $inc" \
    > "$out/configure.log"
# The libraries and main.o through CMake; the static link by hand (pkg-config names the
# shared libinih).
cmake --build "$out" --target fa_core fa_platform \
    platform/CMakeFiles/flowagent.dir/linux/main.cpp.o -j2 > "$out/build.log"
gcc -specs "$specs" -Os -c "$shim/shim.c" -o "$shim/shim.o"
g++ -Os -specs "$specs" -static -Wl,--gc-sections -static-libstdc++ -static-libgcc \
    "$out/platform/CMakeFiles/flowagent.dir/linux/main.cpp.o" -o "$out/flowagent" \
    "$out/platform/libfa_platform.a" "$out/libfa_core.a" \
    "/usr/lib/$multiarch/libinih.a" "/usr/lib/$multiarch/libnl-3.a" "$shim/shim.o"
"$out/flowagent" --version
echo "build_musl: $out/flowagent ($(stat -c %s "$out/flowagent") bytes, static musl)"
