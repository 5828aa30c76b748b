#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# Per-flow comparison of an independent capture (tshark fields, see FIELDS_TRUTH in
# test_agent_bpf_nfdump.sh) with what a collector decoded (nfdump -o fmt:, NFDUMP_FMT below).
# Usage: check_agent_bpf.py MODE MAC_A IFINDEX TRUTH_CSV NFDUMP_OUT
#   MODE xdp: only frames arriving on the metered veth (source MAC = A's) are flows;
#   MODE tc: both directions, ingress with input ifIndex, egress with output ifIndex.
# nfdump records are summed per key (the agent may end a TCP record at FIN and start a new
# one for the last ACK); ground truth is summed the same way, so a split cannot hide a loss.
# Exit 1 on any mismatch; prints one line per flow.
import collections, ipaddress, sys

# nfdump 1.7.1: %flg prints the 8 TCP flag bits as CEUAPRSF, '.' where unset.
def flags_bits(text):
    text = text.strip()
    if len(text) == 8 and set(text) <= set("CEUAPRSF."):
        return sum(0x80 >> i for i, ch in enumerate(text) if ch != ".")
    return int(text, 0) if text else 0

def norm(addr):
    return str(ipaddress.ip_address(addr.strip()))

def truth(mode, mac_a, ifx, path):
    want = collections.defaultdict(lambda: [0, 0, 0])
    for line in open(path):
        # Repeated fields (the inner header of an ICMP error) are ';'-joined: outer first.
        f = [x.split(";")[0] for x in line.rstrip("\n").split(",")]
        (src_mac, vlan, p4, s4, d4, len4, nxt6, s6, d6, plen6,
         tsp, tdp, usp, udp_, it, ic, i6t, i6c, tflags) = f[:19]
        ingress = src_mac.lower() == mac_a.lower()
        if mode == "xdp" and not ingress:
            continue  # XDP sees only what arrives on the interface
        if s4:
            proto, src, dst, octets = int(p4), s4, d4, int(len4)
        elif s6:
            proto = 58 if i6t else 6 if tsp else 17 if usp else int(nxt6)
            src, dst, octets = s6, d6, int(plen6) + 40  # octets = IP total length (IE 1)
        else:
            continue  # ARP: not a flow
        sp = dp = 0
        if proto == 6:
            sp, dp = int(tsp), int(tdp)
        elif proto == 17:
            sp, dp = int(usp), int(udp_)
        elif proto == 1:
            dp = int(it) << 8 | int(ic)
        elif proto == 58:
            dp = int(i6t) << 8 | int(i6c)
        key = (proto, norm(src), sp, norm(dst), dp,
               ifx if ingress else 0, 0 if ingress else ifx, int(vlan) if vlan else 0)
        w = want[key]
        w[0] += 1
        w[1] += octets
        if tflags:
            w[2] |= int(tflags, 16) & 0xFF
    return want

def collector(path):
    got = collections.defaultdict(lambda: [0, 0, 0])
    records = 0
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        p = [x.strip() for x in line.split("|")]
        if len(p) != 10:
            raise SystemExit("unparsable nfdump line: %r" % line)
        pr, sa, sp, da, dp, inif, outif, pkt, byt, flg = p
        proto = int(pr)
        if proto in (1, 58) and "." in dp:
            t, c = dp.split(".")  # nfdump prints ICMP type.code in the port column
            dpn, spn = int(t) << 8 | int(c), 0
        else:
            dpn, spn = int(float(dp)), int(sp)
        key = (proto, norm(sa), spn, norm(da), dpn, int(inif), int(outif))
        g = got[key]
        g[0] += int(pkt)
        g[1] += int(byt)
        g[2] |= flags_bits(flg) if proto == 6 else 0
        records += 1
    return got, records

def main():
    mode, mac_a, ifx, truth_f, nf_f = sys.argv[1:6]
    ifx = int(ifx)
    want_v = truth(mode, mac_a, ifx, truth_f)
    got, records = collector(nf_f)
    # The VLAN id is part of the agent's key but nfdump's %svln is not in the compared
    # columns: sum truth over VLAN too, after checking that VLAN-tagged frames are present.
    want = collections.defaultdict(lambda: [0, 0, 0])
    vlan_frames = 0
    for k, v in want_v.items():
        vlan_frames += v[0] if k[7] else 0
        w = want[k[:7]]
        w[0] += v[0]
        w[1] += v[1]
        w[2] |= v[2]
    # Generated traffic only: the kernel's own chatter to link-local/multicast addresses may
    # start before the agent attaches.
    ours = lambda k: any(a.startswith(("10.77.", "10.78.", "fd77:")) for a in (k[1], k[3]))
    want = {k: v for k, v in want.items() if ours(k)}
    got = {k: v for k, v in got.items() if ours(k)}
    bad = 0
    for k in sorted(set(want) | set(got), key=str):
        w, g = want.get(k), got.get(k)
        ok = w == g
        bad += not ok
        print(("ok  " if ok else "BAD ") + "%s %s: truth [pkts, bytes, tcpflags]=%s nfdump=%s"
              % (mode, k, w, g))
    tp = sum(v[0] for v in want.values())
    print("%s: %d flows, %d packets in ground truth (%d VLAN-tagged), %d nfdump records; "
          "mismatches: %d" % (mode, len(want), tp, vlan_frames, records, bad))
    egress = sum(1 for k in want if k[6])
    if vlan_frames < 50 or tp < 300 or (mode == "tc") != (egress > 0):
        print("ground truth incomplete: %d packets, %d VLAN frames, %d egress flows"
              % (tp, vlan_frames, egress))
        return 1
    return 1 if bad else 0

if __name__ == "__main__":
    sys.exit(main())
