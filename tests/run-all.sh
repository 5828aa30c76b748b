#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The whole test suite, from a fresh Debian 12 machine: installs what it needs, builds with
# -Werror, runs every test (unit, config, real decoders, eBPF, conntrack, end to end), runs the
# unit tests again under ASan+UBSan, and the core unit tests on other CPUs under qemu-user.
#
#   tests/run-all.sh              # as root
#
# Root is needed for the eBPF, namespace and conntrack tests; as non-root those tests skip.
# Environment: FA_SKIP_DEPS=1 (no apt), FA_SKIP_CROSS=1 (no cross/qemu stage), FA_SKIP_VM=1
# (no qemu-system stage), FA_JOBS=N.
# Stages: build, ctest, a fully static build (FA_STATIC; as root also its RSS), the unit tests
# under ASan + UBSan, the parsers of untrusted input under libFuzzer (20 s each), the core unit
# tests under qemu-user.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
src=$(pwd)
jobs=${FA_JOBS:-2}
passed=0
failed=0
skipped=0

if [ -z "${FA_SKIP_DEPS:-}" ] && [ "$(id -u)" -eq 0 ]; then
    bash tests/install-deps.sh || exit 1
fi

# Runs ctest in a build dir and adds its counts to the totals.
run_ctest() {
    local dir=$1; shift
    local log
    log=$(mktemp)
    ctest --test-dir "$dir" --output-on-failure "$@" 2>&1 | tee "$log"
    local total nfail nskip
    total=$(sed -n 's/.*tests passed, [0-9]* tests\{0,1\} failed out of \([0-9]*\).*/\1/p' "$log" | tail -1)
    nfail=$(sed -n 's/.*tests passed, \([0-9]*\) tests\{0,1\} failed out of.*/\1/p' "$log" | tail -1)
    nskip=$(grep -c '\*\*\*Skipped\|Not Run' "$log" || true)
    rm -f "$log"
    if [ -z "$total" ]; then
        echo "run-all: ctest in $dir printed no summary" >&2
        failed=$((failed + 1))
        return
    fi
    failed=$((failed + nfail))
    skipped=$((skipped + nskip))
    passed=$((passed + total - nfail - nskip))
}

stage() { printf '\n==== %s ====\n' "$*"; }

stage "build (Werror)"
cmake -S "$src" -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFA_WERROR=ON >/dev/null &&
    cmake --build build -j "$jobs" || { echo "run-all: build failed"; echo "tests: 0 passed, 1 failed"; exit 1; }

stage "tests (unit, decoders, eBPF, conntrack, e2e)"
# The agent's default run directory is the host's: a test that leaves a file there (a state
# file the next conntrack test reads, a control socket) is a failure of its own.
had_rundir=$([ -e /var/run/flowagent ] && echo yes || true)
run_ctest build
if [ -z "$had_rundir" ] && [ -e /var/run/flowagent ]; then
    echo "run-all: a test left /var/run/flowagent behind: $(ls -A /var/run/flowagent | tr '\n' ' ')"
    rm -rf /var/run/flowagent
    failed=$((failed + 1))
fi

# FA_STATIC: one executable with no NEEDED entry at all (no dynamic section), that still reads
# and resolves a config ("localhost": static glibc's built-in files/dns lookup), and, as root,
# its RSS (printed, not judged: it depends on the machine).
static_build() {
    local dir=build-static bin=build-static/flowagent ok="$work/static-ok.ini" bad="$work/static-bad.ini"
    if ! { cmake -S "$src" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=MinSizeRel -DFA_WERROR=ON \
               -DFA_BUILD_TESTS=OFF -DFA_STATIC=ON -DFA_WITH_CONNTRACK=OFF >/dev/null &&
           cmake --build "$dir" -j "$jobs" --target flowagent; }; then
        echo "run-all: static build failed"
        return 1
    fi
    local dyn
    dyn=$(readelf -d "$bin" 2>&1)
    if [[ $dyn == *NEEDED* || $dyn != *"no dynamic section"* ]]; then
        echo "run-all: $bin is not fully static:"
        echo "$dyn"
        return 1
    fi
    printf '[agent]\nsource = generator\n[collector c]\naddress = localhost:2055\n' > "$ok"
    printf '[agent]\nsource = none\n[collector c]\naddress = localhost:2055\n' > "$bad"
    "$bin" --check-config -c "$ok" || { echo "run-all: static --check-config on a valid config: exit $?"; return 1; }
    local rc=0
    "$bin" --check-config -c "$bad" || rc=$?
    [ "$rc" -eq 2 ] || { echo "run-all: static --check-config on an invalid config: exit $rc, expected 2"; return 1; }
    [ -f "$dir/bpf/fa_flow.bpf.o" ] || { echo "run-all: no $dir/bpf/fa_flow.bpf.o"; return 1; }
    if [ "$(id -u)" -eq 0 ]; then
        FA_RSS_MAX_FLOWS=8 tests/cross/measure_rss.sh "$dir" xdp generator ||
            { echo "run-all: measure_rss.sh on the static build failed"; return 1; }
    else
        echo "run-all: not root, static RSS not measured"
    fi
}

