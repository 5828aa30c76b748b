#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Footprint of the running agent: VmRSS from /proc/PID/status at idle and with 65,536 active
# flows, per source, with max_flows = 65536 (FA_RSS_MAX_FLOWS for the idle run), exporting IPFIX
# to a local port nobody listens on. For each idle run the agent's mappings are summed from
# /proc/PID/smaps per object: where the idle figure goes.
#
#   tests/cross/measure_rss.sh BUILD_DIR [SOURCE...]
#
# SOURCE: generator (default without root), xdp, conntrack (default as root: all three).
#   generator  the built-in generator: idle = 1 flow at 1 packet/s; full = 65,536 flows.
#   xdp        the real eBPF source, attached in native XDP mode to one end of a veth pair
#              between two namespaces this script creates; idle = no traffic; full = 65,536
#              distinct UDP 5-tuples sent as raw frames into the metered end.
#   conntrack  the real conntrack source in the receiving namespace (an nft rule makes conntrack
#              track its input); idle = no connections; full = the same 65,536 UDP 5-tuples,
#              each a new conntrack entry (the agent's flow slots: see README "Memory").
# The eBPF object is BUILD_DIR/bpf/fa_flow.bpf.o when the build does not embed it.
#
# RSS is read once the load is in and RSS has stopped changing (five equal samples 200 ms
# apart; 20 s at most). At the end the RSS of `sleep` (coreutils, dynamically linked), read the
# same way, is printed as a reference: what a small dynamically linked glibc program costs on
# this machine, most of it libc text mapped at start (compare a dynamic agent's libc line).
set -euo pipefail
build=${1:?usage: measure_rss.sh BUILD_DIR [generator|xdp|conntrack]...}
shift
agent=$(cd "$build" && pwd)/flowagent
[ -x "$agent" ] || { echo "measure_rss: no $agent" >&2; exit 1; }
if [ $# -eq 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then set -- generator xdp conntrack; else set -- generator; fi
fi
flows=65536
work=$(mktemp -d)
pid=""
A=fa-rssA-$$
B=fa-rssB-$$
ns_up=0
cleanup() {
    [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
    [ -z "$pid" ] || wait "$pid" 2>/dev/null || true
    if [ "$ns_up" = 1 ]; then
        ip netns del "$A" 2>/dev/null || true
        ip netns del "$B" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

[ -f "$build/bpf/fa_flow.bpf.o" ] && export FA_BPF_OBJECT="${FA_BPF_OBJECT:-$(cd "$build/bpf" && pwd)/fa_flow.bpf.o}"

rss_kb() { sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status"; }

# Prints the RSS in kB once five samples in a row agree.
stable_rss() {  # stable_rss PID
    local last="" same=0 i cur
    for ((i = 0; i < 100; i++)); do
        kill -0 "$1" 2>/dev/null || { echo "measure_rss: process $1 exited" >&2; return 1; }
        cur=$(rss_kb "$1" VmRSS)
        if [ "$cur" = "$last" ]; then
            same=$((same + 1))
            [ "$same" -ge 4 ] && { echo "$cur"; return 0; }
        else
            same=0
        fi
        last=$cur
        sleep 0.2
    done
    echo "measure_rss: RSS did not settle (last $last kB)" >&2
    return 1
}

# Per object, in kB: Rss, then Shared_Clean, Private_Clean (clean file pages no other process
# maps right now) and Private_Dirty (what the agent alone costs), biggest first.
smaps_by_object() {  # smaps_by_object PID
    awk '
        /^[0-9a-f]+-[0-9a-f]+ / { name = $6 == "" ? "[anon]" : $6; sub(".*/", "", name); next }
        /^Rss:/ { rss[name] += $2; rss["total"] += $2 }
        /^Shared_Clean:/ { sc[name] += $2; sc["total"] += $2 }
        /^Private_Clean:/ { pc[name] += $2; pc["total"] += $2 }
        /^Private_Dirty:/ { pd[name] += $2; pd["total"] += $2 }
        END {
            for (n in rss) if (rss[n] > 0)
                printf "  %-22s %6d kB rss: %5d shared clean %5d private clean %5d private dirty\n",
                       n, rss[n], sc[n], pc[n], pd[n]
        }' "/proc/$1/smaps" | sort -k2,2nr
}

# The namespaces of the xdp and conntrack runs: A sends, B meters (agent lives in B).
ns_setup() {
    [ "$ns_up" = 1 ] && return 0
    [ "$(id -u)" -eq 0 ] || { echo "measure_rss: xdp and conntrack need root" >&2; exit 1; }
    ns_up=1
    # shellcheck source=tests/e2e/lib/veth_pair.sh
    . "$(dirname "$0")/../e2e/lib/veth_pair.sh"
    veth_pair_up "$A" "$B"
    # conntrack only tracks a namespace that has a rule needing it.
    ip netns exec "$B" nft -f - <<'NFT'
table inet fa_rss {
    chain in { type filter hook input priority 0; ct state new counter; }
}
NFT
}

# Sends one UDP frame per flow from A into vb: 65,536 distinct (sport, dport) pairs.
send_flows() {  # send_flows COUNT
    # shellcheck disable=SC2154 # mac_a, mac_b are set by veth_pair_up
    ip netns exec "$A" python3 - "$1" "$mac_a" "$mac_b" <<'PY'
import errno, socket, struct, sys, time
n = int(sys.argv[1])
src, dst = (bytes.fromhex(m.replace(":", "")) for m in sys.argv[2:4])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("va", 0))
sa, da = socket.inet_aton("10.77.0.1"), socket.inet_aton("10.77.0.2")
def csum(h):
    t = sum(struct.unpack("!10H", h))
    t = (t & 0xffff) + (t >> 16)
    return ~((t & 0xffff) + (t >> 16)) & 0xffff
for i in range(n):
    udp = struct.pack("!HHHH", 10000 + (i & 0x3fff), 30000 + (i >> 14), 8 + 18, 0) + b"r" * 18
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xffff, 0, 64, 17, 0, sa, da)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    frame = dst + src + b"\x08\x00" + ip + udp
    while True:  # a busy machine fills the veth queue: ENOBUFS, the frame was not sent
        try:
            s.send(frame)
            break
        except OSError as e:
            if e.errno != errno.ENOBUFS:
                raise
            time.sleep(0.001)
PY
}

run() {  # run SOURCE idle|full OUT -> writes "RSS_kB HWM_kB" to OUT (+ OUT.smaps when idle)
    local src=$1 load=$2 out=$3 max=$flows gen_flows=1 gen_pps=1 wrap=()
    [ "$load" = full ] || max=${FA_RSS_MAX_FLOWS:-$flows}
    [ "$load" = full ] && { gen_flows=$flows; gen_pps=262144; }
    {
        echo "[agent]"
        echo "source = $src"
        [ "$src" = xdp ] && echo "interfaces = vb"
        echo "observation_domain = 1"
        printf '[flows]\nmax_flows = %s\nactive_timeout = 600\ninactive_timeout = 600\n' "$max"
        [ "$src" = generator ] &&
            printf '[generator]\nflows = %s\npackets_per_second = %s\nduration = 0\n' \
                "$gen_flows" "$gen_pps"
        printf '[collector c]\naddress = 127.0.0.1:9\nprotocol = ipfix\n'
    } > "$work/agent.ini"
    [ "$src" = generator ] || { ns_setup; wrap=(ip netns exec "$B"); }
    # Idle means no connections: an xdp run before this one left its 65,536 UDP entries in B's
    # conntrack table (the agent would start with them and the full run would create none).
    if [ "$src" = conntrack ] && ! ip netns exec "$B" conntrack -F >/dev/null 2>&1; then
        echo "measure_rss: conntrack -F failed in $B (is the conntrack tool installed?)" >&2
        return 1
    fi
    "${wrap[@]}" "$agent" -c "$work/agent.ini" > "$work/agent.log" 2>&1 &
    pid=$!
    local i=0
    until grep -qs started "$work/agent.log"; do
        if ! kill -0 "$pid" 2>/dev/null || [ "$i" -ge 200 ]; then
            cat "$work/agent.log" >&2
            return 1
        fi
        i=$((i + 1))
        sleep 0.05
    done
    if [ "$src" = generator ]; then
        # The generator starts flow i at packet i: all flows exist after flows / rate seconds.
        local deadline=$(( $(date +%s%N) + 2 * 1000000000 * gen_flows / gen_pps ))
        while [ "$(date +%s%N)" -lt "$deadline" ] && kill -0 "$pid" 2>/dev/null; do
            sleep 0.1
        done
    elif [ "$load" = full ]; then
        send_flows "$flows"
    fi
    local rss
    rss=$(stable_rss "$pid") || { cat "$work/agent.log" >&2; return 1; }
    echo "$rss $(rss_kb "$pid" VmHWM)" > "$out"
    [ "$load" = full ] || smaps_by_object "$pid" > "$out.smaps"
    kill "$pid"
    wait "$pid" || true
    pid=""
    # Every flow was seen: at the stop each one is exported (the flush), plus options records.
    local records
    records=$(sed -n 's/.*metered; \([0-9]*\) records exported.*/\1/p' "$work/agent.log")
    if [ "$load" = full ] && [ "${records:-0}" -lt "$flows" ]; then
        echo "measure_rss: $src: ${records:-no} records exported, expected $flows or more" >&2
        cat "$work/agent.log" >&2
        return 1
    fi
}

for src in "$@"; do
    case $src in generator|xdp|conntrack) ;; *) echo "measure_rss: unknown source $src" >&2; exit 2;; esac
    run "$src" idle "$work/idle"
    run "$src" full "$work/full"
    read -r idle idle_hwm < "$work/idle"
    read -r full full_hwm < "$work/full"
    echo "flowagent RSS ($src) idle, max_flows ${FA_RSS_MAX_FLOWS:-$flows}: ${idle} kB (peak ${idle_hwm} kB)"
    echo "flowagent RSS ($src) with $flows flows, max_flows $flows: ${full} kB (peak ${full_hwm} kB)"
    echo "flowagent RSS ($src) per flow: $(( (full - idle) * 1024 / flows )) bytes"
    echo "flowagent mappings ($src) at idle, per object:"
    cat "$work/idle.smaps"
done

# The reference process: started directly, like the agent, and measured the same way.
ref=$(command -v sleep)
"$ref" 60 &
pid=$!
ref_rss=$(stable_rss "$pid")
ref_what="a small dynamically linked glibc program here"
grep -qs '/libc[.-][^/]*so' "/proc/$pid/maps" || ref_what="(not a dynamically linked glibc process)"
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=""
echo "reference: $ref_what ($ref 60): ${ref_rss} kB"
