#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# Reload that changes the datapath, without loss (issue 12 item 1): 20 reloads in about 2 s
# while 2,000 UDP packets cross the metered interface vb at 1,000 packets/s (veth pair, xdp,
# then tc on tcx links, then tc on clsact); 19 by SIGHUP, the 10th by `flowagent reload`, whose
# answer must say that the datapath was handed over. The config cycles through four variants,
# so that 15 of the 20 reloads must change the datapath ([flows] max_flows 65536 -> 32768; a
# second interface vc (a veth inside B) added; vc removed and max_flows back) and 5 are applied
# in place (timeouts only). On a datapath change the new programs replace the old ones
# atomically on vb and the old maps are drained into the old table, which is flushed as
# records. Checked in nfdump (NetFlow v9, nfcapd in B): the packets and bytes of the 2,000
# (UDP to port 9400) equal what was sent, or the difference equals the drop counters the agent
# exported (the sum of its `dropped:` lines, one per runtime); no v9 sequence failure; the log
# says 15 times that the datapath was handed over without a gap (in the attach mode of the
# case) and 5 times that the reload was applied in place; vc is detached. Then the fallback
# when the replacement is refused (our XDP program removed from vb by someone else).
# Needs root (namespaces, XDP/tc); skipped otherwise, a failure under CI=true.
set -euo pipefail
build=${FA_BUILD_DIR:?}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
require_root
require_tool ip python3 nfcapd nfdump ss
[ -x "$build/flowagent" ] || fa_fail "missing $build/flowagent"

A=fa-rdA-$$
B=fa-rdB-$$
work="" agent="" nf="" sender=""  # set by fa_tmpdir and bg_start below
fa_tmpdir work
on_exit "ip netns del $A 2>/dev/null"
on_exit "ip netns del $B 2>/dev/null"
. "$here/lib/veth_pair.sh"
. "$here/lib/reload_traffic.sh"
veth_pair_up "$A" "$B" || fa_fail "veth pair set-up failed"
ip netns exec "$A" sysctl -qw net.ipv6.conf.va.disable_ipv6=1
ip netns exec "$B" sysctl -qw net.ipv6.conf.vb.disable_ipv6=1
ip netns exec "$B" ip link add vc type veth peer name vd
ip netns exec "$B" ip link set vc up && ip netns exec "$B" ip link set vd up
in_b() { ip netns exec "$B" "$@"; }
port=4757

# ini SOURCE VARIANT: 0 base; 1 max_flows 32768; 2 and interface vc; 3 base with other
# timeouts (0 -> 1 -> 2 -> 3 change the datapath, 3 -> 0 applies in place).
ini() {
    local src=$1 v=$2 ifs=vb max=65536 active=60
    case $v in
        1) max=32768 ;;
        2) max=32768; ifs="vb vc" ;;
        3) active=45 ;;
    esac
    cat >"$work/agent.ini.tmp" <<INI
[agent]
source = $src
interfaces = $ifs
control_socket = $work/control.sock
[flows]
max_flows = $max
active_timeout = $active
[collector c]
address = 127.0.0.1:$port
protocol = v9
INI
    mv "$work/agent.ini.tmp" "$work/agent.ini"
}

