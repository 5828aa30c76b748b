#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# The agent owns exactly its own programs (issue 10 item 7). Namespaces A and B joined by a
# veth pair (va - vb), agents in B exporting NetFlow v9 to nfcapd in B; every agent of the
# test shares one run directory (the owner locks, <run>/bpf-<ifname>.lock), each with its own
# control socket there.
#  1. Two agents on one interface (xdp through an XDP link; tc through tcx, which would take
#     both): the second exits non-zero saying "interface vb is metered by a running flowagent
#     (pid N)" with the first one's pid, and attaches nothing; the first keeps metering
#     exactly: nfdump's packets and bytes for the test's datagrams equal what was sent.
#  2. SIGKILL then restart, in the four attach modes: through links (XDP link, tcx) nothing is
#     left after the kill; netlink XDP and clsact (FA_BPF_NO_XDP_LINK / FA_BPF_NO_TCX, the
#     paths of older kernels) leave the program, which the restart replaces (logged as stale,
#     its owner dead; exactly one program afterwards, not the old one) and then meters
#     exactly; a clean stop leaves nothing, lock file included.
#  3. An interface deleted and another created with the same ifindex carrying a foreign
#     program (XDP native, or tc filters at our very handle and priority): the agent's stop
#     never detaches it (same program ids before and after), in all four modes.
#  4. A reload after the capability drop (CapEff without CAP_SYS_ADMIN, so no program's name
#     can be read) that meets a stale program of ours on a newly configured interface: it is
#     recognised by its owner record and replaced, and that interface is then metered exactly.
#  5. A non-root start (setpriv to uid 65534): exit non-zero with "not permitted (needs
#     CAP_BPF, CAP_NET_ADMIN)", never "kernel too old".
# Needs root (namespaces, XDP/tc); skipped otherwise, a failure under CI=true.
set -euo pipefail
build=${FA_BUILD_DIR:?}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
require_root
require_tool ip tc python3 nfcapd nfdump ss clang bpftool setpriv
[ -x "$build/flowagent" ] || fa_fail "missing $build/flowagent"

A=fa-owA-$$
B=fa-owB-$$
work="" nf="" port="" ids="" a1="" k1="" k2="" r="" k="" g=""  # set by fa_tmpdir, bg_start, start_agent
fa_tmpdir work
on_exit "ip netns del $A 2>/dev/null"
on_exit "ip netns del $B 2>/dev/null"
. "$here/lib/veth_pair.sh"
veth_pair_up "$A" "$B" || fa_fail "veth pair set-up failed"
in_b() { ip netns exec "$B" "$@"; }
# A second pair for case 4: vd (A, 10.79.0.1) - vc (B, 10.79.0.2).
ip -n "$A" link add vd type veth peer name vc netns "$B"
ip -n "$A" addr add 10.79.0.1/24 dev vd && ip -n "$B" addr add 10.79.0.2/24 dev vc
ip -n "$A" link set vd up && ip -n "$B" link set vc up
run=$work/run
mkdir -p "$run"

# A program that is not ours: XDP and tc sections that pass everything.
cat >"$work/foreign.c" <<'C'
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
__attribute__((section("xdp"), used)) int foreign_xdp(struct xdp_md *ctx) { (void)ctx; return XDP_PASS; }
__attribute__((section("tc"), used)) int foreign_tc(struct __sk_buff *skb) { (void)skb; return TC_ACT_OK; }
char _license[] __attribute__((section("license"), used)) = "GPL";
C
clang -O2 -target bpf -I"/usr/include/$(gcc -dumpmachine 2>/dev/null || uname -m)" \
    -c "$work/foreign.c" -o "$work/foreign.o" || fa_fail "cannot build the foreign program"

ns_nfcapd_start nf port "$B" "$work/nf"

