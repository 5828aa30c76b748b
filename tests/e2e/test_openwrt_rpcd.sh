#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# The OpenWrt rpcd exec plugin (openwrt/files/flowagent.rpcd) and its ACL on the build host:
# the plugin runs under dash and busybox ash (when installed) with OpenWrt's jshn stood in for
# by tests/cross/jshn_harness.sh, against a real agent (generator source, finished, so its table
# no longer changes). Checks:
#  - `list` names status and flows with their arguments; the ACL grants exactly those two
#    methods, read-only;
#  - `call status` and `call flows {"top":10}` return the same JSON as `flowagent status --json`
#    and `flowagent flows --json --top 10` (status: all but the fields that move between two
#    calls: uptime, seconds since the last template and error, the control counters, the
#    loop's dispatch maximum);
#  - bad arguments (top out of range or not a number, unknown by/group_by, an instance name
#    with shell metacharacters, an instance not running, two instances without "instance", a
#    non-object) give an {"error": ...} object and run nothing.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

BIN=${FA_BUILD_DIR:?FA_BUILD_DIR not set}/flowagent
SRC=$(cd "$(dirname "$0")/../.." && pwd)
[ -x "$BIN" ] || fa_fail "binary not built: $BIN"
require_tool jq python3 dash

fa_tmpdir D
RUN=$D/run
mkdir -m 0700 "$RUN"
PORT=$(free_udp_port)
bg_start SINK python3 "$(dirname "$0")/lib/udp_sink.py" 127.0.0.1 "$PORT" "$D/sink.count"
cat >"$D/main.ini" <<INI
[agent]
source = generator
control_socket = $RUN/main.sock
[flows]
active_timeout = 600
inactive_timeout = 600
[generator]
flows = 50
packets_per_second = 5000
duration = 1
[collector main]
address = 127.0.0.1:$PORT
INI
bg_start AGENT "$BIN" -c "$D/main.ini"
wait_for 10 "[ -S '$RUN/main.sock' ]" || fa_fail "control socket not created"
wait_for 10 "'$BIN' status --socket '$RUN/main.sock' | grep -q '^metered: 5000 packets'" 0.2 ||
    fa_fail "generator did not finish: $("$BIN" status --socket "$RUN/main.sock")"

# The plugin as installed, with its paths pointed here.
sed -e "s|^PROG=/usr/sbin/flowagent|PROG=$BIN|" -e "s|^RUN_DIR=/var/run/flowagent|RUN_DIR=$RUN|" \
    -e "s|^\\. /usr/share/libubox/jshn.sh|. $SRC/tests/cross/jshn_harness.sh|" \
    "$SRC/openwrt/files/flowagent.rpcd" >"$D/plugin"
grep -q "^PROG=$BIN" "$D/plugin" && grep -q "jshn_harness" "$D/plugin" ||
    fa_fail "plugin paths not substituted"

shells=(dash)
command -v busybox >/dev/null && shells+=("busybox ash")
failures=0
# plugin SHELL METHOD ARGS -> stdout of `call METHOD` with ARGS on stdin
plugin() { printf '%s\n' "$3" | $1 "$D/plugin" call "$2"; }
same() {  # same LABEL A B: equal JSON
    if ! diff <(jq -S . <<<"$2") <(jq -S . <<<"$3") >"$D/diff"; then
        fa_log "FAIL $1:"; cat "$D/diff" >&2
        failures=$((failures + 1))
    else
        fa_log "ok   $1"
    fi
}
moving='del(.uptime_s, .control, .loop) | .collectors |= map(del(.last_template_seconds_ago)
    | if .last_error then del(.last_error.seconds_ago) else . end)'

# ACL: valid JSON, read access to exactly flowagent.status and flowagent.flows, no write.
acl=$SRC/openwrt/files/flowagent.acl.json
same "acl grants read of status and flows only" \
    "$(jq -c '.flowagent | {read: .read, write: .write}' "$acl")" \
    '{"read":{"ubus":{"flowagent":["status","flows"]}},"write":null}'

for sh in "${shells[@]}"; do
    same "[$sh] list" "$($sh "$D/plugin" list)" \
        '{"status":{"instance":"str"},"flows":{"top":10,"by":"str","group_by":"str","instance":"str"}}'
    same "[$sh] call status = flowagent status --json" \
        "$(plugin "$sh" status '{}' | jq -c "$moving")" \
        "$("$BIN" status --socket "$RUN/main.sock" --json | jq -c "$moving")"
    same "[$sh] call status {instance:main}" \
        "$(plugin "$sh" status '{"instance":"main"}' | jq -c "$moving")" \
        "$("$BIN" status --socket "$RUN/main.sock" --json | jq -c "$moving")"
    same "[$sh] call flows {top:10} = flowagent flows --json --top 10" \
        "$(plugin "$sh" flows '{"top":10}')" \
        "$("$BIN" flows --socket "$RUN/main.sock" --json --top 10)"
    same "[$sh] call flows {top:3,by:packets,group_by:proto}" \
        "$(plugin "$sh" flows '{"top":3,"by":"packets","group_by":"proto"}')" \
        "$("$BIN" flows --socket "$RUN/main.sock" --json --top 3 --by packets --group-by proto)"
    [ "$(plugin "$sh" flows '{"top":10}' | jq '.rows | length')" = 10 ] ||
        { fa_log "FAIL [$sh] flows top 10: not 10 rows"; failures=$((failures + 1)); }

    for bad in '{"top":0}' '{"top":201}' '{"top":"ten"}' '{"top":"1;reboot"}' \
        '{"by":"size"}' '{"group_by":"mac"}' '{"instance":"x;touch '"$D"'/pwned"}' \
        '{"instance":"nothere"}' '[1,2]' 'not json'; do
        out=$(plugin "$sh" flows "$bad")
        if ! jq -e 'keys == ["error"]' <<<"$out" >/dev/null 2>&1; then
            fa_log "FAIL [$sh] flows $bad: $out"
            failures=$((failures + 1))
        fi
    done
    [ ! -e "$D/pwned" ] || { fa_log "FAIL [$sh] instance name ran a command"; failures=$((failures + 1)); }
    out=$(plugin "$sh" reboot '{}')
    jq -e '.error' <<<"$out" >/dev/null || { fa_log "FAIL [$sh] unknown method: $out"; failures=$((failures + 1)); }
done

# Two instances: without "instance" the plugin does not guess.
sed -e "s|$RUN/main.sock|$RUN/guest.sock|" "$D/main.ini" >"$D/guest.ini"
bg_start GUEST "$BIN" -c "$D/guest.ini"
wait_for 10 "[ -S '$RUN/guest.sock' ]" || fa_fail "second instance's socket not created"
same "two instances, no instance given: error" "$(plugin dash status '{}')" \
    '{"error":"2 instances running: give \"instance\""}'
[ "$(plugin dash status '{"instance":"guest"}' | jq -r .source)" = generator ] ||
    { fa_log "FAIL instance guest"; failures=$((failures + 1)); }

[ "$failures" -eq 0 ] || fa_fail "$failures rpcd plugin check(s) failed"
fa_log "all rpcd plugin checks passed"
