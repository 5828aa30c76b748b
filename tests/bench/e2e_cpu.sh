#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# End-to-end CPU benchmark (issue 3, "Benchmarks"; a benchmark, not a test: not in ctest).
# Usage (root): tests/bench/e2e_cpu.sh [BUILD_DIR]      (default: build)
#
# Two namespaces A and B joined by one veth pair (tests/e2e/lib/veth_pair.sh). A replays the
# same traffic in every run with build/fa_paced_send: FLOWS IPv4/UDP flows round robin (TRAIN
# frames of one flow in a row; 1, the default, makes every frame another flow's, the worst case
# for any per-flow cache), RATE frames per second for SECONDS, FRAME bytes each, as raw frames
# on va (AF_PACKET, sendmmsg).
# B receives them on vb and drops them after the route lookup (destinations 10.99.0.0/16 are
# not local and B does not forward), so no reply or ICMP goes back. Configurations, each with
# an nfcapd in B on 127.0.0.1 as the collector:
#   none       no probe (the baseline: sender + receive path + an idle nfcapd)
#   xdp, tc    build/flowagent, source = xdp | tc on vb, IPFIX | NetFlow v9
#   xdp-empty, tc-empty
#              an empty program (return XDP_PASS / TC_ACT_UNSPEC) on the same hook as flowagent
#              (native XDP; a tcx ingress link), attached by build/fa_hook: what the hook
#              itself costs, whoever is in it. On veth, any XDP program moves the receive path
#              to veth's NAPI poll, which copies every skb with less than 256 bytes of headroom
#              (all of these) into a fresh page: xdp-empty shows that cost.
#   tc-plain   a straightforward tc meter (the same parser, one BPF_MAP_TYPE_HASH lookup with
#              atomic adds, or an insert; bench_baseline.bpf.c) on a tcx ingress link.
#   softflowd  softflowd -i vb, NetFlow v9 (Debian package)
#   pmacctd    pmacctd on vb with the nfprobe plugin, NetFlow v9 (if installed)
# FA_BENCH_PATH=frames changes how the frames reach vb (default "skb", as above): A's va is
# paired with ra in a third namespace R, whose XDP program (fa_bench_redirect) redirects every
# frame to rb, vb's peer, so vb receives XDP frames into its NAPI poll (GRO is turned on for vb,
# which that needs when vb has no XDP program of its own). That is how a NIC driver hands
# frames to native XDP: the program runs before any socket buffer exists, and veth has no skb to
# copy. On the default path, a native XDP program on vb makes veth copy every frame (see
# xdp-empty), which NIC drivers do not. The path is the same for every configuration,
# "none" included; the redirect's cost is part of the baseline.
# The configurations run interleaved (none xdp tc softflowd pmacctd, REPEAT times), so slow
# changes in the load of this shared machine touch all of them alike. Each run measures over a
# window from just before the first frame to TAIL seconds after vb received the last one (the
# tail takes in deferred work: the agent's drain, softflowd reading its capture buffer):
#   system  system-wide busy CPU time, all CPUs: wall time x CPUs minus idle and iowait from
#           /proc/stat (so user, nice, system, irq, softirq and steal; see sys_busy_ns for why
#           not their sum). This is the issue's measure; it includes whatever else runs on the
#           machine at the time.
#   own     the CPU time of the processes this script starts (sender, probe, nfcapd; from a
#           cpuacct / cgroup v2 group, scheduler-exact) plus the ksoftirqd threads. With
#           tick accounting (no CONFIG_IRQ_TIME_ACCOUNTING) the receive path that runs in
#           softirq inside the sender's sendmmsg is charged to the sender, so this covers the
#           kernel's share too, without the other jobs' noise. "n/a" without a cgroup.
# For each probe it prints min and median of both, the CPU seconds above the no-probe run per
# million packets, and the ratio flowagent / softflowd. For flowagent it checks zero loss:
# packets exported (summed by nfdump from nfcapd's files) = frames sent = frames vb received.
#
# Settings (environment): FA_BENCH_RATE (200000 frames/s), FA_BENCH_SECONDS (10),
# FA_BENCH_FLOWS (1000), FA_BENCH_FRAME (64 bytes without FCS), FA_BENCH_TRAIN (1),
# FA_BENCH_REPEAT (3),
# FA_BENCH_BPF_STATS=1 (also print, per run, the average run time of the BPF programs named
# fa_* in the kernel's own accounting, kernel.bpf_stats_enabled: the program alone, without the
# hook around it; the accounting itself costs two clock reads per run, so leave it off when
# comparing CPU time with softflowd), FA_BENCH_TAIL (1 s), FA_BENCH_CONFIGS ("none xdp tc softflowd pmacctd"; "none" is always
# run), FA_BENCH_KEEP=1 keeps the work directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
export FA_E2E_NAME=e2e_cpu
# shellcheck source=tests/e2e/lib/common.sh
. "$root/tests/e2e/lib/common.sh"
# shellcheck source=tests/e2e/lib/veth_pair.sh
. "$root/tests/e2e/lib/veth_pair.sh"
require_root
require_tool ip nfcapd nfdump python3 ss
for f in flowagent fa_paced_send fa_hook; do
    [ -x "$build/$f" ] || fa_fail "missing $build/$f (build it: cmake --build $build)"
