#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Tests the OpenWrt package's shell side on the build host: the UCI -> INI rendering
# (openwrt/files/flowagent-render.sh) and the procd init script's instances and triggers
# (openwrt/files/flowagent.init), against expected files written by hand in tests/cross/openwrt/:
#   <case>/flowagent        the UCI config (the case `shipped` uses openwrt/files/flowagent.config)
#   <case>/nets             logical network -> device map (networks not listed are down)
#   <case>/<section>.ini    the exact INI expected for that section
#   <case>/<section>.stderr the exact messages expected (for a failing section: no INI at all)
#   <case>/procd.expected   the procd calls start_service + service_triggers must make
# The OpenWrt shell libraries are stood in for by uci_harness.sh. Each case runs under dash and,
# when installed, busybox ash (the shell OpenWrt uses).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
files=$src/openwrt/files
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

shells=(dash)
command -v busybox >/dev/null && shells+=("busybox ash")

check() {  # check NAME EXPECTED_FILE ACTUAL_FILE
    if diff -u "$2" "$3" > "$tmp/diff"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL: $1"
        cat "$tmp/diff"
    fi
}

for case_dir in "$here"/openwrt/*/; do
    case_name=$(basename "$case_dir")
    uci=$case_dir/flowagent
    [ "$case_name" = shipped ] && uci=$files/flowagent.config
    nets=$(cat "$case_dir/nets")
    for sh in "${shells[@]}"; do
        tag="$case_name [$sh]"
        # Render every section that has an expected .ini or .stderr.
        for exp in "$case_dir"/*.ini "$case_dir"/*.stderr; do
            [ -f "$exp" ] || continue
            sec=$(basename "$exp"); sec=${sec%.*}
            [ -f "$tmp/done-$sec" ] && continue
            touch "$tmp/done-$sec"
            out=$tmp/out-$sec.ini
            rm -f "$out"
            # shellcheck disable=SC2016 # expanded by the inner shell
            UCI_FILE=$uci FA_TEST_NETS=$nets PROCD_LOG=$tmp/procd.log $sh -c '
                . "$1/uci_harness.sh"; . "$2/flowagent-render.sh"
                config_load flowagent && flowagent_render "$3" "$4"' sh \
                "$here" "$files" "$sec" "$out" 2> "$tmp/err-$sec"
            rc=$?
            if [ -f "$case_dir/$sec.ini" ]; then
                if [ "$rc" -ne 0 ] || [ ! -f "$out" ]; then
                    fail=$((fail + 1)); echo "FAIL: $tag $sec: render failed (rc $rc)"
                    cat "$tmp/err-$sec"; continue
                fi
                check "$tag $sec.ini" "$case_dir/$sec.ini" "$out"
            else
                if [ "$rc" -eq 0 ] || [ -e "$out" ] ||
                    ls "$tmp"/out-"$sec".ini.tmp.* >/dev/null 2>&1; then
                    fail=$((fail + 1)); echo "FAIL: $tag $sec: expected an error and no INI"
                    continue
                fi
                pass=$((pass + 1))
            fi
            exp_err=$case_dir/$sec.stderr
            [ -f "$exp_err" ] || exp_err=/dev/null
            check "$tag $sec stderr" "$exp_err" "$tmp/err-$sec"
        done
        rm -f "$tmp"/done-*

        # The init script: instances and triggers procd is given.
        if [ -f "$case_dir/procd.expected" ]; then
            run=$tmp/run
            rm -rf "$run" "$tmp/procd.log"
            : > "$tmp/procd.log"
            printf '#!/bin/sh\nexit 0\n' > "$tmp/fake-flowagent"
            chmod +x "$tmp/fake-flowagent"
            sed -e "s|^PROG=/usr/sbin/flowagent|PROG=$tmp/fake-flowagent|" \
                -e "s|^RUN_DIR=/var/run/flowagent|RUN_DIR=$run|" \
                -e "s|^\\. /usr/share/flowagent/render.sh|. $files/flowagent-render.sh|" \
                -e "s|^\\. /lib/functions/network.sh|:|" \
                "$files/flowagent.init" > "$tmp/init.sh"
            # shellcheck disable=SC2016 # expanded by the inner shell
            UCI_FILE=$uci FA_TEST_NETS=$nets PROCD_LOG=$tmp/procd.log $sh -c '
                . "$1/uci_harness.sh"; . "$2"; start_service; service_triggers' sh \
                "$here" "$tmp/init.sh" 2> "$tmp/init.err"
            sed -e "s|$tmp/fake-flowagent|/usr/sbin/flowagent|g" -e "s|$run|RUN|g" \
                "$tmp/procd.log" > "$tmp/procd.actual"
            check "$tag procd" "$case_dir/procd.expected" "$tmp/procd.actual"
            # Every instance's INI must be exactly what rendering the section alone gives.
            for ini in "$run"/*.ini; do
                [ -f "$ini" ] || continue
                check "$tag init $(basename "$ini")" "$case_dir/$(basename "$ini")" "$ini"
            done
        fi
    done
done

# The hotplug hook: reload only for ifup/ifupdate of a network an enabled instance meters.
# multi/flowagent: `edge` (enabled) meters lan and wan; `spare` (disabled) meters guest.
fake_init=$tmp/fake-init
printf '#!/bin/sh\necho "init $*" >> "%s"\n' "$tmp/hotplug.log" > "$fake_init"
chmod +x "$fake_init"
sed -e "s|/etc/init.d/flowagent|$fake_init|g" \
    -e "s|^\\. /usr/share/flowagent/render.sh|. $files/flowagent-render.sh|" \
    -e "s|^\\. /lib/functions.sh|:|" \
    "$files/flowagent.hotplug" > "$tmp/hotplug.sh"
for sh in "${shells[@]}"; do
    for ev in "ifup wan" "ifupdate lan" "ifup guest" "ifdown wan" "ifup loopback"; do
        : > "$tmp/hotplug.log"
        # shellcheck disable=SC2016 # expanded by the inner shell
        ACTION=${ev% *} INTERFACE=${ev#* } UCI_FILE=$here/openwrt/multi/flowagent \
            FA_TEST_NETS="lan=br-lan" PROCD_LOG=$tmp/hotplug.log $sh -c '
            . "$1/uci_harness.sh"; . "$2"' sh "$here" "$tmp/hotplug.sh"
        case $ev in
            "ifup wan"|"ifupdate lan")
                printf 'init enabled\nlogger: network '\''%s'\'' %s: reloading\ninit reload\n' \
                    "${ev#* }" "${ev% *}" > "$tmp/hotplug.expected" ;;
            "ifdown wan") : > "$tmp/hotplug.expected" ;;
            *) printf 'init enabled\n' > "$tmp/hotplug.expected" ;;
        esac
        check "hotplug [$sh] $ev" "$tmp/hotplug.expected" "$tmp/hotplug.log"
    done
done

echo "openwrt render: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
