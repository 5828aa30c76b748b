#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# The control socket and `flowagent status / flows / top`, against ground truth computed here
# (the generator's packet formula, lib/control_check.py) and the datagrams a UDP sink counted:
#  1. status --json: source, flow-table use, metered packets/bytes, collector datagrams (equal to
#     what the sink received), templates; flows --json: every flow's packets and bytes, per
#     protocol too; the text forms print; the socket is 0600 in a 0700 directory it created.
#  2. A second agent on the same socket path is refused (exit 1, before starting anything) and
#     the first keeps answering; malformed, binary, oversized, idle and half-sent requests get
#     an error or are closed, and never stop the agent (lib/control_check.py probe).
#  3. `flowagent top` in a real 80x24 terminal (tmux): the packet and bit rates of a generator
#     running at a known rate, per flow and per source after the `g` key, sorted by rate, then
#     by packets after `p`; `q` quits.
#  4. A reload keeps the socket (and, applied in place, the metering); a reload that changes
#     control_socket moves it. `flowagent reload` (text and --json) answers applied in place,
#     applied with a restart (max_flows changed) or refused with the config error (the running
#     config stays; status shows it), and moves the socket it was asked on. SIGTERM: exit 0
#     and the socket file is removed.
# No root needed: the generator source and sockets in a temporary directory.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

BIN=${FA_BUILD_DIR:?FA_BUILD_DIR not set}/flowagent
CHECK="python3 $(dirname "$0")/lib/control_check.py"
[ -x "$BIN" ] || fa_fail "binary not built: $BIN"
require_tool python3 tmux stat

fa_tmpdir D
SOCK=$D/run/fa.sock
PORT=$(free_udp_port)
FLOWS=64
PPS=2000
DUR=2

bg_start SINK python3 "$(dirname "$0")/lib/udp_sink.py" 127.0.0.1 "$PORT" "$D/sink.count"
wait_for 5 "[ -s '$D/sink.count' ]" || fa_fail "udp sink did not start"

cat >"$D/agent.ini" <<INI
[agent]
source = generator
control_socket = $SOCK
[flows]
max_flows = 4096
active_timeout = 600
inactive_timeout = 600
[generator]
flows = $FLOWS
packets_per_second = $PPS
duration = $DUR
[collector main]
address = 127.0.0.1:$PORT
INI
bg_start AGENT "$BIN" -c "$D/agent.ini" 2>"$D/agent.log"
wait_for 10 "[ -S '$SOCK' ]" || fa_fail "control socket $SOCK not created"
[ "$(stat -c %a "$SOCK")" = 600 ] || fa_fail "socket mode $(stat -c %a "$SOCK"), want 600"
[ "$(stat -c %a "$D/run")" = 700 ] || fa_fail "socket dir mode $(stat -c %a "$D/run"), want 700"

# --- 1. status and flows against what the generator sent --------------------------------------
$CHECK truth "$FLOWS" $((PPS * DUR)) >"$D/truth.json"
status_json() { "$BIN" status --socket "$SOCK" --json >"$D/status.json"; }
done_cond="status_json && python3 -c 'import json,sys; sys.exit(json.load(open(\"$D/status.json\"))[\"metered\"][\"packets\"] != $((PPS * DUR)))'"
wait_for 20 "$done_cond" 0.2 || fa_fail "generator did not finish: $(cat "$D/status.json")"
# Nothing is exported before the timeouts: the datagrams sent are the template/options ones;
# wait until the sink has them all, then compare the agent's count with the sink's.
sleep 0.5
status_json
$CHECK status "$D/status.json" "$D/truth.json" "$(cat "$D/sink.count")"
"$BIN" flows --socket "$SOCK" --json --top 200 >"$D/flows.json"
$CHECK flows "$D/flows.json" "$D/truth.json"
"$BIN" flows -c "$D/agent.ini" --json --group-by proto --by packets >"$D/proto.json"
$CHECK flows "$D/proto.json" "$D/truth.json" proto
"$BIN" status -c "$D/agent.ini" >"$D/status.txt"
grep -q "^flow table: $FLOWS of 4096 flows" "$D/status.txt" || fa_fail "status text: $(cat "$D/status.txt")"
"$BIN" flows --socket "$SOCK" --group-by src --top 3 >"$D/src.txt"
[ "$(grep -c '^198\.51\.100\.\|^2001:db8' "$D/src.txt")" = 3 ] || fa_fail "flows text: $(cat "$D/src.txt")"
fa_log "ok   status and flows match the $FLOWS flows / $((PPS * DUR)) packets sent"

