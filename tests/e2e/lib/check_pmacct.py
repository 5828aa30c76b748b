#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# Compares pmacct print-plugin CSV (aggregate: src_host, dst_host, src_port, dst_port, proto,
# tos, timestamp_start, timestamp_end; appended over refreshes, so rows are summed per key)
# with the record file. Usage: check_pmacct.py RECORDS CSV RATE [ipfix|v9]
# v9 times: RFC 3954 §5.1 carries them as sysUptime-relative ms next to a UNIX Secs header field
# of 1 s resolution; the exporter states both header times for one whole-second instant, and
# nfacctd 1.7.7 computes unix_secs - (sysUptime - FIRST/LAST_SWITCHED) / 1000 in whole seconds
# (integer division, ms dropped), so a flow time of T ms comes out as ceil(T / 1000) s exactly.
# IPFIX flowStart/EndMilliseconds come out as sent.
import collections, csv, datetime, ipaddress, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from records import parse

PROTOS = {"tcp": 6, "udp": 17, "icmp": 1, "ipv6-icmp": 58, "icmpv6": 58}

def ms(text):
    d = datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f")
    return round(d.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)

def main():
    recs = parse(sys.argv[1])
    rate = int(sys.argv[3])
    v9 = len(sys.argv) > 4 and sys.argv[4] == "v9"
    def want_ms(t):
        return -(-t // 1000) * 1000 if v9 else t
    sums = collections.defaultdict(lambda: [0, 0])
    with open(sys.argv[2]) as f:
        for row in csv.DictReader(f):
            if row.get("SRC_IP") in (None, "SRC_IP"):
                continue
            p = row["PROTOCOL"]
            proto = int(p) if p.isdigit() else PROTOS.get(p.lower(), -1)
            key = (str(ipaddress.ip_address(row["SRC_IP"])), str(ipaddress.ip_address(row["DST_IP"])),
                   proto, int(row["SRC_PORT"]), int(row["TOS"]), ms(row["TIMESTAMP_START"]),
                   ms(row["TIMESTAMP_END"]))
            sums[key][0] += int(row["PACKETS"])
            sums[key][1] += int(row["BYTES"])
    errors = []
    for r in recs:
        key = (r["src"], r["dst"], r["proto"], r["sport"], r["tos"], want_ms(r["start"]),
               want_ms(r["end"]))
        got = sums.pop(key, None)
        if got is None:
            errors.append("flow %s not in nfacctd output" % (key,))
            continue
        if got != [r["packets"] * rate, r["octets"] * rate]:
            errors.append("flow %s: nfacctd packets/bytes %s, sent %s x rate %d"
                          % (key, got, [r["packets"], r["octets"]], rate))
    for k in sums:
        errors.append("unexpected nfacctd row %s" % (k,))
    for e in errors:
        print(e)
    return 1 if errors else 0

if __name__ == "__main__":
    sys.exit(main())