# ini FILE SOURCE "IFACES" NAME: a config whose control socket is <run>/NAME.sock.
ini() {
    cat >"$1.tmp" <<INI
[agent]
source = $2
interfaces = $3
control_socket = $run/$4.sock
[flows]
active_timeout = 60
inactive_timeout = 30
[collector c]
address = 127.0.0.1:$port
protocol = v9
INI
    mv "$1.tmp" "$1"
}

# start_agent VAR LOG INI [ENV...]: the agent in B; returns once it logged "started:".
start_agent() {
    local _v=$1 log=$2 cfg=$3 _p
    shift 3
    bg_start _p ip netns exec "$B" env "$@" "$build/flowagent" -c "$cfg" 2>"$log"
    wait_for 20 "grep -q 'started:' '$log' || ! kill -0 $_p 2>/dev/null" || true
    grep -q 'started:' "$log" || fa_fail "agent did not start: $(cat "$log")"
    printf -v "$_v" '%s' "$_p"
}

# stop_agent PID LOG: SIGTERM, exit 0 required.
stop_agent() {
    local rc=0
    bg_stop "$1" TERM 30 || rc=$?
    [ "$rc" -eq 0 ] || fa_fail "agent exited $rc: $(tail -5 "$2")"
}

# send DST PORT N: N UDP datagrams of 100 bytes (IP total length 128) from A.
send() {
    ip netns exec "$A" python3 - "$1" "$2" "$3" <<'PY'
import socket, sys, time
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[3])):
    u.sendto(b"o" * 100, (sys.argv[1], int(sys.argv[2])))
    if i % 50 == 49: time.sleep(0.01)
PY
}

# exported PORT: "packets bytes" nfcapd stored for UDP to PORT (read at the end, once nfcapd
# has closed its files).
exported() {
    TZ=UTC nfdump_all "$work/nf" -q -N -o 'fmt:%pr|%dp|%pkt|%byt' "proto udp and dst port $1" |
        awk -F'|' '{ p += $3; b += $4 } END { print p + 0, b + 0 }'
}

# expect_exact PORT N WHAT: checked at the very end, when nfcapd has closed its files.
expect=()
expect_exact() { expect+=("$1 $2 $3"); }

xdp_id() {  # xdp_id IFNAME: the XDP program id on IFNAME in B, 0 when none
    in_b ip -j -d link show dev "$1" | python3 -c '
import json, sys
l = json.load(sys.stdin)[0]
x = l.get("xdp", {})
print(x.get("prog", {}).get("id", 0) or max([p.get("prog", {}).get("id", 0) for p in x.get("attached", [])] or [0]))'
}
tc_ids() {  # tc_ids IFNAME DIR: the ids of the tc bpf filters on IFNAME DIR, one per line
    in_b tc filter show dev "$1" "$2" 2>/dev/null | sed -n 's/.* id \([0-9]*\).*/\1/p'
}
# The ids of the programs the agent attached to IFNAME (its owner record, "... ids IN EG").
lock_ids() { sed -n 's/.* ids \([0-9]*\) \([0-9]*\)$/\1 \2/p' "$run/bpf-$1.lock"; }
# links_of IDS...: how many BPF links on the machine hold one of these programs (other tests
# may hold links of their own at the same time).
links_of() {
    python3 - "$@" <<'PY'
import json, subprocess, sys
ids = {int(x) for x in sys.argv[1:] if int(x)}
links = json.loads(subprocess.run(["bpftool", "-j", "link", "show"], capture_output=True,
                                  text=True, check=True).stdout or "[]")
print(sum(1 for l in links if l.get("prog_id") in ids))
PY
}
# nothing_left IFNAME WHAT IDS: no XDP program or tc filter on IFNAME, no link holding one of
# the agent's programs IDS, no lock file.
nothing_left() {
    local ids=$3
    [ "$(xdp_id "$1")" -eq 0 ] || fa_fail "$2: XDP program left on $1"
    [ -z "$(tc_ids "$1" ingress)$(tc_ids "$1" egress)" ] || fa_fail "$2: tc filter left on $1"
    # A link the agent closed may still be listed for a moment (freed after an RCU grace).
    # shellcheck disable=SC2086 # ids: a list
    wait_for 5 "[ \$(links_of $ids) -eq 0 ]" || fa_fail "$2: a BPF link of ours left ($ids)"
    [ ! -e "$run/bpf-$1.lock" ] || fa_fail "$2: lock file left: $(cat "$run/bpf-$1.lock")"
}

