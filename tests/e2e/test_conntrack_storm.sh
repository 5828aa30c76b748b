#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Event storm larger than the socket buffer: 50,000 one-packet UDP connections through a
# masquerading router, then a flush (50,000 DESTROY events at once; ~1.28 KB of socket buffer
# each, PLATFORM-NOTES §3, i.e. ~64 MB, far above the listener's buffer). Nothing may be lost:
# the probe's records must total exactly 50,000 packets and 6,400,000 bytes (128 IP bytes each).
set -u
B=${FA_BUILD_DIR:-build}
N=${FA_STORM_N:-50000}
if [ "$(id -u)" != 0 ]; then
    [ "${CI:-}" = true ] && { echo "FAIL: needs root"; exit 1; }
    echo "SKIP: needs root"; exit 77
fi
for t in ip nft conntrack python3; do
    command -v $t >/dev/null || { echo "missing tool $t"; [ "${CI:-}" = true ] && exit 1; exit 77; }
done
S=$$
C=facs_c$S; R=facs_r$S; V=facs_s$S
OUT=$(mktemp); ERR=$(mktemp); PID=
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    ip netns del $C 2>/dev/null; ip netns del $R 2>/dev/null; ip netns del $V 2>/dev/null
    rm -f "$OUT" "$ERR"
}
trap cleanup EXIT
set -e
. "$(dirname "$0")/lib/nat_topo.sh"
nat_topo_up $C $R $V $S facs
# The server drops the datagrams silently (no ICMP unreachable that would add reply packets).
ip netns exec $V nft -f - <<'NFT'
table ip facsdrop { chain cin { type filter hook input priority 0; meta l4proto udp drop; }; }
NFT
set +e
# Slow reader: the probe stalls 3 s at the first event, so the DESTROY burst overflows the
# socket buffer (ENOBUFS) and must be recovered.
STALL=${FA_STORM_STALL_MS:-3000}
ip netns exec $R "$B/fa_ct_probe" 0 60 "$STALL" >"$OUT" 2>"$ERR" &
PID=$!
for _ in $(seq 50); do grep -q listening "$ERR" && break; sleep 0.1; done
ip netns exec $C python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('10.1.0.2', 40000))
for p in range(1, $N + 1): s.sendto(b'x' * 100, ('10.2.0.2', p))"
live=$(ip netns exec $R conntrack -C)
[ "$live" -ge "$N" ] || { echo "FAIL: only $live conntrack entries for $N flows"; exit 1; }
ip netns exec $R conntrack -F 2>/dev/null
# Wait until the totals reach N (bounded: 60 s), then let the probe finish.
for _ in $(seq 600); do
    got=$(awk '$2=="10.1.0.2" {p+=$14} END {print p+0}' "$OUT")
    [ "$got" -ge "$N" ] && break
    sleep 0.1
done
kill -TERM "$PID"; wait "$PID"; PID=
read -r p b <<<"$(awk '$2=="10.1.0.2" {p+=$14; b+=$16} END {print p+0, b+0}' "$OUT")"
cat "$ERR"
echo "records: $(wc -l <"$OUT") packets $p bytes $b"
lost=$(sed -n 's/.*lost_events \([0-9]*\).*/\1/p' "$ERR")
[ "${lost:-0}" -ge 1 ] || [ "$STALL" = 0 ] || { echo "FAIL: no ENOBUFS: the test did not exercise recovery"; exit 1; }
[ "$p" = "$N" ] && [ "$b" = "$((N * 128))" ] || { echo "FAIL: want $N packets $((N * 128)) bytes"; exit 1; }
echo "PASS: storm of $N connections, nothing lost"