# --- 2. second instance, bad clients -----------------------------------------------------------
rc=0
timeout 10 "$BIN" -c "$D/agent.ini" >"$D/second.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fa_fail "second agent on the same socket: exit $rc, want 1: $(cat "$D/second.out")"
grep -q "another flowagent is running" "$D/second.out" || fa_fail "second agent: $(cat "$D/second.out")"
grep -q "started:" "$D/second.out" && fa_fail "second agent started its source before refusing"
"$BIN" status --socket "$SOCK" >/dev/null || fa_fail "first agent stopped answering"
fa_log "ok   second agent refused: $(cat "$D/second.out")"
$CHECK probe "$SOCK"
rc=0
"$BIN" flows --socket "$D/nope.sock" 2>"$D/nope.err" || rc=$?
[ "$rc" = 1 ] && grep -q "cannot talk to the agent" "$D/nope.err" || fa_fail "no agent: rc $rc $(cat "$D/nope.err")"

# --- reload: the socket stays where it is, and moves with control_socket ---------------------
metered() { "$BIN" status --socket "$SOCK" | sed -n 's/^metered: \([0-9]*\) packets.*/\1/p'; }
before=$(metered)
kill -HUP "$AGENT"
# An unchanged config is applied in place (the log says so): the socket answers, and the table
# and the generator go on (metered does not start again from zero).
wait_for 10 "grep -q 'reload: applying' '$D/agent.log' && [ \"\$(metered)\" -ge '$before' ]" 0.1 ||
    fa_fail "no answer after a reload (same path): $("$BIN" status --socket "$SOCK" 2>&1)"
sed -i "s|^control_socket = .*|control_socket = $D/run/moved.sock|" "$D/agent.ini"
kill -HUP "$AGENT"
wait_for 10 "[ -S '$D/run/moved.sock' ] && [ ! -e '$SOCK' ]" 0.2 ||
    fa_fail "socket did not move at a reload: $(ls -l "$D/run")"
"$BIN" status -c "$D/agent.ini" >/dev/null || fa_fail "no answer on the moved socket"
fa_log "ok   reload keeps the socket; a changed control_socket moves it"
sed -i "s|^control_socket = .*|control_socket = $SOCK|" "$D/agent.ini"
kill -HUP "$AGENT"
wait_for 10 "[ -S '$SOCK' ]" 0.2 || fa_fail "socket did not move back"

# --- flowagent reload: as SIGHUP, and its answer says applied (how) or refused (why) ----------
inplace() { grep -c 'reload: applying' "$D/agent.log" || true; }
n=$(inplace)
out=$("$BIN" reload --socket "$SOCK") || fa_fail "flowagent reload failed: $out"
[ "${out#reload: applied in place}" != "$out" ] || fa_fail "flowagent reload answered: $out"
[ "$(inplace)" -eq $((n + 1)) ] || fa_fail "flowagent reload: the log shows no reload in place"
out=$("$BIN" reload --json --socket "$SOCK") || fa_fail "flowagent reload --json failed: $out"
printf '%s' "$out" | python3 -c 'import json, sys; d = json.load(sys.stdin)
assert d["reload"] == "applied" and d["how"] == "in_place", d' ||
    fa_fail "flowagent reload --json answered: $out"
cp "$D/agent.ini" "$D/agent.good"
sed -i 's/^max_flows = 4096/max_flows = lots/' "$D/agent.ini"
rc=0
"$BIN" reload --socket "$SOCK" >"$D/reload.out" 2>"$D/reload.err" || rc=$?
[ "$rc" = 1 ] && grep -q "reload refused, the running config stays: .*max_flows.*lots" \
    "$D/reload.err" || fa_fail "bad config: rc $rc, $(cat "$D/reload.out" "$D/reload.err")"