# mode_env MODE: sets src (the [agent] source) and env (the agent's environment) for the attach
# modes xdp (XDP link), xdp-netlink, tcx and clsact.
src="" env=()
mode_env() {
    src=xdp env=()
    case $1 in
        xdp-netlink) env=(FA_BPF_NO_XDP_LINK=1) ;;
        tcx) src=tc ;;
        clsact) src=tc env=(FA_BPF_NO_TCX=1) ;;
    esac
}

# --- 1. two agents on one interface -------------------------------------------------------
p=9700
for src in xdp tc; do
    d=$work/two-$src
    mkdir -p "$d"
    ini "$d/a1.ini" "$src" vb "two-$src-1"
    ini "$d/a2.ini" "$src" vb "two-$src-2"
    start_agent a1 "$d/a1.log" "$d/a1.ini"
    ids=$(lock_ids vb)
    rc=0
    timeout 30 ip netns exec "$B" "$build/flowagent" -c "$d/a2.ini" 2>"$d/a2.log" || rc=$?
    [ "$rc" -ne 0 ] || fa_fail "two/$src: the second agent started: $(cat "$d/a2.log")"
    grep -q "interface vb is metered by a running flowagent (pid $a1)" "$d/a2.log" \
        || fa_fail "two/$src: no clear refusal naming pid $a1: $(cat "$d/a2.log")"
    grep -q "attached to vb" "$d/a2.log" && fa_fail "two/$src: the second agent attached"
    if [ "$src" = xdp ]; then
        in_b ip link set dev vb xdp off 2>/dev/null \
            && fa_fail "two/xdp: someone else detached our XDP link"
    fi
    send 10.77.0.2 "$p" 400
    stop_agent "$a1" "$d/a1.log"
    expect_exact "$p" 400 "two agents ($src): the first keeps metering"
    nothing_left vb "two/$src" "$ids"
    fa_log "two agents ($src): second refused (pid $a1 named, exit $rc)"
    p=$((p + 1))
done