stage "static build (FA_STATIC)"
work=$(mktemp -d)
if static_build; then
    passed=$((passed + 1))
else
    failed=$((failed + 1))
fi
rm -rf "$work"

stage "unit tests under ASan + UBSan"
if cmake -S "$src" -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFA_WERROR=ON \
        -DFA_SANITIZE="address;undefined" -DFA_PLATFORM=OFF -DFA_BUILD_BENCH=OFF >/dev/null &&
    cmake --build build-asan -j "$jobs"; then
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 run_ctest build-asan -L unit
else
    echo "run-all: sanitizer build failed"
    failed=$((failed + 1))
fi

# libFuzzer (clang) on the parsers of untrusted input: ctnetlink messages, the config file and
# the control socket's requests,
# each for FA_FUZZ_SECONDS (default 20) from a seed corpus copied into a scratch directory
# (libFuzzer adds what it finds there). A crash, hang or sanitizer report fails the stage.
fuzz_run() {
    local name=$1 seeds=$2 corpus
    shift 2
    corpus=$(mktemp -d)
    # shellcheck disable=SC2086 # $seeds is a glob on purpose
    [ -n "$seeds" ] && cp $seeds "$corpus"/
    mkdir -p build-fuzz/artifacts
    if build-fuzz/tests/fuzz/"$name" -max_total_time="${FA_FUZZ_SECONDS:-20}" -timeout=5 \
            -rss_limit_mb=1024 -artifact_prefix=build-fuzz/artifacts/ "$@" "$corpus" \
            >"$corpus.log" 2>&1; then
        echo "run-all: $name: $(grep -E '^Done [0-9]+ runs' "$corpus.log")"
        passed=$((passed + 1))
    else
        tail -40 "$corpus.log"
        echo "run-all: $name failed (reproducer above, in $(pwd)/build-fuzz/artifacts)"
        failed=$((failed + 1))
    fi
    rm -rf "$corpus" "$corpus.log"
}
stage "fuzz (libFuzzer, clang)"
if cmake -S "$src" -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
        -DCMAKE_CXX_COMPILER=clang++ -DFA_BUILD_BENCH=OFF >/dev/null &&
    cmake --build build-fuzz -j "$jobs" --target fuzz_conntrack_decode fuzz_config \
        fuzz_control_request; then
    fuzz_run fuzz_conntrack_decode "" -max_len=4096
    fuzz_run fuzz_config "tests/data/config/*.ini" -max_len=2048 -dict=tests/fuzz/config.dict
    fuzz_run fuzz_control_request "" -max_len=512 -dict=tests/fuzz/control.dict
else
    echo "run-all: fuzz build failed"
    failed=$((failed + 1))
fi

if [ -z "${FA_SKIP_CROSS:-}" ] && [ -f .ci/cross.sh ]; then
    stage "core unit tests on other CPUs (qemu-user)"
    if bash .ci/cross.sh; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
fi

# The cross-built agent on Debian's 6.1 kernels (mipsel Malta, big-endian s390x, arm64, amd64)
# under qemu-system: xdp, tc and conntrack end to end, judged by nfdump/tshark on the host.
if [ -z "${FA_SKIP_VM:-}" ]; then
    stage "router kernels under qemu-system (tests/vm)"
    if bash tests/vm/run.sh; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
fi

echo
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
