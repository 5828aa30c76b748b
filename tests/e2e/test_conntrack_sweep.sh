#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# Connections that never send a DESTROY event: those created while nf_conntrack_events was 0
# (or 2 with no listener: everything that existed before the agent started) carry no event
# extension, so the kernel reports neither their NEW nor their DESTROY. The agent learns them
# from its dumps, and must free their tracking slots once they are gone, or the table fills up
# and later connections go untracked (no active-timeout records).
# Through the masquerading router of lib/nat_topo.sh, with the agent's table at 1,024 slots
# (896 usable):
#  1. events = 0 in the router; K = 800 one-packet UDP connections (source port 40000);
#  2. the agent starts (it sets events = 1), its dumps track the 800 and export their packet at
#     the active timeout (2 s); the test waits for those 800 records, then flushes the table:
#     no DESTROY is sent for any of them;
#  3. the agent must sweep exactly 800 slots (log), then K = 800 new connections (source port
#     40001, with the event extension now) must all be tracked: the final totals count 0
#     untracked connections (without the sweep 704 would be);
#  4. exact totals from the agent's JSON records: 800 packets of 128 bytes for each set, so no
#     connection was exported twice (a live connection swept by mistake would be: its forced
#     end at shutdown would export its whole lifetime again).
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
require_root
require_tool ip nft conntrack python3
B=${FA_BUILD_DIR:-build}
K=800
[ -x "$B/flowagent" ] || fa_fail "no agent binary $B/flowagent"

fa_tmpdir W
. "$(dirname "$0")/lib/nat_topo.sh"
nat_topo_test facw drop_udp

send_set() {  # send_set SPORT: K one-packet connections from 10.1.0.2:SPORT to ports 1..K
    ip netns exec "$C" python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('10.1.0.2', $1))
for p in range(1, $K + 1): s.sendto(b'x' * 100, ('10.2.0.2', p))"
}
# json_sum SPORT: "records packets octets" of the agent's JSON records from 10.1.0.2:SPORT.
json_sum() {
    python3 - "$W/agent.json" "$1" <<'PY'
import json, sys
n = p = b = 0
for line in open(sys.argv[1]):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if r.get("src") == "10.1.0.2" and r.get("src_port") == int(sys.argv[2]):
        n += 1; p += r["packets"]; b += r["octets"]
print(n, p, b)
PY
}
json_packets_at_least() { local p; read -r _ p _ < <(json_sum "$1"); [ "$p" -ge "$2" ]; }

# Accounting on (the agent would turn it on too late for these), events off.
in_r sysctl -qw net.netfilter.nf_conntrack_acct=1 net.netfilter.nf_conntrack_timestamp=1 \
    net.netfilter.nf_conntrack_events=0
send_set 40000
live=$(in_r conntrack -C)
[ "$live" -ge "$K" ] || fa_fail "only $live conntrack entries for $K connections"

cat >"$W/agent.ini" <<INI
[agent]
source = conntrack
[flows]
max_flows = 1024
active_timeout = 2
inactive_timeout = 1
[collector c]
address = 127.0.0.1:9
[output]
stdout = yes
INI
bg_start AGENT ip netns exec "$R" "$B/flowagent" -c "$W/agent.ini" >"$W/agent.json" 2>"$W/agent.log"
wait_for 10 "grep -q 'started:' '$W/agent.log'" || fa_fail "agent did not start: $(cat "$W/agent.log")"
[ "$(in_r sysctl -n net.netfilter.nf_conntrack_events)" = 1 ] \
    || fa_fail "the agent did not set nf_conntrack_events to 1"
wait_for 15 "json_packets_at_least 40000 $K" 0.2 \
    || fa_fail "the first set was not exported by the dumps: $(json_sum 40000) $(tail -5 "$W/agent.log")"
in_r conntrack -F 2>/dev/null
wait_for 15 "grep -q 'ended without a DESTROY event' '$W/agent.log'" 0.2 \
    || fa_fail "no sweep after the flush: $(tail -5 "$W/agent.log")"
send_set 40001
sleep 3  # a dump cycle or more with the new connections live: none may be swept
rc=0
bg_stop "$AGENT" TERM 30 || rc=$?
[ "$rc" -eq 0 ] || fa_fail "agent exited $rc: $(tail -20 "$W/agent.log")"
grep -E 'conntrack:|dropped:' "$W/agent.log" | sed 's/^/  agent: /' >&2

fail=0
swept=$(sed -n 's/.* \([0-9][0-9]*\) swept without a DESTROY event.*/\1/p' "$W/agent.log" | tail -1)
untracked=$(sed -n 's/.* \([0-9][0-9]*\) connections untracked (table full).*/\1/p' "$W/agent.log" | tail -1)
[ "${swept:-x}" = "$K" ] || { fa_log "FAIL: swept ${swept:-?} slots, want $K"; fail=1; }
[ "${untracked:-x}" = 0 ] || { fa_log "FAIL: ${untracked:-?} connections untracked, want 0"; fail=1; }
events=$(sed -n 's/.*dropped:.* \([0-9]*\) events$/\1/p' "$W/agent.log" | tail -1)
[ "${events:-x}" = "$K" ] \
    || { fa_log "FAIL: the drop summary counts ${events:-?} lost events, want $K"; fail=1; }
read -r n0 p0 b0 < <(json_sum 40000)
read -r n1 p1 b1 < <(json_sum 40001)
[ "$p0 $b0" = "$K $((K * 128))" ] \
    || { fa_log "FAIL: first set: $n0 records, $p0 packets, $b0 bytes; want $K/$((K * 128))"; fail=1; }
[ "$p1 $b1" = "$K $((K * 128))" ] \
    || { fa_log "FAIL: second set: $n1 records, $p1 packets, $b1 bytes; want $K/$((K * 128))"; fail=1; }
[ "$fail" -eq 0 ] || exit 1
fa_log "PASS: $swept slots swept after the flush, 0 untracked, $p0 + $p1 packets exported exactly"
