#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Router targets in CI (issue 5): the core unit tests on other CPUs under qemu-user, the full
# agent cross-built for aarch64 and mipsel with its footprint checked, and the OpenWrt package
# scripts (UCI -> INI rendering against expected files, shellcheck).
#
#   .ci/cross.sh              (root on Debian 12; installs its packages; budget 6 min, 2 cores)
#
# Environment: FA_SKIP_DEPS=1 (no apt), FA_JOBS=N (default 2), FA_CROSS_DIR (default
# build-cross), FA_CROSS_UNIT="arm64 armhf mipsel mips s390x" (CPUs for the unit tests),
# FA_CROSS_FULL="arm64 mipsel s390x" (CPUs for the full agent; s390x gives a big-endian BPF
# object), FA_SIZE_CPUS="arm64 mipsel" (CPUs held to FA_SIZE_BUDGET, bytes, default 204800).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
src=$(pwd)
jobs=${FA_JOBS:-2}
out=${FA_CROSS_DIR:-$src/build-cross}
unit_cpus=${FA_CROSS_UNIT:-arm64 armhf mipsel mips s390x}
full_cpus=${FA_CROSS_FULL:-arm64 mipsel s390x}
sized_cpus=${FA_SIZE_CPUS:-arm64 mipsel}
budget=${FA_SIZE_BUDGET:-204800}
start=$(date +%s)
failures=()

pkgs=(cmake ninja-build pkg-config clang llvm dpkg-dev qemu-user-static shellcheck busybox
      libinih-dev gcc file
      g++-aarch64-linux-gnu g++-arm-linux-gnueabihf g++-mipsel-linux-gnu g++-mips-linux-gnu
      g++-s390x-linux-gnu)
if [ -z "${FA_SKIP_DEPS:-}" ] && [ "$(id -u)" -eq 0 ]; then
    [ -n "${FA_APT_UPDATED:-}" ] || apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}" \
        >/dev/null || { echo "cross: apt-get install failed" >&2; exit 1; }
fi

triple_of() {
    case $1 in
        arm64) echo aarch64-linux-gnu ;; armhf) echo arm-linux-gnueabihf ;;
        mipsel) echo mipsel-linux-gnu ;; mips) echo mips-linux-gnu ;;
        s390x) echo s390x-linux-gnu ;; *) return 1 ;;
    esac
}
fail() { echo "cross: FAIL: $*" >&2; failures+=("$*"); }
step() { printf '\n---- cross: %s (%ss) ----\n' "$*" "$(($(date +%s) - start))"; }

# Every tool must be there: a missing one is a failure, never a skip.
for cpu in $unit_cpus $full_cpus; do
    t=$(triple_of "$cpu") || { fail "unknown CPU '$cpu'"; continue; }
    command -v "$t-g++" >/dev/null || fail "$t-g++ missing (apt-get install g++-$t)"
done
for q in aarch64 arm mipsel mips s390x; do
    command -v "qemu-$q-static" >/dev/null || fail "qemu-$q-static missing (qemu-user-static)"