done

rate=${FA_BENCH_RATE:-200000}
seconds=${FA_BENCH_SECONDS:-10}
flows=${FA_BENCH_FLOWS:-1000}
frame=${FA_BENCH_FRAME:-64}
train=${FA_BENCH_TRAIN:-1}
repeat=${FA_BENCH_REPEAT:-3}
tail_s=${FA_BENCH_TAIL:-1}
configs=${FA_BENCH_CONFIGS:-none xdp tc softflowd pmacctd}
for v in rate seconds flows frame train repeat; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || fa_fail "FA_BENCH_${v^^} = '${!v}': expected a positive integer"
done
packets=$((rate * seconds))
list="none"
for c in $configs; do
    case $c in
        none) ;;
        xdp | tc | xdp-empty | tc-empty | tc-plain) list+=" $c" ;;
        softflowd | pmacctd)
            if command -v "$c" >/dev/null 2>&1; then list+=" $c"; else fa_log "skipping $c: not installed"; fi ;;
        *) fa_fail "FA_BENCH_CONFIGS: unknown configuration '$c' (none xdp tc xdp-empty tc-empty tc-plain softflowd pmacctd)" ;;
    esac
done

A=fa-benchA-$$
B=fa-benchB-$$
work=""
if [ "${FA_BENCH_KEEP:-0}" = 1 ]; then
    work=$(mktemp -d "${TMPDIR:-/tmp}/fa-bench.XXXXXX")
    fa_log "keeping $work"
else
    fa_tmpdir work
