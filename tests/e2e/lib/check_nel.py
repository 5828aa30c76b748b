#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# Compares what a real decoder made of NAT-event (RFC 8158) and biflow (RFC 5103) export with
# the record file (tests/data/records/nat.txt, parsed independently by records.py).
# Usage: check_nel.py DECODER RECORDS OUTPUT PROTO(ipfix|v9) BIFLOW(0|1)
#   tshark: OUTPUT = `tshark -T pdml` of the capture. Every flow record with its key, post-NAT
#           fields, forward counters, absolute times (IPFIX) and, with BIFLOW, the reverse
#           counters as PEN 29305 fields and biflowDirection 1 (without BIFLOW: no reverse
#           field at all); every IPv4 NAT event with natEvent, observationTimeMilliseconds (ms
#           exact), pre/post-NAT addresses and ports, protocol.
#   nfdump: OUTPUT = `nfdump -q -N -o fmt:%pr|%sa|%sp|%da|%dp|%nsa|%nsp|%nda|%ndp|%nevt|%msec|
#           %pkt|%byt|%opkt|%obyt`. The same, with out packets/bytes = reverse counters (IPFIX
#           biflow) or 0. Not compared (README): ICMP ports of NAT events, which nfdump 1.7.1
#           re-derives from type/code; nfdump's event column for plain flows.
#   pmacct: OUTPUT = nfacctd print-plugin CSV (aggregate: src_host, dst_host, src_port,
#           dst_port, proto, post_nat_src_host, post_nat_dst_host, post_nat_src_port,
#           post_nat_dst_port, nat_event, timestamp_start). Events: everything, time ms exact;
#           flows: key, post-NAT fields, forward counters (nfacctd 1.7.7 ignores RFC 5103
#           reverse IEs; README), start time (IPFIX).
# Records are compared as multisets of normalized tuples; a mismatch prints both sides.
import collections, csv, datetime, ipaddress, os, sys
import xml.etree.ElementTree as ET
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from records import parse

PROTO_NAMES = {"tcp": 6, "udp": 17, "icmp": 1, "ipv6-icmp": 58, "icmp6": 58, "icmpv6": 58}
EVENT_NAMES = {"ADD": 1, "DELETE": 2}


def addr(text):
    return str(ipaddress.ip_address(text.strip()))


def want(recs, proto, biflow, decoder):
    """Expected tuples: flows and IPv4 NAT events."""
    out = []
    for r in recs:
        icmp = r["proto"] in (1, 58)
        if r["nat_event"]:
            if r["v6"]:
                continue  # never exported: RFC 8158 has no NAT66 event
            sport, dport = r["sport"], r["dport"]
            if decoder == "nfdump" and icmp:
                sport = dport = None
            out.append(("event", r["nat_event"], r["src"], r["dst"], sport, dport, r["proto"],
                        r["post_src"], r["post_dst"], r["post_sport"], r["post_dport"],
                        r["start"]))
            continue
        dport = r["dport"]
        if icmp and proto == "ipfix" and decoder == "pmacct":
            dport = 0  # IPFIX: type/code in icmpTypeCode, which nfacctd does not show as a port
        if icmp and decoder == "nfdump":
            dport = None
        post = (r["post_src"], r["post_dst"], r["post_sport"], r["post_dport"]) if r["nat"] \
            else None
        rev = (r["rev_packets"], r["rev_octets"]) if biflow else (0, 0)
        if decoder == "pmacct":
            rev = None
        times = (r["start"], r["end"]) if proto == "ipfix" else None
        if decoder == "pmacct":
            times = (r["start"],) if proto == "ipfix" else None
        if decoder == "nfdump":
            times = None  # covered by test_decoders_nfdump.sh
        out.append(("flow", r["src"], r["dst"], r["sport"], dport, r["proto"], post,
                    r["packets"], r["octets"], rev, times))
    return out


def hexint(f):
    return int(f.get("value"), 16)


