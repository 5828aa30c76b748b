#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# Conntrack listener (fa_ct_probe, without the agent) through a masquerading router:
# client ns (10.1.0.2) -- router ns (10.1.0.1 | 10.2.0.1, nft masquerade) -- server ns
# (10.2.0.2). Known traffic: 5 ICMP echo of 84 IP bytes each way; 10 UDP datagrams of
# 128 IP bytes (100 payload + 8 UDP + 20 IP) client->server, none back.
# Checks the per-direction records' packets, bytes, pre- and post-NAT addresses/ports.
set -u
B=${FA_BUILD_DIR:-build}
if [ "$(id -u)" != 0 ]; then
    [ "${CI:-}" = true ] && { echo "FAIL: needs root"; exit 1; }
    echo "SKIP: needs root"; exit 77
fi
for t in ip nft conntrack python3 ping; do
    command -v $t >/dev/null || { echo "missing tool $t"; [ "${CI:-}" = true ] && exit 1; exit 77; }
done
S=$$
C=fact_c$S; R=fact_r$S; V=fact_s$S
OUT=$(mktemp); ERR=$(mktemp); PID=
# The probe's conntrack state file (the restart case below reads what the first run saved).
FA_CT_PROBE_STATE=$(mktemp -u /tmp/fa_ct_probe.XXXXXX.state); export FA_CT_PROBE_STATE
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    ip netns del $C 2>/dev/null; ip netns del $R 2>/dev/null; ip netns del $V 2>/dev/null
    rm -f "$OUT" "$ERR" "$FA_CT_PROBE_STATE"
}
trap cleanup EXIT
set -e
. "$(dirname "$0")/lib/nat_topo.sh"
nat_topo_up $C $R $V $S fact
set +e
ip netns exec $R "$B/fa_ct_probe" >"$OUT" 2>"$ERR" &
PID=$!
for _ in $(seq 50); do grep -q listening "$ERR" && break; sleep 0.1; done
grep -q listening "$ERR" || { echo "FAIL: probe did not start"; cat "$ERR"; exit 1; }
ip netns exec $C ping -c 5 -s 56 -i 0.2 -q 10.2.0.2 >/dev/null || { echo "FAIL: ping"; exit 1; }
ip netns exec $C python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.1.0.2", 40001))
for _ in range(10): s.sendto(b"x" * 100, ("10.2.0.2", 9999))'
# Flush: DESTROY events with final counters for every entry, immediately (PLATFORM-NOTES §3).
ip netns exec $R conntrack -F 2>/dev/null
want() { # pattern: wait (bounded) for a record line, then require it exactly
    for _ in $(seq 100); do grep -qE "$1" "$OUT" && return 0; sleep 0.1; done
    echo "FAIL: no record matching: $1"; echo "--- got:"; cat "$OUT"; exit 1
}
want '^1 10\.1\.0\.2 0 > 10\.2\.0\.2 2048 post 10\.2\.0\.1 0 > 10\.2\.0\.2 0 pkts 5 bytes 420 reason [13]$'
want '^1 10\.2\.0\.2 0 > 10\.2\.0\.1 0 post 10\.2\.0\.2 0 > 10\.1\.0\.2 0 pkts 5 bytes 420 reason [13]$'
want '^17 10\.1\.0\.2 40001 > 10\.2\.0\.2 9999 post 10\.2\.0\.1 [0-9]+ > 10\.2\.0\.2 9999 pkts 10 bytes 1280 reason [13]$'
if grep -qE '^17 10\.2\.0\.2 9999' "$OUT"; then echo "FAIL: reply record without reply traffic"; exit 1; fi
# Shutdown: a live connection (3 UDP datagrams of 78 IP bytes, 50 payload) is exported with
# forced_end (4) by stop().
ip netns exec $C python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.1.0.2", 40002))
for _ in range(3): s.sendto(b"y" * 50, ("10.2.0.2", 9998))'
kill -TERM "$PID"; wait "$PID"; PID=
want '^17 10\.1\.0\.2 40002 > 10\.2\.0\.2 9998 post 10\.2\.0\.1 [0-9]+ > 10\.2\.0\.2 9998 pkts 3 bytes 234 reason 4$'
# Restart: the next start must not count the 3 datagrams again; only 2 new ones (156 bytes).
: >"$OUT"; : >"$ERR"
ip netns exec $R "$B/fa_ct_probe" >"$OUT" 2>"$ERR" &
PID=$!
for _ in $(seq 50); do grep -q listening "$ERR" && break; sleep 0.1; done
ip netns exec $C python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.1.0.2", 40002))
for _ in range(2): s.sendto(b"y" * 50, ("10.2.0.2", 9998))'
ip netns exec $R conntrack -F 2>/dev/null
want '^17 10\.1\.0\.2 40002 > 10\.2\.0\.2 9998 post 10\.2\.0\.1 [0-9]+ > 10\.2\.0\.2 9998 pkts 2 bytes 156 reason 1$'
kill -TERM "$PID"; wait "$PID"; PID=
# Long-lived connection with active timeout 1 s: 40 datagrams of 128 IP bytes over ~4 s; the
# active-timeout records (reason 2) plus the final one must sum to exactly 40 / 5120.
: >"$OUT"; : >"$ERR"
ip netns exec $R "$B/fa_ct_probe" 0 1 >"$OUT" 2>"$ERR" &
PID=$!
for _ in $(seq 50); do grep -q listening "$ERR" && break; sleep 0.1; done
ip netns exec $C python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.1.0.2", 40003))
for _ in range(40):
    s.sendto(b"z" * 100, ("10.2.0.2", 9997)); time.sleep(0.1)'
ip netns exec $R conntrack -F 2>/dev/null
want '^17 10\.1\.0\.2 40003 .* reason 1$'
sums=$(awk '$2=="10.1.0.2" && $3=="40003" {p+=$14; b+=$16; if ($18==2) a++} END {print p, b, a+0}' "$OUT")
set -- $sums
[ "$1" = 40 ] && [ "$2" = 5120 ] || { echo "FAIL: active-timeout sums $1/$2, want 40/5120"; cat "$OUT"; exit 1; }
[ "$3" -ge 2 ] || { echo "FAIL: only $3 active-timeout records in ~4 s with 1 s timeout"; cat "$OUT"; exit 1; }
echo "PASS: conntrack records exact"; cat "$OUT"
