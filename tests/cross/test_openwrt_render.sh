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
#   <case>/<section>.devices the devices file the init script leaves for a started instance
# Then the hotplug hook over a sequence of interface events, with an init script whose reload
# renders again: one reload per device change, none for an event that changes no device.
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
            # Every instance's INI must be exactly what rendering the section alone gives, and
            # its devices file what the INI's interfaces are (none for a section not started).
            for ini in "$run"/*.ini; do
                [ -f "$ini" ] || continue
                check "$tag init $(basename "$ini")" "$case_dir/$(basename "$ini")" "$ini"
                devs=${ini%.ini}.devices
                [ -f "$devs" ] || { fail=$((fail + 1)); echo "FAIL: $tag no $devs"; continue; }
                check "$tag init $(basename "$devs")" "$case_dir/$(basename "$devs")" "$devs"
            done
            for devs in "$run"/*.devices; do
                [ -f "$devs" ] || continue
                [ -f "${devs%.devices}.ini" ] && continue
                fail=$((fail + 1)); echo "FAIL: $tag $devs without an instance"
            done
        fi
    done
done

# The hotplug hook: a reload only when a network an enabled instance meters comes up on a device
# that instance does not meter yet. multi/flowagent: `edge` (enabled) meters lan, wan and the
# device wlan0; `spare` (disabled) meters guest; `nat` (conntrack) no network. The fake init
# logs its calls, and its reload renders every instance again (the real start_service, with
# the networks of that moment), which rewrites the devices files as on the router.
hp_run=$tmp/hp-run
sed -e "s|^PROG=/usr/sbin/flowagent|PROG=$tmp/fake-flowagent|" \
    -e "s|^RUN_DIR=/var/run/flowagent|RUN_DIR=$hp_run|" \
    -e "s|^\\. /usr/share/flowagent/render.sh|. $files/flowagent-render.sh|" \
    -e "s|^\\. /lib/functions/network.sh|:|" \
    "$files/flowagent.init" > "$tmp/hp-init.sh"
printf '#!/bin/sh\nexit 0\n' > "$tmp/fake-flowagent"
chmod +x "$tmp/fake-flowagent"
fake_init=$tmp/fake-init
cat > "$fake_init" <<EOF
#!/bin/sh
echo "init \$*" >> "$tmp/hotplug.log"
[ "\$1" = reload ] || exit 0
PROCD_LOG=$tmp/reload-procd.log
. "$here/uci_harness.sh"
. "$tmp/hp-init.sh"
start_service
EOF
chmod +x "$fake_init"
sed -e "s|/etc/init.d/flowagent|$fake_init|g" \
    -e "s|^RUN_DIR=/var/run/flowagent|RUN_DIR=$hp_run|" \
    -e "s|^\\. /usr/share/flowagent/render.sh|. $files/flowagent-render.sh|" \
    -e "s|^\\. /lib/functions.sh|:|" \
    -e "s|^\\. /lib/functions/network.sh|:|" \
    "$files/flowagent.hotplug" > "$tmp/hotplug.sh"
grep -q "RUN_DIR=$hp_run" "$tmp/hotplug.sh" || { fail=$((fail + 1)); echo "FAIL: hotplug RUN_DIR"; }
# Each step: networks up (network=device), event, then what must happen: "-" nothing (not even
# a look at the instances: ifdown), "=" looked, no reload, or the devices the reload leaves.
hp_steps=(
    "lan=br-lan|ifup lan|="                                          # metered, device known
    "lan=br-lan wan=eth0.2|ifup wan|br-lan eth0.2 wlan0"              # wan up late: new device
    "lan=br-lan wan=eth0.2|ifupdate wan|="                            # DHCP renewal
    "lan=br-lan wan=eth0.2 guest=br-guest|ifup guest|="               # only a disabled instance
    "lan=br-lan wan=eth0.2 guest=br-guest|ifup loopback|="            # metered by nobody
    "lan=br-lan|ifdown wan|-"
    "lan=br-lan wan=pppoe-wan|ifup wan|br-lan pppoe-wan wlan0"        # wan switched to PPPoE
    "lan=br-lan|ifdown wan|-"
    "lan=br-lan wan=pppoe-wan|ifup wan|="                             # redial: same name
    "lan=br-lan wan=pppoe-wan|ifupdate lan|="
)
for sh in "${shells[@]}"; do
    rm -rf "$hp_run"
    : > "$tmp/hotplug.log"
    # The boot: wan still down, so edge starts with br-lan and wlan0.
    UCI_FILE=$here/openwrt/multi/flowagent FA_TEST_NETS="lan=br-lan" $sh "$fake_init" reload
    printf 'br-lan wlan0\n' > "$tmp/hp.expected"
    check "hotplug [$sh] boot devices" "$tmp/hp.expected" "$hp_run/edge.devices"
    reloads=0 k=0
    for step in "${hp_steps[@]}"; do
        k=$((k + 1))
        nets=${step%%|*}
        ev=${step#*|}; ev=${ev%|*}
        want=${step##*|}
        : > "$tmp/hotplug.log"
        # shellcheck disable=SC2016 # expanded by the inner shell
        ACTION=${ev% *} INTERFACE=${ev#* } UCI_FILE=$here/openwrt/multi/flowagent \
            FA_TEST_NETS="$nets" PROCD_LOG=$tmp/hotplug.log $sh -c '
            . "$1/uci_harness.sh"; . "$2"' sh "$here" "$tmp/hotplug.sh"
        case $want in
            -) : > "$tmp/hotplug.expected" ;;
            =) printf 'init enabled\n' > "$tmp/hotplug.expected" ;;
            *)
                reloads=$((reloads + 1))
                dev=$(printf '%s\n' "$nets" | tr ' ' '\n' | sed -n "s/^${ev#* }=//p")
                printf 'init enabled\nlogger: network '\''%s'\'' %s: new device %s for '\''edge'\'': reloading\ninit reload\n' \
                    "${ev#* }" "${ev% *}" "$dev" > "$tmp/hotplug.expected"
                printf '%s\n' "$want" > "$tmp/hp.expected"
                check "hotplug [$sh] step $k, $ev on $nets: devices" "$tmp/hp.expected" \
                    "$hp_run/edge.devices"
                ;;
        esac
        check "hotplug [$sh] step $k, $ev on $nets" "$tmp/hotplug.expected" "$tmp/hotplug.log"
    done
    # Two device changes in the sequence: two reloads, and no other.
    [ "$reloads" -eq 2 ] || { fail=$((fail + 1)); echo "FAIL: hotplug [$sh]: $reloads reloads"; }

    # Two enabled instances meter wan: its new device is one reload, not one per instance.
    sed -e "/^config flowagent 'spare'/,/^\$/s/option enabled '0'/option enabled '1'/" \
        -e "/^config flowagent 'spare'/,/^\$/s/list network 'guest'/list network 'guest'\n\tlist network 'wan'/" \
        "$here/openwrt/multi/flowagent" > "$tmp/two.uci"
    printf 'config collector\n\toption instance '\''spare'\''\n\toption address '\''192.0.2.30:2055'\''\n' \
        >> "$tmp/two.uci"
    rm -rf "$hp_run"
    UCI_FILE=$tmp/two.uci FA_TEST_NETS="lan=br-lan guest=br-guest" $sh "$fake_init" reload
    printf 'br-guest\n' > "$tmp/hp.expected"
    check "hotplug [$sh] two instances: spare boot devices" "$tmp/hp.expected" "$hp_run/spare.devices"
    : > "$tmp/hotplug.log"
    # shellcheck disable=SC2016 # expanded by the inner shell
    ACTION=ifup INTERFACE=wan UCI_FILE=$tmp/two.uci FA_TEST_NETS="lan=br-lan guest=br-guest wan=eth0.2" \
        PROCD_LOG=$tmp/hotplug.log $sh -c '. "$1/uci_harness.sh"; . "$2"' sh "$here" "$tmp/hotplug.sh"
    printf 'init enabled\nlogger: network '\''wan'\'' ifup: new device eth0.2 for '\''edge'\'', eth0.2 for '\''spare'\'': reloading\ninit reload\n' \
        > "$tmp/hotplug.expected"
    check "hotplug [$sh] two instances, one reload" "$tmp/hotplug.expected" "$tmp/hotplug.log"
    printf 'br-guest eth0.2\n' > "$tmp/hp.expected"
    check "hotplug [$sh] two instances: spare devices" "$tmp/hp.expected" "$hp_run/spare.devices"
done

echo "openwrt render: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
