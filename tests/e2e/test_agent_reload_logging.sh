#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# The command line's log level outlives a reload: the agent (generator source, no root needed)
# starts with --log-level warn and a config that says log_level = debug; it must log nothing
# below warn, before and after a SIGHUP. The reload is seen on stdout: the new config turns
# [output] stdout on, so JSON records appear only once it has been applied. A reload with a
# broken config is refused with the file, line and key in the log, and the agent keeps running.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
require_tool python3
build=${FA_BUILD_DIR:?}
[ -x "$build/flowagent" ] || fa_fail "no agent binary $build/flowagent"
work=""   # set by fa_tmpdir
agent=""  # set by bg_start
fa_tmpdir work
port=$(free_udp_port)

# ini STDOUT: the config, with [output] stdout = STDOUT.
ini() {
    cat >"$work/agent.ini" <<INI
[agent]
source = generator
log_level = debug
[flows]
active_timeout = 1
inactive_timeout = 1
[generator]
flows = 5
packets_per_second = 200
[collector c]
address = 127.0.0.1:$port
[output]
stdout = $1
INI
}
ini no
bg_start agent "$build/flowagent" -c "$work/agent.ini" --log-level warn \
    >"$work/out.json" 2>"$work/agent.err"
# With nothing logged at warn, readiness is the agent blocking SIGHUP (it takes its signals
# through a signalfd): before that a SIGHUP would kill it.
hup_blocked() {
    local m
    m=$(awk '/^SigBlk:/ { print $2 }' "/proc/$agent/status" 2>/dev/null) || return 1
    [ -n "$m" ] && [ $((0x$m & 1)) -eq 1 ]
}
wait_for 10 hup_blocked || fa_fail "agent did not start: $(cat "$work/agent.err")"
ini yes
kill -HUP "$agent"
wait_for 15 "grep -q '\"src\"' '$work/out.json'" \
    || fa_fail "no JSON record after the reload: $(cat "$work/agent.err")"
# A broken config at the next reload: refused, logged with file:line, the agent runs on.
printf '[agent]\nsource = generator\n[flows]\nmax_flows = lots\n' >"$work/agent.ini"
kill -HUP "$agent"
wait_for 10 "grep -q 'reload: config invalid' '$work/agent.err'" \
    || fa_fail "the broken config was not refused: $(cat "$work/agent.err")"
grep -q "agent.ini:4: \[flows\] max_flows = lots" "$work/agent.err" \
    || fa_fail "the refusal does not name file, line and key: $(cat "$work/agent.err")"
kill -0 "$agent" || fa_fail "agent exited after the refused reload: $(cat "$work/agent.err")"
bg_stop "$agent" TERM 10 || fa_fail "agent did not exit cleanly: $(cat "$work/agent.err")"
if grep -E '^flowagent: (info|debug):' "$work/agent.err"; then
    fa_fail "lines below --log-level warn were logged (above)"
fi
fa_log "ok: $(grep -c '"src"' "$work/out.json") JSON records after the reload, nothing below warn logged"
