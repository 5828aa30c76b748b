#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The VM stage of tests/run-all.sh: tests/vm/run_vm.sh for each target (FA_VM_TARGETS, default
# "mipsel s390x"), after installing what it needs (as root, unless FA_SKIP_DEPS=1). The targets
# boot at the same time (each guest has one vCPU; on 2 cores this took 96 s for both against
# 146 s one after the other); FA_VM_PARALLEL=0 runs them one after the other. Each target's
# log is printed when it ends, the per-case summary lines of every target again at the end.
# Exit 1 if any target failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
targets=${FA_VM_TARGETS:-mipsel s390x}
if [ -z "${FA_SKIP_DEPS:-}" ] && [ "$(id -u)" -eq 0 ]; then
    [ -n "${FA_APT_UPDATED:-}" ] || apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        qemu-system-mips qemu-system-misc cpio dpkg-dev clang llvm cmake ninja-build \
        g++-mipsel-linux-gnu g++-s390x-linux-gnu tshark nfdump python3 iproute2 >/dev/null ||
        { echo "vm: apt-get install failed" >&2; exit 1; }
fi
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
declare -A pid=()
t0=$(date +%s)
for t in $targets; do
    if [ "${FA_VM_PARALLEL:-1}" = 1 ]; then
        bash "$here/run_vm.sh" "$t" >"$logs/$t" 2>&1 &
        pid[$t]=$!
    else
        bash "$here/run_vm.sh" "$t" >"$logs/$t" 2>&1
        echo $? >"$logs/$t.rc"
    fi
done
failed=()
for t in $targets; do
    if [ -n "${pid[$t]:-}" ]; then
        wait "${pid[$t]}"
        echo $? >"$logs/$t.rc"
    fi
    cat "$logs/$t"
    [ "$(cat "$logs/$t.rc")" -eq 0 ] || failed+=("$t")
done
echo "vm: summary ($(($(date +%s) - t0)) s for: $targets)"
for t in $targets; do
    grep -h "^  $t \|boot to result:" "$logs/$t"
done
[ ${#failed[@]} -eq 0 ] || { echo "vm: FAILED: ${failed[*]}"; exit 1; }
echo "vm: ok"
