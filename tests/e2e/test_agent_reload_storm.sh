#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# Reload without loss (issue 12 item 1): 20 SIGHUPs in about 2 s while 2,000 UDP packets cross
# the metered interface at 1,000 packets/s (veth pair, xdp and then tc). Every fourth reload
# changes the config: the active and inactive timeouts, a collector's template refresh, the log
# level, a second collector added and removed again; none of them the source, its interfaces,
# [flows] max_flows/full_policy or [sampling], so each is applied in place (the flow table,
# the attached programs and their maps stay). Checked in nfdump (NetFlow v9, nfcapd in B): the
# packets and bytes of the 2,000 (UDP to port 9400) equal what was sent, or the difference
# equals the drop counters the agent exported (its `dropped:` line at the stop); no v9 sequence
# failure; each reload logged as applied in place.
# Needs root (namespaces, XDP/tc); skipped otherwise, a failure under CI=true.
set -euo pipefail
build=${FA_BUILD_DIR:?}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
require_root
require_tool ip python3 nfcapd nfdump ss
[ -x "$build/flowagent" ] || fa_fail "missing $build/flowagent"

A=fa-rsA-$$
B=fa-rsB-$$
work="" agent="" nf="" sender=""  # set by fa_tmpdir and bg_start below
fa_tmpdir work
on_exit "ip netns del $A 2>/dev/null"
on_exit "ip netns del $B 2>/dev/null"
. "$here/lib/veth_pair.sh"
. "$here/lib/reload_traffic.sh"
veth_pair_up "$A" "$B" || fa_fail "veth pair set-up failed"
ip netns exec "$A" sysctl -qw net.ipv6.conf.va.disable_ipv6=1
ip netns exec "$B" sysctl -qw net.ipv6.conf.vb.disable_ipv6=1
in_b() { ip netns exec "$B" "$@"; }
port=4755
port2=4756

# ini SOURCE VARIANT: the agent's config; variants differ only in what a reload applies in
# place.
ini() {
    local src=$1 v=$2 active=60 inactive=30 refresh=0 level=info
    case $((v % 4)) in
        1) active=45; inactive=20; refresh=300 ;;
        2) level=debug ;;
        3) active=50 ;;
    esac
    cat >"$work/agent.ini.tmp" <<INI
[agent]
source = $src
interfaces = vb
log_level = $level
[flows]
active_timeout = $active
inactive_timeout = $inactive
[collector c]
address = 127.0.0.1:$port
protocol = v9
template_refresh = $refresh
INI
    if [ $((v % 4)) -eq 2 ]; then
        printf '[collector extra]\naddress = 127.0.0.1:%s\nprotocol = ipfix\n' "$port2" \
            >>"$work/agent.ini.tmp"
    fi
    mv "$work/agent.ini.tmp" "$work/agent.ini"
}

run_case() {
    local src=$1 dir=$work/$1 k reloads rc=0
    mkdir -p "$dir/nf"
    bg_start nf ip netns exec "$B" nfcapd -4 -w "$dir/nf" -p "$port" -b 127.0.0.1 \
        >"$dir/nfcapd.log" 2>&1
    wait_for 10 "in_b ss -Hlun 'sport = :$port' | grep -q ." || fa_fail "$src: nfcapd did not bind"
    ini "$src" 0
    bg_start agent ip netns exec "$B" "$build/flowagent" -c "$work/agent.ini" 2>"$dir/agent.err"
    wait_for 20 "grep -q 'started:' '$dir/agent.err'" \
        || fa_fail "$src: agent did not start: $(cat "$dir/agent.err")"
    reload_traffic_start sender "$A"
    reloads() { grep -c 'reload: applying' "$dir/agent.err" 2>/dev/null || true; }
    for k in $(seq 1 20); do
        sleep 0.1
        [ $((k % 4)) -eq 0 ] && ini "$src" "$((k / 4))"
        kill -HUP "$agent"
        wait_for 5 "[ \$(reloads) -ge $k ]" \
            || fa_fail "$src: reload $k not applied in place: $(tail -5 "$dir/agent.err")"
    done
    wait "$sender" || fa_fail "$src: the sender failed"
    bg_stop "$agent" TERM 30 || rc=$?
    [ "$rc" -eq 0 ] || fa_fail "$src: agent exited $rc: $(tail -5 "$dir/agent.err")"
    wait_for 10 "in_b ss -Hlun 'sport = :$port' | awk '{ s += \$2 } END { exit s != 0 }'" || true
    bg_stop "$nf" TERM 10 || true
    reloads=$(reloads)
    reload_traffic_check "$src" "$dir/nf" "$dir/agent.err" "$reloads reloads in place"
    [ "$reloads" -eq 20 ] || fa_fail "$src: $reloads reloads applied in place, want 20"
}

run_case xdp
run_case tc
fa_log "all cases passed"
