#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# Compares nfdump's per-flow output (NFDUMP_FMT below, '|'-separated, -q -N) with the record
# file's ground truth. Usage: check_nfdump.py RECORDS NFDUMP_OUTPUT RATE mac|nomac ipfix|v9
# Exit 1 with a line per mismatch.
import datetime, ipaddress, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from records import parse

FIELDS = "ts te sa da sp dp pr pkt byt in out tos flg dir svln ismc idmc".split()

def flags_str(bits):
    # nfdump 1.7 prints tcp flags as 8 chars CEUAPRSF, '.' where unset.
    letters = "CEUAPRSF"
    return "".join(l if bits & (0x80 >> i) else "." for i, l in enumerate(letters))

def epoch_ms(text):
    # %ts/%te print "YYYY-MM-DD HH:MM:SS.mmm" in local time; the test runs nfdump with TZ=UTC.
    # (%tsr/%ter are not used: nfdump 1.7.1 prints a wrong fraction for %ter.)
    d = datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f")
    return round(d.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)

def main():
    recs = parse(sys.argv[1])
    rate = int(sys.argv[3])
    mac = len(sys.argv) > 4 and sys.argv[4] == "mac"
    v9 = len(sys.argv) > 5 and sys.argv[5] == "v9"
    rows = []
    for line in open(sys.argv[2]):
        line = line.strip()
        if not line:
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != len(FIELDS):
            print("unparsable nfdump line: %r" % line)
            return 1
        rows.append(dict(zip(FIELDS, parts)))
    errors = []
    if len(rows) != len(recs):
        errors.append("flows: nfdump shows %d, sent %d" % (len(rows), len(recs)))
    def key(src, dst, proto, sport):
        return (str(ipaddress.ip_address(src)), str(ipaddress.ip_address(dst)), int(proto), int(sport))
    by_key = {}
    for row in rows:
        by_key.setdefault(key(row["sa"], row["da"], row["pr"], row["sp"]), []).append(row)
    for r in recs:
        k = (r["src"], r["dst"], r["proto"], r["sport"])
        cands = by_key.get(k, [])
        if not cands:
            errors.append("flow %s not in nfdump output" % (k,))
            continue
        row = cands.pop(0)
        name = "%s -> %s proto %d" % (r["src"], r["dst"], r["proto"])
        def eq(field, got, want):
            if str(got) != str(want):
                errors.append("%s: %s: nfdump %r, sent %r" % (name, field, got, want))
        for what, got, want in (("start ms", epoch_ms(row["ts"]), r["start"]),
                                ("end ms", epoch_ms(row["te"]), r["end"])):
            if v9:
                # RFC 3954 §5.1: v9 times are sysUptime-relative and the header's UNIX Secs has
                # 1 s resolution, so a collector places them within [0, 1000) ms before.
                if not 0 <= want - got < 1000:
                    errors.append("%s: %s: nfdump %d, sent %d (v9 window 1 s)" % (name, what, got, want))
            else:
                eq(what, got, want)
        if r["proto"] in (1, 58):
            # nfdump shows ICMP type.code in the destination port column.
            dp = row["dp"]
            want = "%d.%d" % (r["icmp_type"], r["icmp_code"])
            if dp != want and dp != str(r["dport"]):
                errors.append("%s: icmp: nfdump dp %r, sent %s" % (name, dp, want))
        else:
            eq("dport", row["dp"], r["dport"])
        eq("packets", row["pkt"], r["packets"] * rate)
        eq("bytes", row["byt"], r["octets"] * rate)
        eq("in_if", row["in"], r["in_if"])
        eq("out_if", row["out"], r["out_if"])
        eq("tos", row["tos"], r["tos"])
        if r["proto"] == 6:
            eq("tcp flags", row["flg"], flags_str(r["tcp_flags"]))
        eq("direction", row["dir"], ["I", "E"][r["dir"]])  # nfdump 1.7.1 prints I / E
        eq("vlan", row["svln"], r["vlan"])
        if mac and r["src_mac"]:
            eq("src mac", row["ismc"].lower(), r["src_mac"])
            eq("dst mac", row["idmc"].lower(), r["dst_mac"])
    for e in errors:
        print(e)
    return 1 if errors else 0

if __name__ == "__main__":
    sys.exit(main())