done
[ ${#failures[@]} -eq 0 ] || { echo "cross: tools missing" >&2; exit 1; }

# ---- the inih stand-in for mips (BE) must behave exactly like Debian's libinih -------------------
step "inih stand-in vs Debian libinih"
bash tests/cross/test_inih_compat.sh || fail "inih stand-in differs from Debian libinih"

# ---- sysroots from Debian packages ---------------------------------------------------------------
step "sysroots"
declare -A set_of
for cpu in $unit_cpus; do set_of[$cpu]=core; done
for cpu in $full_cpus; do set_of[$cpu]=full; done
for cpu in "${!set_of[@]}"; do
    bash tests/cross/make_sysroot.sh "$cpu" "$out/sysroots" "${set_of[$cpu]}" ||
        fail "sysroot $cpu"
done

# ---- core unit tests under qemu-user -------------------------------------------------------------
for cpu in $unit_cpus; do
    step "core unit tests on $cpu"
    t=$(triple_of "$cpu")
    b=$out/unit-$cpu
    if ! cmake -S "$src" -B "$b" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$src/toolchains/$t.cmake" \
            -DFA_TARGET_SYSROOT="$out/sysroots/$cpu" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
            -DFA_PLATFORM=OFF -DFA_BUILD_BENCH=OFF -DFA_WERROR=ON >"$b.cmake.log" 2>&1; then
        tail -20 "$b.cmake.log"; fail "configure $cpu"; continue
    fi
    if ! cmake --build "$b" -j "$jobs" >"$b.build.log" 2>&1; then
        tail -40 "$b.build.log"; fail "build $cpu"; continue
    fi
    log=$b.ctest.log
    # A hung test (e.g. an endless loop on one CPU) must fail, not eat the CI budget.
    ctest --test-dir "$b" -L unit --output-on-failure -j "$jobs" \
        --timeout "${FA_CROSS_TEST_TIMEOUT:-120}" >"$log" 2>&1
    rc=$?
    grep -E 'tests passed|Failed|\*\*\*' "$log"
    # A run that found no tests, or ran them natively, proves nothing.
    n=$(sed -n 's/.*tests passed, [0-9]* tests\{0,1\} failed out of \([0-9]*\).*/\1/p' "$log")
    [ "$rc" -eq 0 ] || fail "unit tests on $cpu"
    [ "${n:-0}" -gt 0 ] || fail "no unit tests ran on $cpu"
    nq=$(ctest --test-dir "$b" -L unit -N -V | grep -c "Test command: [^ ]*qemu-")
    [ "$nq" -eq "${n:-0}" ] || fail "$cpu: only $nq of ${n:-0} unit tests run under qemu"
done

# ---- full agent, release footprint ---------------------------------------------------------------
sizes=()
for cpu in $full_cpus; do
    step "full agent for $cpu (MinSizeRel)"
    t=$(triple_of "$cpu")
    b=$out/full-$cpu
    FA_JOBS=$jobs bash tests/cross/build_full.sh "$cpu" "$b" "$out/sysroots" ||
        { fail "build full $cpu"; continue; }
    "$t-strip" -o "$b/flowagent.stripped" "$b/flowagent" || { fail "strip $cpu"; continue; }
    size=$(stat -c %s "$b/flowagent.stripped")
    needed=$("$t-readelf" -d "$b/flowagent.stripped" |
             sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
    bpf=""
    for o in "$b"/bpf/*.bpf.o; do
        [ -f "$o" ] || continue
        # ELF header byte 5 (EI_DATA): 1 little-endian, 2 big-endian.
        bpf="$bpf $(basename "$o") $(od -An -tx1 -j5 -N1 "$o" | tr -d ' ' |
                                     sed 's/01/LE/;s/02/BE/')"
    done
    sizes+=("$cpu: stripped flowagent $size bytes; NEEDED: $needed; BPF:${bpf:- none}")
    case " $needed " in *libstdc++*) fail "$cpu flowagent needs libstdc++ at run time" ;; esac
    case " $sized_cpus " in
        *" $cpu "*)
            [ "$size" -le "$budget" ] || fail "$cpu flowagent is $size bytes, budget $budget" ;;
    esac
    # The kernel programs must have the CPU's byte order.
    case "$cpu" in
        mips|s390x) want=BE ;;
        *) want=LE ;;
    esac
    case "$bpf" in
        *" $want"*) ;;
        *) fail "$cpu: BPF object is not $want (${bpf:-none built})" ;;
    esac
done

# ---- OpenWrt package scripts ---------------------------------------------------------------------
step "OpenWrt SDK toolchain file (fake SDK layout)"
if [ -f "$out/sysroots/mipsel/usr/lib/mipsel-linux-gnu/libbpf.so" ] &&
    [ -f "$out/sysroots/mips/usr/lib/mips-linux-gnu/libinih.so" ]; then
    bash tests/cross/test_openwrt_sdk_toolchain.sh "$out/sysroots" || fail "OpenWrt SDK toolchain"
else
    fail "OpenWrt SDK toolchain test needs the mipsel (full) and mips sysroots"
fi

step "OpenWrt package: UCI -> INI rendering, shellcheck"
bash tests/cross/test_openwrt_render.sh || fail "OpenWrt rendering"
# The OpenWrt scripts declare `shell=dash` (busybox ash's dialect: POSIX plus `local`).
shellcheck -x openwrt/files/flowagent.init openwrt/files/flowagent.hotplug openwrt/files/flowagent.rpcd \
    openwrt/files/flowagent-render.sh || fail "shellcheck (OpenWrt scripts)"
shellcheck -x -s bash tests/cross/*.sh .ci/cross.sh || fail "shellcheck (cross scripts)"

step "summary"
for s in "${sizes[@]}"; do echo "  $s"; done
echo "cross: $(($(date +%s) - start)) s"
if [ ${#failures[@]} -ne 0 ]; then
    printf 'cross: FAILED: %s\n' "${failures[@]}"
    exit 1
fi
echo "cross: ok"