# run_case NAME SOURCE [ENV...]: ENV for the agent (FA_BPF_NO_TCX=1: clsact instead of tcx).
run_case() {
    local name=$1 src=$2 dir=$work/$1 k rc=0 out
    shift 2
    mkdir -p "$dir/nf"
    bg_start nf ip netns exec "$B" nfcapd -4 -w "$dir/nf" -p "$port" -b 127.0.0.1 \
        >"$dir/nfcapd.log" 2>&1
    wait_for 10 "in_b ss -Hlun 'sport = :$port' | grep -q ." || fa_fail "$name: nfcapd did not bind"
    ini "$src" 0
    bg_start agent ip netns exec "$B" env "$@" "$build/flowagent" -c "$work/agent.ini" 2>"$dir/agent.err"
    wait_for 20 "grep -q 'started:' '$dir/agent.err'" \
        || fa_fail "$name: agent did not start: $(cat "$dir/agent.err")"
    reload_traffic_start sender "$A"
    started() { grep -c 'started:' "$dir/agent.err" 2>/dev/null || true; }
    for k in $(seq 1 20); do
        sleep 0.1
        ini "$src" "$((k % 4))"
        if [ "$k" -eq 10 ]; then  # through `flowagent reload`: its answer says how
            out=$("$build/flowagent" reload --json --socket "$work/control.sock") ||
                fa_fail "$name: flowagent reload failed: $out"
            [ "$out" = "{\"reload\":\"applied\",\"how\":\"handed_over\",\"config\":\"$work/agent.ini\"}" ] ||
                fa_fail "$name: flowagent reload answered: $out"
        else
            kill -HUP "$agent"
        fi
        wait_for 10 "[ \$(started) -ge $((k + 1)) ]" \
            || fa_fail "$name: reload $k did not finish: $(tail -5 "$dir/agent.err")"
    done
    wait "$sender" || fa_fail "$name: the sender failed"
    bg_stop "$agent" TERM 30 || rc=$?
    [ "$rc" -eq 0 ] || fa_fail "$name: agent exited $rc: $(tail -5 "$dir/agent.err")"
    wait_for 10 "in_b ss -Hlun 'sport = :$port' | awk '{ s += \$2 } END { exit s != 0 }'" || true
    bg_stop "$nf" TERM 10 || true
    local handed inplace
    handed=$(grep -c 'handed over without a gap' "$dir/agent.err" || true)
    inplace=$(grep -c 'reload: applying' "$dir/agent.err" || true)
    reload_traffic_check "$name" "$dir/nf" "$dir/agent.err" \
        "$handed reloads handed the datapath over, $inplace in place"
    [ "$handed" -eq 15 ] || fa_fail "$name: $handed datapath handovers, want 15: $(grep 'reload' "$dir/agent.err" | tail -3)"
    [ "$inplace" -eq 5 ] || fa_fail "$name: $inplace reloads in place, want 5"
    # The attach mode the replacement went through: xdp-native/xdp-generic, tcx or clsact.
    grep -q "bpf: program on vb replaced in place (${name/xdp/xdp-}" "$dir/agent.err" \
        || fa_fail "$name: no in-place replacement ($name) logged for vb"
    grep -q "bpf: detached from vc" "$dir/agent.err" || fa_fail "$name: vc never detached"
}

run_case xdp xdp
run_case tcx tc
run_case clsact tc FA_BPF_NO_TCX=1

# The fallback: someone else detached our XDP program from vb, so the atomic replacement (which
# names our old program) is refused (possible only without XDP links, FA_BPF_NO_XDP_LINK: a
# link cannot be detached by anyone else, e2e.bpf_ownership); the reload must still apply the
# new config by stopping and starting (logged with a warning that packets in between are not
# counted), and meter vb again.
fallback_case() {
    local dir=$work/fallback
    mkdir -p "$dir"
    ini xdp 0
    bg_start agent ip netns exec "$B" env FA_BPF_NO_XDP_LINK=1 "$build/flowagent" \
        -c "$work/agent.ini" 2>"$dir/agent.err"
    wait_for 20 "grep -q 'started:' '$dir/agent.err'" \
        || fa_fail "fallback: agent did not start: $(cat "$dir/agent.err")"
    in_b ip link set dev vb xdp off
    ini xdp 1
    kill -HUP "$agent"
    wait_for 10 "[ \$(grep -c 'started:' '$dir/agent.err') -ge 2 ]" \
        || fa_fail "fallback: reload did not finish: $(tail -5 "$dir/agent.err")"
    grep -q "handing the datapath over failed" "$dir/agent.err" \
        || fa_fail "fallback: no warning: $(grep reload "$dir/agent.err")"
    grep -q "handed over without a gap" "$dir/agent.err" && fa_fail "fallback: claims a handover"
    in_b ip link show dev vb | grep -q "prog/xdp" || fa_fail "fallback: vb not metered again"
    kill -0 "$agent" || fa_fail "fallback: the agent exited: $(tail -5 "$dir/agent.err")"
    bg_stop "$agent" TERM 30 || fa_fail "fallback: agent exit status $?"
    fa_log "fallback: replacement refused, config applied by stop and start, vb metered again"
}
fallback_case
fa_log "all cases passed"