fi
on_exit "ip netns del $A 2>/dev/null"
on_exit "ip netns del $B 2>/dev/null"
veth_pair_up "$A" "$B" || fa_fail "cannot create the veth pair"
path=${FA_BENCH_PATH:-skb}
case $path in
    skb) ;;
    frames)
        require_tool ethtool
        R=fa-benchR-$$
        on_exit "ip netns del $R 2>/dev/null"
        # Re-plumb: va (A) <-> ra (R), rb (R) <-> vb (B), same names and addresses as before.
        ip -n "$A" link del va
        ip netns add "$R" &&
            ip netns exec "$R" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
                net.ipv6.conf.default.disable_ipv6=1 &&
            ip -n "$A" link add va type veth peer name ra netns "$R" &&
            ip -n "$R" link add rb type veth peer name vb netns "$B" &&
            ip -n "$A" addr add 10.77.0.1/24 dev va && ip -n "$B" addr add 10.77.0.2/24 dev vb &&
            ip -n "$A" link set va up && ip -n "$R" link set ra up && ip -n "$R" link set rb up &&
            ip -n "$B" link set vb up && ip netns exec "$B" ethtool -K vb gro on >/dev/null ||
            fa_fail "cannot build the frames path"
        mac_a=$(ip -n "$A" -o link show va | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
        mac_b=$(ip -n "$B" -o link show vb | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
        ifindex=$(ip -n "$B" -o link show vb | cut -d: -f1)
        redir_pid=""
        bg_start redir_pid ip netns exec "$R" "$build/fa_hook" "$build/bpf/fa_bench.bpf.o" \
            fa_bench_redirect xdp ra redirect rb 2>"$work/redirect.log"
        wait_for 20 "grep -q attached '$work/redirect.log' || ! kill -0 $redir_pid 2>/dev/null" || true
        grep -q attached "$work/redirect.log" || fa_fail "redirect: $(cat "$work/redirect.log")"
        ;;
    *) fa_fail "FA_BENCH_PATH = '$path': expected skb or frames" ;;
esac
# Nothing but the replay on the wire: no IPv6 (MLD, router solicitations) on either side.
ip netns exec "$A" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.va.disable_ipv6=1
ip netns exec "$B" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.vb.disable_ipv6=1
ip netns exec "$B" sysctl -qw net.ipv4.ip_forward=0

# A cgroup holding every process started here, for the "own" measure: cgroup v1 cpuacct, else
# cgroup v2 (cpu.stat is there without any controller enabled).
cg="" cg_kind=""
if [ -w /sys/fs/cgroup/cpuacct/cgroup.procs ] && [ -r /sys/fs/cgroup/cpuacct/cpuacct.usage ]; then
    cg=/sys/fs/cgroup/cpuacct/fa-bench-$$ cg_kind=v1
else
    for d in /sys/fs/cgroup /sys/fs/cgroup/unified; do
        if [ -r "$d/cgroup.controllers" ] && [ -w "$d/cgroup.procs" ]; then
            cg=$d/fa-bench-$$ cg_kind=v2
            break
        fi
    done
fi
# The probe's processes go into a child group ($cg/probe; the parent's time includes it).
if [ -n "$cg" ] && mkdir "$cg" 2>/dev/null; then
    on_exit "rmdir $cg"
    mkdir "$cg/probe" && on_exit "rmdir $cg/probe"
else
    fa_log "no writable cpuacct or cgroup v2 hierarchy: 'own' CPU time is not measured"
    cg=""
fi
# cg_ns [SUB]: CPU time of the group (or its child SUB) so far in ns (0 without a group).
cg_ns() {
    local g=$cg${1:+/$1}
    if [ -z "$cg" ]; then
        echo 0
    elif [ "$cg_kind" = v1 ]; then
        cat "$g/cpuacct.usage"
    else
        awk '$1 == "usage_usec" { printf "%.0f\n", $2 * 1000 }' "$g/cpu.stat"
    fi
}
# ksoft_ns: CPU time of all ksoftirqd threads in ns (softirq work deferred out of our tasks).
ksoft_ns() {
    local p t=0 c
    for p in $(pgrep -x 'ksoftirqd/[0-9]+' || true); do
        read -r c _ <"/proc/$p/schedstat" 2>/dev/null && t=$((t + c))
    done
    echo "$t"
}
# sys_busy_ns: busy time of all CPUs so far in ns, as wall time x CPUs - (idle + iowait) from
# /proc/stat, relative to t_base. Not the sum of the busy columns: this kernel samples those on
# the scheduler tick, and with the sender sleeping between batches the samples alias (measured:
# 0.25 s counted for a 3 s replay whose sender alone used 1.6 s, and a sum of all columns off
# from wall x CPUs by +-30%); idle and iowait are measured exactly when the tick is stopped.
t_base=$(date +%s%N)
ncpu=$(grep -c '^cpu[0-9]' /proc/stat)
hz=$(getconf CLK_TCK)
sys_busy_ns() {
    local now
    now=$(($(date +%s%N) - t_base))
    awk -v now="$now" -v n="$ncpu" -v hz="$hz" \
        '$1 == "cpu" { printf "%.0f\n", n * now - ($5 + $6) * 1e9 / hz; exit }' /proc/stat
}
# in_cg NETNS CMD...: execs CMD in NETNS inside the cgroup, keeping the pid: the shell joins
# the group before `ip netns exec` (which mounts its own /sys, hiding /sys/fs/cgroup). Call it
# only in a subshell (bg_start, $(...)). in_probe_cg: the same in the probe's child group.
in_cg() { in_group "$cg" "$@"; }
in_probe_cg() { in_group "${cg:+$cg/probe}" "$@"; }
in_group() {
    exec sh -c '[ -z "$1" ] || echo $$ >"$1/cgroup.procs"; shift; exec ip netns exec "$@"' \
        sh "$@"
}
rx_b() { ip netns exec "$B" cat /sys/class/net/vb/statistics/rx_packets; }
# bpf_run_stats: "run_time_ns run_cnt" summed over the loaded programs named fa_* (0 0 unless
# FA_BENCH_BPF_STATS=1).
bpf_run_stats() {
    if [ "${FA_BENCH_BPF_STATS:-0}" != 1 ]; then echo "0 0"; return; fi
    bpftool -j prog show | python3 -c 'import json, sys
t = c = 0
for p in json.load(sys.stdin):
    if p.get("name", "").startswith("fa_"):
        t += p.get("run_time_ns", 0)
        c += p.get("run_cnt", 0)
print(t, c)'
}
if [ "${FA_BENCH_BPF_STATS:-0}" = 1 ]; then
    require_tool bpftool
    bpf_stats_was=$(sysctl -n kernel.bpf_stats_enabled)
    sysctl -qw kernel.bpf_stats_enabled=1
    on_exit "sysctl -qw kernel.bpf_stats_enabled=$bpf_stats_was"
fi
b_port_bound() { ip netns exec "$B" ss -Hlun "sport = :$1" 2>/dev/null | grep -q .; }
b_recvq_empty() {
    local q
    q=$(ip netns exec "$B" ss -Hlun "sport = :$1" 2>/dev/null | awk '{ s += $2 } END { print s + 0 }')
    [ "$q" -eq 0 ]
}
# b_capturing: a packet socket for all protocols (0003) is bound to vb in B (pcap is up).
b_capturing() {
    ip netns exec "$B" awk -v ifx="$ifindex" '$4 == "0003" && $5 == ifx { f = 1 } END { exit !f }' \
        /proc/net/packet
}

# start_probe CONFIG DIR PORT: starts the probe (pid in probe_pid) and returns once it meters.
probe_pid=""
start_probe() {
    local c=$1 dir=$2 port=$3
    case $c in
        none) probe_pid="" ;;
        xdp | tc)
            local proto=ipfix
            [ "$c" = tc ] && proto=v9
            cat >"$dir/agent.ini" <<INI
