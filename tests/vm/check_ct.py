#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# The VM's conntrack NAT case (tests/vm/guest.sh case_ct) against its captures.
# Usage: check_ct.py VR0_CSV VR1_CSV FLOWS_TXT NEL_TXT
#   VR0_CSV / VR1_CSV: tshark fields (ip.proto, ip.src, ip.dst, ip.len, tcp ports, udp ports,
#     icmp type, code) of the router's client-side (pre-NAT) and server-side (post-NAT)
#     interfaces;
#   FLOWS_TXT: nfdump -N -o fmt:%pr|%sa|%sp|%da|%dp|%pkt|%byt|%opkt|%obyt|%xsa|%xsp|%xda|%xdp|%nevt
#     of the uniflow IPFIX collector; NEL_TXT the same of the biflow + NAT event collector.
# Ground truth per connection (client 10.1.0.2 -> server 10.2.0.2 through the masquerading
# router 10.2.0.1): forward packets/bytes = frames from the client on vr0 (what conntrack
# counts in the original direction), reply = frames to the client on vr0; the post-NAT source
# port = the port the first frame of that connection carried on vr1. Expected:
#   uniflow: forward  proto client cport server sport pkts bytes | xlate 10.2.0.1 NATport server sport
#            reply    proto server sport 10.2.0.1 NATport pkts bytes | xlate server sport client cport
#   biflow:  forward tuple, forward and reverse counters, NAT fields as the forward uniflow;
#   NAT events: exactly one create (ADD) per connection with its pre- and post-NAT tuple.
# ICMP: nfdump prints type.code as the destination port; ICMP NAT ports are not compared
# (nfdump re-derives them). Exit 1 on any mismatch; the last line is parsed by run_vm.sh.
import collections, sys

CLIENT, SERVER, ROUTER = "10.1.0.2", "10.2.0.2", "10.2.0.1"

def rows(path):
    for line in open(path):
        f = [x.split(";")[0] for x in line.rstrip("\n").split(",")]
        if len(f) < 10 or not f[0]:
            continue
        proto, src, dst, iplen, tsp, tdp, usp, udp_, it, ic = f[:10]
        proto = int(proto)
        sp = dp = 0
        if proto == 6:
            sp, dp = int(tsp), int(tdp)
        elif proto == 17:
            sp, dp = int(usp), int(udp_)
        elif proto == 1:
            sp, dp = 0, int(it) << 8 | int(ic)
        yield proto, src, sp, dst, dp, int(iplen)

def icmp_port(v):
    return "%d.%d" % (v >> 8, v & 0xFF)

def main():
    vr0, vr1, flows_f, nel_f = sys.argv[1:5]
    # Connections, keyed (proto, client port, server port); ICMP server "port" = echo request.
    fwd = collections.defaultdict(lambda: [0, 0])
    rev = collections.defaultdict(lambda: [0, 0])
    for proto, src, sp, dst, dp, n in rows(vr0):
        if src == CLIENT and dst == SERVER:
            k = (proto, sp, dp)
            fwd[k][0] += 1
            fwd[k][1] += n
        elif src == SERVER and dst == CLIENT:
            k = (proto, dp, 8 << 8 if proto == 1 else sp)
            rev[k][0] += 1
            rev[k][1] += n
    nat = {}
    for proto, src, sp, dst, dp, n in rows(vr1):
        if src == ROUTER and dst == SERVER:
            nat.setdefault((proto, dp), sp)
    want_uni, want_bi, want_nel = [], [], []
    for k in sorted(fwd):
        proto, cp, spt = k
        np = nat.get((proto, spt))
        if np is None:
            print("no post-NAT frame on vr1 for %s" % (k,))
            return 1
        if proto == 1:
            np = 0
            dport, rport = icmp_port(spt), icmp_port(0)
        else:
            dport, rport = str(spt), str(np)
        f, r = fwd[k], rev.get(k, [0, 0])
        want_uni.append("%d %s %d %s %s %d %d %s %d %s %d" %
                        (proto, CLIENT, cp, SERVER, dport, f[0], f[1], ROUTER, np, SERVER,
                         0 if proto == 1 else spt))
        if r[0]:
            want_uni.append("%d %s %d %s %s %d %d %s %d %s %d" %
                            (proto, SERVER, 0 if proto == 1 else spt, ROUTER, rport, r[0], r[1],
                             SERVER, 0 if proto == 1 else spt, CLIENT, cp))
        want_bi.append("%d %s %d %s %s %d %d %d %d %s %d %s %d" %
                       (proto, CLIENT, cp, SERVER, dport, f[0], f[1], r[0], r[1], ROUTER, np,
                        SERVER, 0 if proto == 1 else spt))
        want_nel.append("%d %s %s %s %s %s %s %s %s ADD" %
                        (proto, CLIENT, "-" if proto == 1 else cp, SERVER,
                         "-" if proto == 1 else spt, ROUTER, "-" if proto == 1 else np, SERVER,
                         "-" if proto == 1 else spt))

    def parse(path):
        for line in open(path):
            p = [x.strip() for x in line.split("|")]
            if len(p) >= 14 and (p[1].startswith("10.") or p[3].startswith("10.")):
                yield p

    got_uni = sorted(" ".join([p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[9], p[10], p[11],
                               p[12]]) for p in parse(flows_f))
    other = [p for p in parse(flows_f)]
    got_bi, got_nel = [], []
    for p in parse(nel_f):
        if p[13] in ("ADD", "DELETE"):
            if p[13] == "ADD":
                if p[0] == "1":
                    p[2] = p[4] = p[10] = p[12] = "-"
                got_nel.append(" ".join([p[0], p[1], p[2], p[3], p[4], p[9], p[10], p[11], p[12],
                                         "ADD"]))
        else:
            got_bi.append(" ".join([p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9],
                                    p[10], p[11], p[12]]))
    bad = 0
    for name, want, got in (("flow", sorted(want_uni), got_uni), ("biflow", sorted(want_bi),
                            sorted(got_bi)), ("nat-event", sorted(want_nel), sorted(got_nel))):
        for w in want:
            ok = w in got
            bad += not ok
            print("%s %s %s" % ("ok " if ok else "BAD", name, w))
        for g in got:
            if g not in want:
                bad += 1
                print("BAD %s unexpected record: %s" % (name, g))
    n = len(want_uni) + len(want_bi) + len(want_nel)
    print("ct: %d connections; records: %d flow, %d biflow, %d NAT create; %d records other "
          "than the test's" % (len(fwd), len(got_uni), len(got_bi), len(got_nel),
                               len(other) - len(got_uni)))
    print("ct: %d flows, %d expected records, mismatches: %d" % (n, n, bad))
    if len(fwd) != 3:
        print("ground truth incomplete: %d connections captured, 3 sent" % len(fwd))
        return 1
    return 1 if bad else 0

if __name__ == "__main__":
    sys.exit(main())
