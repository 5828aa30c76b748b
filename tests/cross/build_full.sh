#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The full agent for one target CPU as firmware ships it: MinSizeRel, -Werror, no tests, linked
# against the Debian sysroot SYSROOTS/CPU (tests/cross/make_sysroot.sh ... full). Used by
# .ci/cross.sh (footprint checks) and tests/vm/run_vm.sh (the agent booted under qemu-system).
#
#   tests/cross/build_full.sh CPU BUILD_DIR SYSROOTS
#
# Logs go to BUILD_DIR.cmake.log and BUILD_DIR.build.log (tail printed on failure).
set -uo pipefail
cpu=${1:?usage: build_full.sh CPU BUILD_DIR SYSROOTS}
b=${2:?usage: build_full.sh CPU BUILD_DIR SYSROOTS}
sysroots=${3:?usage: build_full.sh CPU BUILD_DIR SYSROOTS}
src=$(cd "$(dirname "$0")/../.." && pwd)
case $cpu in
    arm64) t=aarch64-linux-gnu ;; armhf) t=arm-linux-gnueabihf ;;
    mipsel) t=mipsel-linux-gnu ;; mips) t=mips-linux-gnu ;; s390x) t=s390x-linux-gnu ;;
    amd64) t="" ;;  # native: the host's compiler and libraries (SYSROOTS unused)
    *) echo "build_full: unknown CPU '$cpu'" >&2; exit 2 ;;
esac
cross=()
[ -z "$t" ] || cross=(-DCMAKE_TOOLCHAIN_FILE="$src/toolchains/$t.cmake"
                      -DFA_TARGET_SYSROOT="$sysroots/$cpu")
if ! cmake -S "$src" -B "$b" -G Ninja "${cross[@]}" -DCMAKE_BUILD_TYPE=MinSizeRel \
        -DFA_BUILD_TESTS=OFF -DFA_WERROR=ON >"$b.cmake.log" 2>&1; then
    tail -20 "$b.cmake.log"; echo "build_full: configure $cpu failed" >&2; exit 1
fi
if ! cmake --build "$b" -j "${FA_JOBS:-2}" >"$b.build.log" 2>&1; then
    tail -40 "$b.build.log"; echo "build_full: build $cpu failed" >&2; exit 1
fi