[agent]
source = $c
interfaces = vb
[flows]
active_timeout = 60
inactive_timeout = 30
[collector c]
address = 127.0.0.1:$port
protocol = $proto
INI
            bg_start probe_pid in_probe_cg "$B" "$build/flowagent" -c "$dir/agent.ini" 2>"$dir/probe.log"
            wait_for 20 "grep -q started '$dir/probe.log' || ! kill -0 $probe_pid 2>/dev/null" || true
            grep -q started "$dir/probe.log" || fa_fail "flowagent did not start: $(cat "$dir/probe.log")"
            ;;
        xdp-empty | tc-empty | tc-plain)
            local prog=fa_bench_empty hook=xdp
            [ "$c" = tc-empty ] && prog=fa_bench_empty_tc hook=tcx_ingress
            [ "$c" = tc-plain ] && prog=fa_bench_plain_tc hook=tcx_ingress
            bg_start probe_pid in_probe_cg "$B" "$build/fa_hook" "$build/bpf/fa_bench.bpf.o" \
                "$prog" "$hook" vb 2>"$dir/probe.log"
            wait_for 20 "grep -q attached '$dir/probe.log' || ! kill -0 $probe_pid 2>/dev/null" || true
            grep -q attached "$dir/probe.log" || fa_fail "fa_hook did not attach: $(cat "$dir/probe.log")"
            ;;
        softflowd)
            bg_start probe_pid in_probe_cg "$B" softflowd -d -i vb -n "127.0.0.1:$port" -v 9 \
                -t maxlife=60 -t general=30 -m 8192 -c "$dir/softflowd.ctl" \
                -p "$dir/softflowd.pid" >"$dir/probe.log" 2>&1
            ;;
        pmacctd)
            cat >"$dir/pmacctd.conf" <<CONF
daemonize: false
pcap_interface: vb
aggregate: src_host, dst_host, src_port, dst_port, proto, tos
plugins: nfprobe
nfprobe_receiver: 127.0.0.1:$port
nfprobe_version: 9
nfprobe_timeouts: maxlife=60:general=30
CONF
            bg_start probe_pid in_probe_cg "$B" pmacctd -f "$dir/pmacctd.conf" >"$dir/probe.log" 2>&1
            ;;
    esac
    case $c in
        softflowd | pmacctd)
            wait_for 20 "b_capturing || ! kill -0 $probe_pid 2>/dev/null" || true
            b_capturing || fa_fail "$c did not start capturing on vb: $(cat "$dir/probe.log")"
            ;;
    esac
}

# stop_probe CONFIG DIR: stops the probe so that it exports every flow it holds. flowagent
# must exit 0 on SIGTERM; softflowd is told to shut down through its control socket (on
# SIGTERM it exits without exporting); pmacctd flushes on SIGTERM and exits non-zero.
stop_probe() {
    local c=$1 dir=$2 rc=0
    [ -n "$probe_pid" ] || return 0
    case $c in
        xdp | tc)
            bg_stop "$probe_pid" TERM 30 || rc=$?
            [ "$rc" -eq 0 ] || fa_fail "flowagent ($c) exited $rc: $(tail -5 "$dir/probe.log")"
            ;;
        softflowd)
            ip netns exec "$B" softflowctl -c "$dir/softflowd.ctl" shutdown >>"$dir/probe.log" 2>&1 \
                || fa_log "softflowctl shutdown failed: $(tail -2 "$dir/probe.log")"
            bg_stop "$probe_pid" TERM 30 || true
            ;;
        *) bg_stop "$probe_pid" TERM 30 || true ;;
    esac
}