def tshark_records(path, proto, biflow):
    got, problems = [], []
    for flow in ET.parse(path).iter("field"):
        if not (flow.get("show") or "").startswith("Flow "):
            continue
        kids = [k for k in flow.iter("field") if k is not flow]
        by = collections.defaultdict(list)
        for k in kids:
            by[k.get("name")].append(k)
        one = lambda n: by[n][0].get("show") if by[n] else None
        if "cflow.nat_event" in by:
            got.append(("event", int(one("cflow.nat_event")), addr(one("cflow.srcaddr")),
                        addr(one("cflow.dstaddr")), int(one("cflow.srcport")),
                        int(one("cflow.dstport")), int(one("cflow.protocol")),
                        addr(one("cflow.post_natsource_ipv4_address")),
                        addr(one("cflow.post_natdestination_ipv4_address")),
                        int(one("cflow.post_naptsource_transport_port")),
                        int(one("cflow.post_naptdestination_transport_port")),
                        hexint(by["cflow.observation_time_milliseconds"][0])))
            continue
        v6 = "cflow.srcaddrv6" in by
        if not v6 and "cflow.srcaddr" not in by:
            continue  # options record
        src = addr(one("cflow.srcaddrv6" if v6 else "cflow.srcaddr"))
        dst = addr(one("cflow.dstaddrv6" if v6 else "cflow.dstaddr"))
        fwd = {n: [k for k in by[n] if "Reverse" not in k.get("showname", "")]
               for n in ("cflow.packets", "cflow.octets")}
        rev = {n: [k for k in by[n] if "Reverse" in k.get("showname", "")]
               for n in ("cflow.packets", "cflow.octets")}
        post = None
        ps = "cflow.post_nat_source_ipv6_address" if v6 else "cflow.post_natsource_ipv4_address"
        pd = "cflow.post_nat_destination_ipv6_address" if v6 else \
            "cflow.post_natdestination_ipv4_address"
        if ps in by:
            post = (addr(one(ps)), addr(one(pd)), int(one("cflow.post_naptsource_transport_port")),
                    int(one("cflow.post_naptdestination_transport_port")))
            if post == ("::" if v6 else "0.0.0.0",) * 2 + (0, 0):
                post = None  # not NATed
        if biflow:
            if len(rev["cflow.packets"]) != 1 or len(rev["cflow.octets"]) != 1:
                problems.append(f"{src}->{dst}: reverse packets/octets (PEN 29305) not decoded")
                r = None
            else:
                r = (int(rev["cflow.packets"][0].get("show")),
                     int(rev["cflow.octets"][0].get("show")))
            if one("cflow.biflow_direction") != "1":
                problems.append(f"{src}->{dst}: biflowDirection "
                                f"{one('cflow.biflow_direction')}, want 1")
        else:
            if rev["cflow.packets"] or rev["cflow.octets"]:
                problems.append(f"{src}->{dst}: reverse fields in a uniflow export")
            r = (0, 0)
        times = None
        if proto == "ipfix":
            times = (hexint(by["cflow.abstimestart"][0]), hexint(by["cflow.abstimeend"][0]))
        dport = int(one("cflow.dstport"))
        pr = int(one("cflow.protocol"))
        if pr in (1, 58):
            # IPFIX: icmpTypeCodeIPv4/IPv6 (32/139), type << 8 | code as the v9 convention puts
            # it in the destination port; v9 carries it in the port itself.
            tc = one("cflow.icmp_type_code_ipv4" if pr == 1 else "cflow.icmp_type_code_ipv6")
            if tc is None:
                t = one("cflow.icmp_ipv4_type" if pr == 1 else "cflow.icmp_ipv6_type")
                c = one("cflow.icmp_ipv4_code" if pr == 1 else "cflow.icmp_ipv6_code")
                tc = None if t is None else str(int(t, 0) << 8 | int(c or "0", 0))
            if proto == "ipfix" and tc is None:
                problems.append(f"{src}->{dst}: ICMP type/code not decoded")
            if tc is not None:
                dport = int(tc, 0)
        got.append(("flow", src, dst, int(one("cflow.srcport")), dport, pr, post, int(fwd["cflow.packets"][0].get("show")),
                    int(fwd["cflow.octets"][0].get("show")), r, times))
    return got, problems


