#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# Ground truth for the decoder tests: parses a tests/data/records file independently of the C++
# tool and prints what collectors must show. Usage:
#   records.py FILE json            -> JSON list of records (ints, normalized addresses)
#   records.py FILE totals [RATE]   -> "flows packets octets" (counts scaled by RATE)
import ipaddress, json, sys

REASONS = {"none": 0, "idle": 1, "active": 2, "end": 3, "forced": 4, "lack": 5}

def parse(path):
    out = []
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        r = dict(kv.split("=", 1) for kv in line.split())
        rec = {
            "src": str(ipaddress.ip_address(r["src"])),
            "dst": str(ipaddress.ip_address(r["dst"])),
            "v6": ipaddress.ip_address(r["src"]).version == 6,
            "proto": int(r["proto"], 0),
            "sport": int(r.get("sport", "0"), 0),
            "dport": int(r.get("dport", "0"), 0),
            "tos": int(r.get("tos", "0"), 0),
            "tcp_flags": int(r.get("tcp_flags", "0"), 0),
            "in_if": int(r.get("in_if", "0"), 0),
            "out_if": int(r.get("out_if", "0"), 0),
            "dir": {"ingress": 0, "in": 0, "0": 0, "egress": 1, "out": 1, "1": 1}[r.get("dir", "ingress")],
            "vlan": int(r.get("vlan", "0"), 0),
            # NAT event lines (nat_event=...) have no counters.
            "packets": int(r["packets"] if "nat_event" not in r else r.get("packets", "0"), 0),
            "octets": int(r["octets"] if "nat_event" not in r else r.get("octets", "0"), 0),
            "start": int(r["start"], 0),
            "end": int(r["end"], 0),
            "end_reason": REASONS.get(r.get("end_reason", "none"), None),
            "src_mac": r.get("src_mac", "").lower(),
            "dst_mac": r.get("dst_mac", "").lower(),
        }
        # NAT (post_*), biflow (rev_*) and NAT event (nat_event) fields: tests/data/records/README.
        rec["nat"] = "post_src" in r
        zero = "::" if rec["v6"] else "0.0.0.0"
        rec["post_src"] = str(ipaddress.ip_address(r.get("post_src", zero)))
        rec["post_dst"] = str(ipaddress.ip_address(r.get("post_dst", zero)))
        rec["post_sport"] = int(r.get("post_sport", "0"), 0)
        rec["post_dport"] = int(r.get("post_dport", "0"), 0)
        rec["biflow"] = "rev_packets" in r or "rev_octets" in r
        rec["rev_packets"] = int(r.get("rev_packets", "0"), 0)
        rec["rev_octets"] = int(r.get("rev_octets", "0"), 0)
        rec["rev_icmp"] = (int(r.get("rev_icmp_type", "0"), 0) << 8
                           | int(r.get("rev_icmp_code", "0"), 0))
        rec["nat_event"] = {"create": 1, "delete": 2}.get(r.get("nat_event", ""), 0)
        if rec["end_reason"] is None:
            rec["end_reason"] = int(r["end_reason"], 0)
        if "icmp_type" in r or "icmp_code" in r:
            rec["icmp_type"] = int(r.get("icmp_type", "0"), 0)
            rec["icmp_code"] = int(r.get("icmp_code", "0"), 0)
            # NAT events keep sport: the echo identifier (flow/nat_event.h).
            rec["sport"] = int(r.get("sport", "0"), 0) if rec["nat_event"] else 0
            rec["dport"] = rec["icmp_type"] << 8 | rec["icmp_code"]
        out.append(rec)
    return out

if __name__ == "__main__":
    recs = parse(sys.argv[1])
    if sys.argv[2] == "json":
        json.dump(recs, sys.stdout, indent=1)
    elif sys.argv[2] == "totals":
        rate = int(sys.argv[3]) if len(sys.argv) > 3 else 1
        print(len(recs), sum(r["packets"] for r in recs) * rate, sum(r["octets"] for r in recs) * rate)
