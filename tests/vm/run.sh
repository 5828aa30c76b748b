#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The VM stage of tests/run-all.sh: tests/vm/run_vm.sh for each target (FA_VM_TARGETS, default
# "mipsel s390x arm64 amd64"), after installing what it needs (as root, unless FA_SKIP_DEPS=1).
# FA_VM_JOBS targets (default 2) run at the same time: each guest has one vCPU, and on 2 cores
# mipsel and s390x together took 96 s against 146 s one after the other; FA_VM_JOBS=1 runs them
# in sequence. Each target's log is printed in order, the per-case summary lines of every
# target again at the end.
# Exit 1 if any target failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
targets=${FA_VM_TARGETS:-mipsel s390x arm64 amd64}
if [ -z "${FA_SKIP_DEPS:-}" ] && [ "$(id -u)" -eq 0 ]; then
    [ -n "${FA_APT_UPDATED:-}" ] || apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        qemu-system-mips qemu-system-misc qemu-system-arm qemu-system-x86 cpio dpkg-dev clang \
        llvm cmake ninja-build g++-mipsel-linux-gnu g++-s390x-linux-gnu g++-aarch64-linux-gnu \
        libbpf-dev libelf-dev zlib1g-dev libinih-dev libnl-3-dev tshark nfdump python3 iproute2 >/dev/null ||
        { echo "vm: apt-get install failed" >&2; exit 1; }
fi
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
declare -A pid=()
t0=$(date +%s)
running=()
for t in $targets; do
    if [ ${#running[@]} -ge "${FA_VM_JOBS:-2}" ]; then
        wait "${pid[${running[0]}]}"
        echo $? >"$logs/${running[0]}.rc"
        running=("${running[@]:1}")
    fi
    bash "$here/run_vm.sh" "$t" >"$logs/$t" 2>&1 &
    pid[$t]=$!
    running+=("$t")
done
failed=()
for t in $targets; do
    if [ ! -f "$logs/$t.rc" ]; then
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
