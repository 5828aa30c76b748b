#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=dash disable=SC3043
# /init of the VM test's initramfs (busybox ash). Loads the modules listed in
# /etc/modules.order, runs the cases named on the kernel command line (fa_cases=, e.g.
# xdp:1,tc:1,xdp:0,tc:0,ct: source and BPF JIT setting), each with the cross-built agent
# exporting to a collector inside the VM (tests/vm/vmtool collect) while vmtool captures the
# metered interfaces, then writes every result file to the console as a base64 gzip'd tar
# between FA-VM-RESULT-BEGIN and FA-VM-RESULT-END and powers off. The host judges the files
# (tests/vm/run_vm.sh): nothing here decides pass or fail except whether a step ran.
/bin/busybox mkdir -p /bbin
/bin/busybox --install -s /bbin
export PATH=/sbin:/usr/sbin:/usr/bin:/bin:/bbin
# Debian's busybox-static runs its own applets before PATH (ip, tc): iproute2 by full path.
ip() { /sbin/ip "$@"; }
tc() { /sbin/tc "$@"; }
# in_ns NS CMD...: CMD in network namespace NS, exec'd (no parent left between: `ip netns
# exec` forks, and a signal to it would not reach CMD).
in_ns() {
    local n=$1
    shift
    nsenter -F --net="/run/netns/$n" "$@"
}
# bg_in_ns NS CMD... &: the same for a background job; the job's subshell is replaced by CMD,
# so $! is CMD's pid and a signal to it reaches CMD.
bg_in_ns() {
    local n=$1
    shift
    exec nsenter -F --net="/run/netns/$n" "$@"
}
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /run/netns /var /out
ln -s /run /var/run
export FA_BPF_OBJECT=/usr/lib/flowagent/fa_flow.bpf.o

log() { echo "fa-vm: $*"; echo "$*" >> /out/guest.log; }
up() { cut -d' ' -f1 /proc/uptime; }
log "init at $(up) s, kernel $(uname -r) $(uname -m)"
while read -r m; do
    insmod "/lib/modules/$m.ko" 2>>/out/insmod.log || log "insmod $m failed"
done < /etc/modules.order

