# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-only
# Helpers for the tests that drive lib/ct_long_peer.py's long-lived connections through the router
# of lib/nat_topo.sh (sourced after it; uses in_r).
#   ct_ctr PROTO SPORT DPORT  "orig_packets orig_bytes reply_packets reply_bytes" of the
#                             connection, from conntrack -L -o extended
#   ct_counters PORT          the UDP (PORT -> 9999) then TCP (PORT + 9 -> 8080) counters: 8 numbers
#   ct_settled PORT           the same once two reads 0.5 s apart agree (a delayed ACK may still
#                             be on its way after the last echo arrived)
#   ct_send OUTFILE N         has the client (commands on fd $CMD_FD, output in OUTFILE) send N
#                             datagrams and N TCP chunks and waits until all were echoed
ct_ctr() {
    in_r conntrack -L -o extended -p "$1" --sport "$2" --dport "$3" 2>/dev/null |
        sed -n 's/.*packets=\([0-9]*\) bytes=\([0-9]*\).*packets=\([0-9]*\) bytes=\([0-9]*\).*/\1 \2 \3 \4/p'
}
ct_counters() { echo "$(ct_ctr udp "$1" 9999) $(ct_ctr tcp $(($1 + 9)) 8080)"; }
ct_settled() {
    local a b
    b=$(ct_counters "$1")
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        sleep 0.5
        a=$b
        b=$(ct_counters "$1")
        [ "$a" = "$b" ] && break
    done
    echo "$b"
}
ct_send() {
    local n_done
    n_done=$(grep -c "^sent" "$1" || true)
    echo "send $2" >&"$CMD_FD"
    wait_for 20 "[ \$(grep -c '^sent' '$1') -gt $n_done ]" || fa_fail "the client did not send $2"
}
