#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# Boot before the network (issue 12 item 2). In a network namespace whose /etc/hosts and
# resolv.conf this test controls (ip netns exec binds /etc/netns/NS/{hosts,resolv.conf}; the
# name server is 127.0.0.1, where nothing answers), the agent starts with a collector name that
# does not resolve. It must start (not exit 2), meter its generator's 1,000 packets of 100 flows,
# export the flows that go idle into the collector's send queue, and, once the name is added to
# the hosts file, send everything to the nfcapd in the namespace. Checked against the
# generator's formula, computed here in Python (flows, packets, bytes), and: some datagrams did
# wait for the name; --check-config on the same file exits 0 with a warning naming the name.
# Needs root (namespace); skipped otherwise, a failure under CI=true.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
build=${FA_BUILD_DIR:?}
require_tool ip nfcapd nfdump python3 ss
require_root
work=""  # set by fa_tmpdir
fa_tmpdir work
ns=fa-res-$$
name=collector-$$.fa-test
flows=100
pps=500
duration=2
port=2055

ip netns add "$ns"
on_exit "ip netns del $ns"
mkdir -p "/etc/netns/$ns"
on_exit "rm -rf /etc/netns/$ns"
printf '127.0.0.1 localhost\n' >"/etc/netns/$ns/hosts"
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"/etc/netns/$ns/resolv.conf"
ip -n "$ns" link set lo up
in_ns() { ip netns exec "$ns" "$@"; }
in_ns getent hosts "$name" && fa_fail "$name resolves before the test adds it"

cat >"$work/agent.ini" <<INI
[agent]
source = generator
[flows]
active_timeout = 60
inactive_timeout = 1
[generator]
flows = $flows
packets_per_second = $pps
duration = $duration
[collector late]
address = $name:$port
protocol = ipfix
INI

# --check-config: a warning, exit 0.
rc=0
in_ns "$build/flowagent" --check-config -c "$work/agent.ini" >"$work/check.out" 2>"$work/check.err" || rc=$?
[ "$rc" -eq 0 ] || fa_fail "--check-config exited $rc: $(cat "$work/check.err")"
grep -q "warning: .*agent.ini:11: \[collector late\] address = $name:$port" "$work/check.err" \
    || fa_fail "--check-config gave no warning naming the line and name: $(cat "$work/check.err")"

nf=""
mkdir -p "$work/nf"
bg_start nf ip netns exec "$ns" nfcapd -4 -w "$work/nf" -p "$port" -b 127.0.0.1 \
    >"$work/nfcapd.log" 2>&1
wait_for 10 "ip netns exec $ns ss -Hlun 'sport = :$port' | grep -q ." \
    || fa_fail "nfcapd did not bind: $(cat "$work/nfcapd.log")"
agent=""
bg_start agent ip netns exec "$ns" "$build/flowagent" -c "$work/agent.ini" 2>"$work/agent.log"
wait_for 10 "grep -q 'collector late: .*$name' '$work/agent.log'" \
    || fa_fail "agent did not log the unresolved name: $(cat "$work/agent.log")"
kill -0 "$agent" || fa_fail "agent exited: $(cat "$work/agent.log")"
# All traffic metered, and its flows idle long enough to be exported (into the queue).
wait_for 20 "grep -q 'generator: done' '$work/agent.log'" \
    || fa_fail "generator did not finish: $(cat "$work/agent.log")"
sleep 2.5
grep -q "resolved to" "$work/agent.log" && fa_fail "resolved before the name was added"
# The WAN comes up: the name resolves (appended in place: the bind mount shows the same file).
echo "127.0.0.1 $name" >>"/etc/netns/$ns/hosts"
wait_for 90 "grep -q 'collector late: $name resolved to 127.0.0.1:$port' '$work/agent.log'" \
    || fa_fail "the agent did not pick up the name: $(tail -5 "$work/agent.log")"
waited=$(sed -n 's/.*resolved to .*; \([0-9]*\) datagrams waited.*/\1/p' "$work/agent.log")
rc=0
bg_stop "$agent" TERM 30 || rc=$?
[ "$rc" -eq 0 ] || fa_fail "flowagent exited $rc: $(tail -5 "$work/agent.log")"
sleep 0.5
bg_stop "$nf" TERM 10 || true
nfdump_stat "$work/nf" >"$work/stat.txt" || fa_fail "nfcapd wrote nothing: $(cat "$work/nfcapd.log")"
read -r want_flows want_pkts want_bytes < <(python3 - "$flows" "$pps" "$duration" <<'PY'
import sys
flows, pps, dur = map(int, sys.argv[1:])
n = pps * dur
print(min(flows, n), n, sum(60 + (i * 37) % 1400 for i in range(n)))
PY
)
got_flows=$(sed -n 's/^Flows:[[:space:]]*//p' "$work/stat.txt")
got_pkts=$(sed -n 's/^Packets:[[:space:]]*//p' "$work/stat.txt")
got_bytes=$(sed -n 's/^Bytes:[[:space:]]*//p' "$work/stat.txt")
fa_log "nfcapd: $got_flows flows, $got_pkts packets, $got_bytes bytes; want $want_flows," \
    "$want_pkts, $want_bytes; $waited datagrams waited for the name"
[ "${waited:-0}" -gt 0 ] || fa_fail "no datagram waited for the name (the test proves nothing)"
if [ "$got_flows" != "$want_flows" ] || [ "$got_pkts" != "$want_pkts" ] ||
    [ "$got_bytes" != "$want_bytes" ]; then
    fa_fail "collector totals differ from the generator's: $(cat "$work/stat.txt")"
fi
fa_log "ok: every flow metered before the name resolved arrived"