# wait_for SECONDS CONDITION: polls every 0.2 s (the guest is slow under TCG).
wait_for() {
    local n=$(($1 * 5))
    while [ "$n" -gt 0 ]; do
        eval "$2" && return 0
        sleep 0.2
        n=$((n - 1))
    done
    return 1
}
rss_kb() { sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status"; }

# start_agent NS DIR: collectors on 127.0.0.1:4739 (and :4740 when DIR/agent.ini names it)
# in NS, then the agent with DIR/agent.ini; returns once it logged "started".
start_agent() {
    local ns=$1 d=$2 p
    for p in 4739 4740; do
        grep -q "127.0.0.1:$p" "$d/agent.ini" || continue
        bg_in_ns "$ns" vmtool collect "$p" "$d/col$p.pcap" > "$d/col$p.out" 2>&1 &
        eval "col_$p=\$!"
        wait_for 30 "grep -qs collecting '$d/col$p.out'" || log "collector $p did not start"
    done
    bg_in_ns "$ns" flowagent -c "$d/agent.ini" > "$d/agent.out" 2> "$d/agent.log" &
    agent=$!
    wait_for 60 "grep -qs started '$d/agent.log' || ! kill -0 $agent 2>/dev/null"
    grep -q started "$d/agent.log" || { log "agent did not start: $(cat "$d/agent.log")"; return 1; }
}

# stop_agent DIR: RSS, SIGTERM (the agent flushes every flow), then the collectors.
stop_agent() {
    local d=$1 rc=0 p pid
    echo "$(rss_kb "$agent" VmRSS) $(rss_kb "$agent" VmHWM)" > "$d/rss"
    kill -TERM "$agent"
    wait "$agent" || rc=$?
    echo "$rc" > "$d/agent.rc"
    sleep 1
    for p in 4739 4740; do
        eval "pid=\${col_$p:-}"
        [ -n "$pid" ] || continue
        kill -TERM "$pid"
        wait "$pid" || log "collector $p exited $?"
        eval "col_$p="
    done
}

# xdp/tc on vb in B (tests/e2e/lib/veth_pair.sh), traffic from A: the same known traffic as
# tests/e2e/test_agent_bpf_nfdump.sh (UDP v4/v6, TCP with handshake and FIN, ICMP echo v4/v6,
# 50 raw VLAN 42 frames). xdp exports IPFIX, tc NetFlow v9.
case_bpf() {
    local mode=$1 jit=$2 d proto cap srv frame
    d=/out/$mode-jit$jit
    mkdir -p "$d"
    if [ -f /proc/sys/net/core/bpf_jit_enable ]; then
        echo "$jit" > /proc/sys/net/core/bpf_jit_enable || { log "cannot set bpf_jit_enable"; return 1; }
    fi
    proto=ipfix
    [ "$mode" = tc ] && proto=v9
    # shellcheck source=tests/e2e/lib/veth_pair.sh
    . /vm/veth_pair.sh
    veth_pair_up fa-A fa-B || { log "$mode: veth pair failed"; return 1; }
    echo "$mac_a $mac_b $ifindex" > "$d/meta"
    # Generic XDP, as on a router NIC without a native XDP driver: veth refuses native XDP
    # while its peer's MTU is above what one page holds, and the agent falls back.
    [ "$mode" = xdp ] && ip -n fa-A link set va mtu 9000
    bg_in_ns fa-B vmtool capture vb "$d/cap.pcap" > "$d/cap.out" 2>&1 &
    cap=$!
    wait_for 30 "grep -qs capturing '$d/cap.out'" || log "capture did not start"
    cat > "$d/agent.ini" <<INI
[agent]
source = $mode
interfaces = vb
[flows]
active_timeout = 600
inactive_timeout = 300
[collector c]
address = 127.0.0.1:4739
protocol = $proto
INI
    start_agent fa-B "$d" || return 1
    bg_in_ns fa-B vmtool tcp-server 10.77.0.2 9100 0 > "$d/srv.out" 2>&1 &
    srv=$!
    wait_for 30 "grep -qs ready '$d/srv.out'"
    in_ns fa-A timeout 60 vmtool udp 10.77.0.1 10.77.0.2 9000 200 300 || log "udp v4 failed"
    in_ns fa-A timeout 60 vmtool udp fd77::1 fd77::2 9001 100 500 || log "udp v6 failed"
    in_ns fa-A timeout 60 vmtool tcp-client 10.77.0.1 10.77.0.2 9100 1000 || log "tcp client failed"
    wait "$srv" || log "tcp server failed"
    in_ns fa-A ping -A -q -w 30 -c 5 10.77.0.2 > /dev/null || log "ping failed"
    in_ns fa-A ping -6 -A -q -w 30 -c 4 fd77::2 > /dev/null || log "ping6 failed"
    # 802.1Q VLAN 42, IPv4/UDP 10.78.0.1:9002 -> 10.78.0.2:9002, IP total length 128.
    frame=$(echo "$mac_b$mac_a" | tr -d ':')8100002a08004500008000010000401100000a4e00010a4e0002
    frame=${frame}23322332006c0000$(printf '76%.0s' $(seq 100))
    in_ns fa-A timeout 60 vmtool raw va "$frame" 50 || log "raw VLAN frames failed"
    sleep 2
    stop_agent "$d"
    kill -TERM "$cap"
    wait "$cap" || log "capture exited $?"
    ip netns del fa-A
    ip netns del fa-B
}

# conntrack on the masquerading router of tests/e2e/lib/nat_topo.sh: IPFIX flows to :4739,
# IPFIX biflow + NAT events to :4740; captures on both router interfaces. Known traffic: ping
# (5 echo requests/replies), UDP 10.1.0.2:40001 -> 10.2.0.2:9999 10 x 100 bytes with 4
# answers of 200, TCP 10.1.0.2:40010 -> 10.2.0.2:8080 3000 bytes up, 7000 down.
case_ct() {
    local d=/out/ct c1 c2 us ts
    mkdir -p "$d"
    # shellcheck source=tests/e2e/lib/nat_topo.sh
    . /vm/nat_topo.sh
    nat_topo_up fa-c fa-r fa-s 1 fa_nat || { log "ct: topology failed"; return 1; }
    # Source ports outside the client's, so a post-NAT port equal to the pre-NAT one is wrong.
    if ! { in_ns fa-r nft flush chain ip fa_nat post &&
           in_ns fa-r nft add rule ip fa_nat post oifname vr1 meta l4proto '{ tcp, udp }' \
               masquerade to :20000-20999 &&
           in_ns fa-r nft add rule ip fa_nat post oifname vr1 masquerade; }; then
        log "ct: masquerade port range failed"
    fi
    bg_in_ns fa-r vmtool capture vr0 "$d/vr0.pcap" > "$d/vr0.out" 2>&1 &
    c1=$!
    bg_in_ns fa-r vmtool capture vr1 "$d/vr1.pcap" > "$d/vr1.out" 2>&1 &
    c2=$!
    wait_for 30 "grep -qs capturing '$d/vr0.out' && grep -qs capturing '$d/vr1.out'" ||
        log "ct: capture did not start"
    cat > "$d/agent.ini" <<INI
[agent]
source = conntrack
[flows]
max_flows = 1024
active_timeout = 600
inactive_timeout = 300
[collector ipfix]
address = 127.0.0.1:4739
protocol = ipfix
[collector nel]
address = 127.0.0.1:4740
protocol = ipfix
biflow = yes
nat_events = yes
INI
    start_agent fa-r "$d" || return 1
    bg_in_ns fa-s vmtool udp-echo 10.2.0.2 9999 4 200 > "$d/udp-srv.out" 2>&1 &
    us=$!
    bg_in_ns fa-s vmtool tcp-server 10.2.0.2 8080 7000 > "$d/tcp-srv.out" 2>&1 &
    ts=$!
    wait_for 30 "grep -qs ready '$d/udp-srv.out' && grep -qs ready '$d/tcp-srv.out'"
    in_ns fa-c ping -A -q -w 30 -c 5 10.2.0.2 > /dev/null || log "ct: ping failed"
    in_ns fa-c timeout 60 vmtool udp 10.1.0.2 10.2.0.2 9999 10 100 40001 || log "ct: udp failed"
    in_ns fa-c timeout 60 vmtool tcp-client 10.1.0.2 10.2.0.2 8080 3000 40010 || log "ct: tcp failed"
    wait "$ts" || log "ct: tcp server failed"
    wait "$us" || log "ct: udp server failed"
    sleep 2
    stop_agent "$d"
    kill -TERM "$c1" "$c2"
    wait "$c1"
    wait "$c2"
    ip netns del fa-c
    ip netns del fa-r
    ip netns del fa-s
}

# The programs in the other byte order (make_initramfs.sh EXTRA): the agent must refuse them.
case_endian() {
    local d=/out/endian rc=0
    mkdir -p "$d"
    printf '[agent]\nsource = xdp\ninterfaces = lo\n[collector c]\naddress = 127.0.0.1:4739\n' \
        > "$d/agent.ini"
    ip netns add fa-e && ip -n fa-e link set lo up || log "endian: netns failed"
    FA_BPF_OBJECT=/other-endian.bpf.o in_ns fa-e timeout 60 flowagent -c "$d/agent.ini" \
        > "$d/agent.out" 2> "$d/agent.log" || rc=$?
    echo "$rc" > "$d/agent.rc"
    ip netns del fa-e
}

cases=$(sed -n 's/.*fa_cases=\([^ ]*\).*/\1/p' /proc/cmdline)
if [ -f /proc/sys/net/core/bpf_jit_enable ]; then
    log "BPF JIT: available"
else
    log "BPF JIT: none (interpreter)"
fi
for c in $(echo "$cases" | tr ',' ' '); do
    t=$(up)
    log "case $c start at $t s"
    case $c in
        xdp:*|tc:*) case_bpf "${c%%:*}" "${c#*:}" ;;
        ct) case_ct ;;
        endian) case_endian ;;
        *) log "unknown case $c" ;;
    esac
    log "case $c done in $(awk -v a="$t" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }') s"
done
log "result at $(up) s"
dmesg > /out/dmesg.txt
echo FA-VM-RESULT-BEGIN
tar -C /out -cf - . | gzip -9 | base64
echo FA-VM-RESULT-END
sync
poweroff -f