# --- 2. SIGKILL then restart ----------------------------------------------------------------
for mode in xdp xdp-netlink tcx clsact; do
    d=$work/kill-$mode
    mkdir -p "$d"
    mode_env "$mode"
    ini "$d/k.ini" "$src" vb "kill-$mode"
    start_agent k1 "$d/k1.log" "$d/k.ini" "${env[@]}"
    ids=$(lock_ids vb)
    old_x=$(xdp_id vb) old_t=$(tc_ids vb ingress)
    kill -KILL "$k1"
    wait "$k1" 2>/dev/null || true
    grep -q "flowagent pid $k1 " "$run/bpf-vb.lock" || fa_fail "kill/$mode: no owner record"
    case $mode in
        xdp | tcx)  # the kernel frees a link after the process's files are closed
            # shellcheck disable=SC2086 # ids: a list
            wait_for 5 "[ \$(xdp_id vb) -eq 0 ] && [ \$(links_of $ids) -eq 0 ]" \
                || fa_fail "kill/$mode: a linked program outlived SIGKILL" ;;
        xdp-netlink) [ "$old_x" -ne 0 ] && [ "$(xdp_id vb)" -eq "$old_x" ] \
            || fa_fail "kill/$mode: expected the stale XDP program $old_x" ;;
        clsact) [ -n "$old_t" ] && [ "$(tc_ids vb ingress)" = "$old_t" ] \
            || fa_fail "kill/$mode: expected the stale tc filter $old_t" ;;
    esac
    start_agent k2 "$d/k2.log" "$d/k.ini" "${env[@]}"
    ids="$ids $(lock_ids vb)"
    case $mode in
        xdp | tcx)
            grep -q stale "$d/k2.log" && fa_fail "kill/$mode: $(grep stale "$d/k2.log")" ;;
        xdp-netlink)
            grep -q "replacing stale fa_xdp (id $old_x) on vb left by an earlier run (its owner is no longer running)" "$d/k2.log" \
                || fa_fail "kill/$mode: stale program not replaced: $(cat "$d/k2.log")"
            new=$(xdp_id vb)
            [ "$new" -ne 0 ] && [ "$new" -ne "$old_x" ] || fa_fail "kill/$mode: XDP id $new" ;;
        clsact)
            grep -q "replacing stale fa_tc_in (id $old_t) on vb ingress left by an earlier run (its owner is no longer running)" "$d/k2.log" \
                || fa_fail "kill/$mode: stale filter not replaced: $(cat "$d/k2.log")"
            for dir in ingress egress; do
                [ "$(tc_ids vb "$dir" | wc -l)" -eq 1 ] || fa_fail "kill/$mode: $dir filters: $(tc_ids vb "$dir")"
            done
            [ "$(tc_ids vb ingress)" != "$old_t" ] || fa_fail "kill/$mode: the old filter stayed" ;;
    esac
    send 10.77.0.2 "$p" 300
    stop_agent "$k2" "$d/k2.log"
    expect_exact "$p" 300 "SIGKILL + restart ($mode)"
    nothing_left vb "kill/$mode" "$ids"
    fa_log "SIGKILL + restart ($mode): ok"
    p=$((p + 1))
done

# --- 3. ifindex reused by another interface carrying a foreign program ---------------------
for mode in xdp xdp-netlink tcx clsact; do
    d=$work/reuse-$mode
    mkdir -p "$d"
    mode_env "$mode"
    in_b ip link add vx type veth peer name vy
    in_b ip link set vx up && in_b ip link set vy up
    ini "$d/r.ini" "$src" "vb vx" "reuse-$mode"
    start_agent r "$d/r.log" "$d/r.ini" "${env[@]}"
    ids="$(lock_ids vb) $(lock_ids vx)"
    grep -q "attached to vx" "$d/r.log" || fa_fail "reuse/$mode: vx not attached: $(cat "$d/r.log")"
    idx=$(in_b ip -o link show vx | cut -d: -f1)
    in_b ip link del vx
    in_b ip link add vz index "$idx" type veth peer name vw
    in_b ip link set vz up && in_b ip link set vw up
    if [ "$src" = xdp ]; then
        in_b ip link set dev vz xdpdrv obj "$work/foreign.o" sec xdp
        fx=$(xdp_id vz)
        [ "$fx" -ne 0 ] || fa_fail "reuse/$mode: foreign XDP program not attached"
    else
        in_b tc qdisc add dev vz clsact
        for dir in ingress egress; do
            in_b tc filter add dev vz "$dir" prio 250 handle 0xfa bpf obj "$work/foreign.o" sec tc da
        done
        fx="$(tc_ids vz ingress) $(tc_ids vz egress)"
    fi
    stop_agent "$r" "$d/r.log"
    if [ "$src" = xdp ]; then
        [ "$(xdp_id vz)" = "$fx" ] || fa_fail "reuse/$mode: the foreign XDP program $fx was detached ($(xdp_id vz))"
    else
        [ "$(tc_ids vz ingress) $(tc_ids vz egress)" = "$fx" ] \
            || fa_fail "reuse/$mode: foreign tc filters $fx became '$(tc_ids vz ingress) $(tc_ids vz egress)'"
    fi
    nothing_left vb "reuse/$mode" "$ids"
    in_b ip link del vz
    fa_log "ifindex $idx reused by vz with a foreign program ($mode): left in place ($fx)"
done

