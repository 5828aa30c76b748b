#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# NAT session log across reloads: the conntrack agent on the masquerading router of
# lib/nat_topo.sh exports NAT events (IPFIX, nat_events = yes) to nfcapd while a client opens
# one-packet UDP connections at a steady pace (ports 1, 2, ..., about one per half
# millisecond) and the agent is reloaded (SIGHUP) three times; the client runs until the
# third restart is logged, so every reload happens while connections open, and reports N, the
# connections it opened. A reload that changes the table (here max_flows) stops one listener
# and starts the next; connections opened in between must not lose their create: the event
# socket is handed over, still subscribed.
# Checked in nfdump: exactly one create (ADD) per destination port 1..N, N in all.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
require_root
require_tool ip nft conntrack python3 nfcapd nfdump ss
B=${FA_BUILD_DIR:-build}
[ -x "$B/flowagent" ] || fa_fail "no agent binary $B/flowagent"
fa_tmpdir W
. "$(dirname "$0")/lib/nat_topo.sh"
nat_topo_test facl drop_udp

P=4741
mkdir -p "$W/nel"
bg_start NF ip netns exec "$R" nfcapd -4 -w "$W/nel" -p $P -b 127.0.0.1 -B 4000000 \
    >"$W/nfcapd.log" 2>&1
wait_for 10 "in_r ss -Hlun 'sport = :$P' | grep -q ." || fa_fail "nfcapd did not bind"
# Each reload changes max_flows, so that it restarts the listener (a reload that keeps the table
# keeps the listener as it is, and hands nothing over).
ini() {
    cat >"$W/agent.ini" <<INI
[agent]
source = conntrack
[flows]
max_flows = $1
[collector nel]
address = 127.0.0.1:$P
protocol = ipfix
nat_events = yes
INI
}
ini 131072
bg_start AGENT ip netns exec "$R" "$B/flowagent" -c "$W/agent.ini" 2>"$W/agent.log"
starts() { grep -c 'started:' "$W/agent.log" 2>/dev/null || true; }
wait_for 10 "[ \$(starts) -ge 1 ]" || fa_fail "agent did not start: $(cat "$W/agent.log")"

# Ports 1..60000 at most (30 s): it stops at the stop file, and prints how many it sent.
bg_start CLIENT ip netns exec "$C" python3 -c "
import os, socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('10.1.0.2', 40000))
t = time.monotonic()
p = 0
while p < 60000 and not os.path.exists('$W/stop'):
    p += 1
    s.sendto(b'x' * 100, ('10.2.0.2', p))
    t += 0.0005
    d = t - time.monotonic()
    if d > 0: time.sleep(d)
print(p)" >"$W/client.out"
for k in 2 3 4; do
    sleep 0.3
    kill -0 "$CLIENT" 2>/dev/null || fa_fail "the client stopped before reload $((k - 1))"
    ini $((131072 + k * 1024))
    kill -HUP "$AGENT"
    wait_for 10 "[ \$(starts) -ge $k ]" || fa_fail "no restart after SIGHUP $((k - 1)): $(tail -5 "$W/agent.log")"
done
sleep 0.2  # connections keep opening after the last restart too
touch "$W/stop"
wait "$CLIENT" || fa_fail "client failed"
N=$(cat "$W/client.out")
[ "$N" -lt 60000 ] || fa_fail "the client ran out of ports before the reloads were done"
live=$(in_r conntrack -C)
[ "$live" -ge "$N" ] || fa_fail "only $live conntrack entries for $N connections"
sleep 0.5  # the last NEW events reach the agent
bg_stop "$AGENT" TERM 20 || fa_fail "agent did not exit cleanly: $(tail -5 "$W/agent.log")"
wait_for 10 "in_r ss -Hlun 'sport = :$P' | awk '{ s += \$2 } END { exit s != 0 }'" \
    || fa_log "collector queue not empty"
bg_stop "$NF" TERM 10 || true
kept=$(grep -c 'kept across the reload' "$W/agent.log" || true)
[ "$kept" -eq 3 ] || fa_fail "the event socket was kept across $kept of 3 reloads: $(cat "$W/agent.log")"

# Creates per destination port: every port 1..N exactly once.
nfdump -R "$W/nel" -q -N -o 'fmt:%nevt|%sa|%dp' 'src ip 10.1.0.2' 2>"$W/nfdump.err" | tr -d ' ' |
    awk -F'|' '$1 == "ADD" { n[$3]++ } END { for (p in n) print p, n[p] }' | sort -n >"$W/adds.txt"
read -r ports total dup missing < <(awk -v n="$N" '
    { seen[$1] = $2; t += $2; if ($2 > 1) d++ }
    END { m = 0; for (p = 1; p <= n; p++) if (!(p in seen)) m++; print NR, t, d + 0, m }' \
    "$W/adds.txt")
fa_log "$N connections across 3 reloads: $total creates on $ports ports, $dup ports twice, $missing without"
[ "$missing" -eq 0 ] || fa_fail "$missing connections got no create (e.g. port $(awk -v n="$N" '
    { s[$1] = 1 } END { for (p = 1; p <= n; p++) if (!(p in s)) { print p; exit } }' "$W/adds.txt"))"
[ "$dup" -eq 0 ] && [ "$total" -eq "$N" ] || fa_fail "$dup ports got more than one create"
fa_log "PASS: one create per connection across the reloads"