def nfdump_records(path, proto, biflow):
    got = []
    for line in open(path):
        f = [x.strip() for x in line.split("|")]
        if len(f) < 15:
            continue
        p = PROTO_NAMES.get(f[0].lower(), None)
        p = int(f[0]) if p is None else p
        icmp = p in (1, 58)
        if f[9] in EVENT_NAMES:
            got.append(("event", EVENT_NAMES[f[9]], addr(f[1]), addr(f[3]),
                        None if icmp else int(f[2]), None if icmp else int(f[4]), p, addr(f[5]),
                        addr(f[7]), int(f[6]), int(f[8]), int(f[10])))
            continue
        v6 = ":" in f[1]
        post = (addr(f[5]), addr(f[7]), int(f[6]), int(f[8]))
        if int(ipaddress.ip_address(post[0])) == 0 and int(ipaddress.ip_address(post[1])) == 0 \
                and post[2:] == (0, 0):
            post = None
        got.append(("flow", addr(f[1]), addr(f[3]), int(f[2]), None if icmp else int(f[4]), p,
                    post, int(f[11]), int(f[12]), (int(f[13]), int(f[14])), None))
    return got, []


def ms(text):
    d = datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f")
    return round(d.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)


def pmacct_records(path, proto, biflow):
    sums = collections.OrderedDict()
    with open(path) as fh:
        for row in csv.DictReader(fh):
            if row.get("SRC_IP") in (None, "SRC_IP"):
                continue
            k = tuple(row[c] for c in ("SRC_IP", "DST_IP", "SRC_PORT", "DST_PORT", "PROTOCOL",
                                       "POST_NAT_SRC_IP", "POST_NAT_DST_IP", "POST_NAT_SRC_PORT",
                                       "POST_NAT_DST_PORT", "NAT_EVENT", "TIMESTAMP_START"))
            s = sums.setdefault(k, [0, 0])
            s[0] += int(row["PACKETS"])
            s[1] += int(row["BYTES"])
    got = []
    for k, (pk, by) in sums.items():
        p = PROTO_NAMES.get(k[4].lower())
        p = int(k[4]) if p is None else p
        ev = int(k[9])
        if ev:
            got.append(("event", ev, addr(k[0]), addr(k[1]), int(k[2]), int(k[3]), p, addr(k[5]),
                        addr(k[6]), int(k[7]), int(k[8]), ms(k[10])))
            continue
        post = (addr(k[5]), addr(k[6]), int(k[7]), int(k[8])) if k[5] else None
        if post and post[2:] == (0, 0) and int(ipaddress.ip_address(post[0])) == 0:
            post = None
        times = (ms(k[10]),) if proto == "ipfix" else None
        got.append(("flow", addr(k[0]), addr(k[1]), int(k[2]), int(k[3]), p, post, pk, by, None,
                    times))
    return got, []


def main():
    decoder, records, output, proto, biflow = sys.argv[1:6]
    biflow = biflow == "1"
    recs = parse(records)
    exp = want(recs, proto, biflow, decoder)
    reader = {"tshark": tshark_records, "nfdump": nfdump_records, "pmacct": pmacct_records}[decoder]
    got, problems = reader(output, proto, biflow)
    # The tool exports the file once per round; tshark/pmacct may see template refreshes but
    # each record once per round: compare one round (the multiset of distinct records).
    e_count, g_count = collections.Counter(map(repr, exp)), collections.Counter(map(repr, got))
    for k in sorted(set(e_count) | set(g_count)):
        if e_count[k] != g_count[k]:
            problems.append(f"want {e_count[k]} got {g_count[k]}: {k}")
    for p in problems:
        print(f"check_nel {decoder}: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"check_nel {decoder}: {len(exp)} records match "
          f"({sum(1 for e in exp if e[0] == 'event')} NAT events)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