# --- 4. reload after the capability drop meets a stale program of ours --------------------
for mode in xdp-netlink clsact; do
    d=$work/drop-$mode
    mkdir -p "$d"
    mode_env "$mode"
    ini "$d/k.ini" "$src" vc "drop-$mode-k"
    start_agent k "$d/k.log" "$d/k.ini" "${env[@]}"
    if [ "$src" = xdp ]; then old=$(xdp_id vc); else old=$(tc_ids vc ingress); fi
    kill -KILL "$k"
    wait "$k" 2>/dev/null || true
    ini "$d/g.ini" "$src" vb "drop-$mode"
    start_agent g "$d/g.log" "$d/g.ini" "${env[@]}"
    ids=$(lock_ids vb)
    cap=$(sed -n 's/^CapEff:\t//p' "/proc/$g/status")
    [ $(( (16#$cap >> 21) & 1 )) -eq 0 ] || fa_fail "drop/$mode: CAP_SYS_ADMIN still effective ($cap)"
    ini "$d/g.ini" "$src" "vb vc" "drop-$mode"
    kill -HUP "$g"
    wait_for 20 "[ \$(grep -c 'started:' '$d/g.log') -ge 2 ] || ! kill -0 $g 2>/dev/null" || true
    kill -0 "$g" 2>/dev/null || fa_fail "drop/$mode: the agent exited: $(tail -5 "$d/g.log")"
    [ "$(grep -c 'started:' "$d/g.log")" -ge 2 ] || fa_fail "drop/$mode: reload: $(tail -5 "$d/g.log")"
    want="replacing stale program (id $old) on vc left by an earlier run (its owner is no longer running)"
    [ "$src" = tc ] && want="replacing stale program (id $old) on vc ingress left by an earlier run (its owner is no longer running)"
    grep -q "$want" "$d/g.log" || fa_fail "drop/$mode: no '$want': $(grep bpf "$d/g.log")"
    ids="$ids $(lock_ids vb) $(lock_ids vc)"
    send 10.79.0.2 "$p" 250
    stop_agent "$g" "$d/g.log"
    expect_exact "$p" 250 "reload after the capability drop ($mode, stale program on vc)"
    nothing_left vc "drop/$mode" "$ids"
    nothing_left vb "drop/$mode" "$ids"
    fa_log "reload after the capability drop ($mode, CapEff $cap): stale $old replaced"
    p=$((p + 1))
done

# --- 5. non-root start -------------------------------------------------------------------
chmod 711 "$work"
mkdir -m 755 "$work/nr"
for src in xdp tc; do
    ini "$work/nr/$src.ini" "$src" vb "nr-$src"
    chmod 644 "$work/nr/$src.ini"
    rc=0
    timeout 30 ip netns exec "$B" setpriv --reuid=65534 --regid=65534 --clear-groups \
        "$build/flowagent" -c "$work/nr/$src.ini" 2>"$work/nr/$src.log" || rc=$?
    [ "$rc" -ne 0 ] || fa_fail "non-root ($src): started"
    grep -q "not permitted (needs CAP_BPF, CAP_NET_ADMIN)" "$work/nr/$src.log" \
        || fa_fail "non-root ($src): $(cat "$work/nr/$src.log")"
    grep -qi "too old" "$work/nr/$src.log" && fa_fail "non-root ($src): says too old"
    fa_log "non-root ($src): exit $rc, $(grep -o 'not permitted ([^)]*)' "$work/nr/$src.log" | head -1)"
done
nothing_left vb "non-root" ""

# --- the exported totals --------------------------------------------------------------------
wait_for 10 "in_b ss -Hlun 'sport = :$port' | awk '{ s += \$2 } END { exit s != 0 }'" || true
bg_stop "$nf" TERM 10 || true
for e in "${expect[@]}"; do
    read -r ep en what <<<"$e"
    got=$(exported "$ep")
    [ "$got" = "$en $((en * 128))" ] || fa_fail "$what: nfdump has '$got' (packets bytes), sent $en x 128 B"
    fa_log "$what: nfdump $got = sent"
done
echo PASS