grep -q '^flow table: .* of 4096 flows' <("$BIN" status --socket "$SOCK") ||
    fa_fail "the running config did not stay after a refused reload"
# A [flows] size change takes the restart path (the generator has no datapath to hand over).
sed 's/^max_flows = 4096/max_flows = 8192/' "$D/agent.good" >"$D/agent.ini"
out=$("$BIN" reload --json --socket "$SOCK") || fa_fail "flowagent reload (max_flows) failed: $out"
printf '%s' "$out" | python3 -c 'import json, sys; d = json.load(sys.stdin)
assert d["reload"] == "applied" and d["how"] == "restarted", d' ||
    fa_fail "flowagent reload (max_flows) answered: $out"
grep -q '^flow table: .* of 8192 flows' <("$BIN" status --socket "$SOCK") ||
    fa_fail "max_flows 8192 not applied: $("$BIN" status --socket "$SOCK")"
# Asked on the socket that the new config moves: answered there, then the socket moves.
sed "s|^control_socket = .*|control_socket = $D/run/moved.sock|" "$D/agent.good" >"$D/agent.ini"
"$BIN" reload --socket "$SOCK" >/dev/null || fa_fail "flowagent reload (moving the socket) failed"
wait_for 10 "[ -S '$D/run/moved.sock' ] && [ ! -e '$SOCK' ]" 0.2 ||
    fa_fail "socket did not move at flowagent reload: $(ls -l "$D/run")"
cp "$D/agent.good" "$D/agent.ini"
"$BIN" reload --socket "$D/run/moved.sock" >/dev/null || fa_fail "flowagent reload (back) failed"
wait_for 10 "[ -S '$SOCK' ]" 0.2 || fa_fail "socket did not move back at flowagent reload"
fa_log "ok   flowagent reload: applied in place / restarted, refused with the error, moves the socket"

# --- 4. SIGTERM --------------------------------------------------------------------------------
bg_stop "$AGENT" TERM 20 || fa_fail "agent exit status $? after SIGTERM"
[ ! -e "$SOCK" ] || fa_fail "socket $SOCK left behind after exit"

# --- 3. top in a real terminal -----------------------------------------------------------------
TOP_FLOWS=4
TOP_PPS=400
sed -e "s/^flows = .*/flows = $TOP_FLOWS/" -e "s/^packets_per_second = .*/packets_per_second = $TOP_PPS/" \
    -e "s/^duration = .*/duration = 0/" "$D/agent.ini" >"$D/top.ini"
bg_start AGENT "$BIN" -c "$D/top.ini"
wait_for 10 "[ -S '$SOCK' ]" || fa_fail "control socket not created (top)"
TMUX_SESSION=fa-top-$$
export TMUX_TMPDIR=$D  # a tmux server of our own, removed with $D
on_exit "tmux kill-server 2>/dev/null"
tmux new-session -d -s "$TMUX_SESSION" -x 80 -y 24 "$BIN top --socket $SOCK --by rate"
capture() { tmux capture-pane -p -t "$TMUX_SESSION" >"$D/screen.txt"; }
# Rates need two refreshes and the window of ~2 s to fill.
sleep 4
capture
fa_log "top screen:"; cat "$D/screen.txt" >&2
$CHECK top "$D/screen.txt" "$TOP_PPS" "$TOP_FLOWS" flow rate
tmux send-keys -t "$TMUX_SESSION" g
sleep 4
capture
$CHECK top "$D/screen.txt" "$TOP_PPS" "$TOP_FLOWS" src rate
tmux send-keys -t "$TMUX_SESSION" p
wait_for 3 "capture && grep -q 'sort: packets  group: src' '$D/screen.txt'" 0.2 ||
    fa_fail "p did not sort by packets: $(cat "$D/screen.txt")"
tmux send-keys -t "$TMUX_SESSION" q
wait_for 5 "! tmux has-session -t '$TMUX_SESSION' 2>/dev/null" 0.2 || fa_fail "q did not quit top"
fa_log "ok   top: $TOP_PPS pkt/s over $TOP_FLOWS flows shown per flow and per source; keys g, p, q"
bg_stop "$AGENT" TERM 20 || fa_fail "agent exit status $? after SIGTERM (top)"
fa_log "all control socket checks passed"