# exported_packets DIR: packets in every record nfcapd stored (nfdump's decode), and records.
exported_packets() {
    local f
    for f in $(nfcapd_files "$1/flows"); do
        nfdump -q -N -r "$f" -o 'fmt:%pkt'
    done | awk '/^ *[0-9]+ *$/ { p += $1; n++ } END { printf "%d %d\n", p, n }'
}

# one_run CONFIG REP: appends one result line to $work/results.
one_run() {
    local c=$1 r=$2 dir="$work/$1-$2" port nfcapd_pid rx0 rx1 t0 t1 g0 g1 p0 p1 k0 k1 out rc=0
    mkdir -p "$dir/flows"
    port=$(ip netns exec "$B" python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
    bg_start nfcapd_pid in_cg "$B" nfcapd -4 -w "$dir/flows" -p "$port" -b 127.0.0.1 \
        >"$dir/nfcapd.log" 2>&1
    wait_for 10 "b_port_bound $port" || fa_fail "nfcapd did not bind: $(cat "$dir/nfcapd.log")"
    start_probe "$c" "$dir" "$port"

    local bs0 bs1 bt0 bc0 bt1 bc1
    bs0=$(bpf_run_stats)
    rx0=$(rx_b) t0=$(sys_busy_ns) g0=$(cg_ns) p0=$(cg_ns probe) k0=$(ksoft_ns)
    out=$(in_cg "$A" "$build/fa_paced_send" va "$mac_a" "$mac_b" 10.77.0.1 10.99 "$packets" \
        "$rate" "$flows" "$frame" 32 "$train") || fa_fail "$c: sender failed: $out"
    wait_for 10 "[ \$((\$(rx_b) - rx0)) -ge $packets ]" || true
    sleep "$tail_s"  # fixed measurement tail, the same in every run (not a wait for a condition)
    rx1=$(rx_b) t1=$(sys_busy_ns) g1=$(cg_ns) p1=$(cg_ns probe) k1=$(ksoft_ns)
    bs1=$(bpf_run_stats)
    if [ "${FA_BENCH_BPF_STATS:-0}" = 1 ]; then
        read -r bt0 bc0 <<<"$bs0"
        read -r bt1 bc1 <<<"$bs1"
        [ $((bc1 - bc0)) -gt 0 ] && awk -v c="$c" -v t=$((bt1 - bt0)) -v n=$((bc1 - bc0)) \
            'BEGIN { printf "  %-9s BPF programs: %d runs, %.1f ns per run\n", c, n, t / n }'
    fi

    stop_probe "$c" "$dir"
    wait_for 10 "b_recvq_empty $port" || fa_fail "nfcapd did not drain its socket"
    bg_stop "$nfcapd_pid" TERM 10 || true
    local sent srate exp nrec sys own probe
    sent=$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' <<<"$out")
    srate=$(sed -n 's/.* rate=\([0-9]*\).*/\1/p' <<<"$out")
    read -r exp nrec < <(exported_packets "$dir")
    sys=$((t1 - t0)) own=$((g1 - g0 + k1 - k0)) probe=$((p1 - p0))
    echo "$c $r $sys $own $probe $sent $srate $((rx1 - rx0)) $exp $nrec" >>"$work/results"
    awk -v c="$c" -v r="$r" -v s="$sys" -v o="$own" -v p="$probe" -v n="$sent" -v sr="$srate" \
        -v rx=$((rx1 - rx0)) -v e="$exp" -v nr="$nrec" 'BEGIN {
        printf "  %-9s run %d: system %5.2f s, own %5.2f s (probe process %4.2f s); sent %d at %d/s," \
            " received %d, exported %d packets in %d records\n", c, r, s / 1e9, o / 1e9, p / 1e9,
            n, sr, rx, e, nr }'
}
echo "e2e_cpu: $packets frames ($flows UDP flows, trains of $train, $frame bytes) at $rate/s per run, A -> B over" \
    "veth ($path path); $repeat runs of: $list; build $build; $(nproc) CPUs, kernel $(uname -r)"
: >"$work/results"
for ((r = 1; r <= repeat; r++)); do
    for c in $list; do one_run "$c" "$r"; done
done

python3 - "$work/results" "$packets" "$rate" "${cg:+yes}" <<'PY'
import statistics, sys
path, packets, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
have_own = sys.argv[4] == "yes"
runs = {}
order = []
fail = []
for line in open(path):
    c, r, sys_ns, own_ns, probe_ns, sent, srate, rx, exp, nrec = line.split()
    if c not in runs:
        runs[c] = []
        order.append(c)
    runs[c].append(dict(system=int(sys_ns) / 1e9, own=int(own_ns) / 1e9,
                        probe=int(probe_ns) / 1e9, sent=int(sent),
                        rate=int(srate), rx=int(rx), exp=int(exp), nrec=int(nrec)))
    if int(sent) != packets or int(rx) != packets:
        fail.append(f"{c} run {r}: sent {sent}, received {rx}, expected {packets}")
    if c in ("xdp", "tc") and int(exp) != int(sent):
        fail.append(f"{c} run {r}: exported {exp} packets, sent {sent} (loss {int(sent) - int(exp)})")
mpkt = packets / 1e6
rates = [x["rate"] for v in runs.values() for x in v]
print(f"\nachieved send rate: min {min(rates)}/s, median {statistics.median(rates):.0f}/s"
      f" (target {rate}/s), {packets} frames per run, {len(runs['none'])} runs per configuration")


def minmed(c, m):
    v = [x[m] for x in runs[c]]
    return min(v), statistics.median(v)


measures = ["system", "own"] if have_own else ["system"]
for m in measures:
    b_lo, b_md = minmed("none", m)
    print(f"\n{m}: CPU-s per run (min, median); above the no-probe run per million packets"
          f" (min - min, median - median)")
    above = {}
    for c in order:
        lo, md = minmed(c, m)
        above[c] = ((lo - b_lo) / mpkt, (md - b_md) / mpkt)
        extra = "" if c == "none" else f"   {above[c][0]:6.3f} {above[c][1]:6.3f} per Mpkt"
        print(f"  {c:<10} {lo:6.2f} {md:6.2f} s{extra}")
    if "softflowd" in runs:
        s_lo, s_md = above["softflowd"]
        for c in ("xdp", "tc"):
            if c in runs:
                r = [f"{f / s:.2f}" if s > 0 else "n/a" for f, s in zip(above[c], (s_lo, s_md))]
                print(f"  ratio flowagent {c} / softflowd: {r[0]} (min), {r[1]} (median);"
                      f" target <= 0.20")
    # Paired: run r of a configuration minus run r of "none" (they ran back to back), median
    # over r. Slow drifts in the machine's load cancel within a pair.
    paired = {c: statistics.median((x[m] - b[m]) / mpkt for x, b in zip(runs[c], runs["none"]))
              for c in order if c != "none"}
    print("  paired (median over runs of run - its no-probe run), per Mpkt: " +
          ", ".join(f"{c} {v:.3f}" for c, v in paired.items()))
    if "softflowd" in paired and paired["softflowd"] > 0:
        for c in ("xdp", "tc"):
            if c in paired:
                print(f"  paired ratio flowagent {c} / softflowd: "
                      f"{paired[c] / paired['softflowd']:.2f}; target <= 0.20")
    for c in ("xdp", "tc"):
        e = c + "-empty"
        if c in paired and e in paired:
            print(f"  flowagent {c} above {e} (the program and the agent, without the hook's own"
                  f" cost), paired: {paired[c] - paired[e]:.3f} per Mpkt")
if have_own:
    print("\nprobe processes alone (user + system of the agent / softflowd / pmacctd),"
          " CPU-s per million packets (min, median):")
    for c in order:
        if c != "none":
            lo, md = minmed(c, "probe")
            print(f"  {c:<10} {lo / mpkt:6.3f} {md / mpkt:6.3f}")
for c in ("xdp", "tc"):
    if c in runs:
        print(f"\nflowagent {c} loss: " + ", ".join(
            f"run {i + 1}: sent {x['sent']} received {x['rx']} exported {x['exp']}"
            f" ({x['nrec']} records)" for i, x in enumerate(runs[c])))
if fail:
    print("\nFAIL:\n  " + "\n  ".join(fail))
    sys.exit(1)
print("\nzero loss: every run received all frames sent; flowagent exported every packet")
PY
