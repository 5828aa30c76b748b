#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# v9 and IPFIX say the same time for the same flow: tshark's decode (-T json) of what the v9
# collector and what the IPFIX collector received from one agent. v9 (RFC 3954 §5.1): absolute =
# unix_secs * 1000 - sysUpTime + FIRST/LAST_SWITCHED (all from the header and record as tshark
# decodes them); IPFIX: flowStart/EndMilliseconds. Per flow key (protocol, addresses, ports) the
# records of both streams, in time order, must agree within 1 ms at start and at end.
# Usage: check_times.py V9_JSON IPFIX_JSON [--opened-before PROTO:SRC:SPORT T_OPEN0 T_OPEN1 T_AGENT]
# --opened-before: that flow's connection was opened in [T_OPEN0, T_OPEN1] (epoch ms), before
# the agent started (T_AGENT): both streams must put its start in that window (not at or after
# the agent's start, where a clamp to the agent's own uptime origin would put it).
import ipaddress, json, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_tshark import abs_ms, find_key, first, flat, walk_records


def secs_ms(text):
    """tshark relative time ("12.500000000" or "12.500000000 seconds") in ms, exact."""
    t = text.split()[0]
    whole, _, frac = t.partition(".")
    return int(whole) * 1000 + int((frac + "000")[:3])


def flows(path, v9):
    out = {}
    for fr in json.load(open(path)):
        cflow = fr["_source"]["layers"].get("cflow")
        if cflow is None:
            continue
        pdus = []
        walk_records(cflow, pdus)
        for p in pdus:
            f = flat(p)
            if "cflow.protocol" not in f:
                continue
            src = f.get("cflow.srcaddr") or f.get("cflow.srcaddrv6")
            dst = f.get("cflow.dstaddr") or f.get("cflow.dstaddrv6")
            key = (int(f["cflow.protocol"]), str(ipaddress.ip_address(src)),
                   int(f.get("cflow.srcport", "0")), str(ipaddress.ip_address(dst)),
                   int(f.get("cflow.dstport", "0")) if int(f["cflow.protocol"]) not in (1, 58) else 0)
            if v9:
                base = int(first(find_key(cflow, "cflow.unix_secs"))) * 1000 - \
                    secs_ms(first(find_key(cflow, "cflow.sysuptime")))
                t = (base + secs_ms(f["cflow.timestart"]), base + secs_ms(f["cflow.timeend"]))
            else:
                t = (abs_ms(f["cflow.abstimestart"]), abs_ms(f["cflow.abstimeend"]))
            out.setdefault(key, []).append(t)
    return {k: sorted(v) for k, v in out.items()}


def main():
    v9, ipfix = flows(sys.argv[1], True), flows(sys.argv[2], False)
    errors = []
    if not v9:
        errors.append("no v9 flow record decoded")
    if set(v9) != set(ipfix):
        errors.append("flows only in v9: %s; only in IPFIX: %s"
                      % (sorted(set(v9) - set(ipfix)), sorted(set(ipfix) - set(v9))))
    worst = 0
    for k in sorted(set(v9) & set(ipfix)):
        a, b = v9[k], ipfix[k]
        if len(a) != len(b):
            errors.append("%s: %d v9 records, %d IPFIX" % (k, len(a), len(b)))
            continue
        for (s9, e9), (sx, ex) in zip(a, b):
            d = max(abs(s9 - sx), abs(e9 - ex))
            worst = max(worst, d)
            print("%s: v9 %d..%d, IPFIX %d..%d, |diff| %d ms %s"
                  % (k, s9, e9, sx, ex, d, "ok" if d <= 1 else "WRONG"))
            if d > 1:
                errors.append("%s: v9 and IPFIX differ by %d ms" % (k, d))
    args = sys.argv[3:]
    while args:
        if args[0] != "--opened-before":
            errors.append("bad argument %s" % args[0])
            break
        proto, src, sport = args[1].split(":")
        t0, t1, tagent = int(args[2]), int(args[3]), int(args[4])
        args = args[5:]
        hit = [(k, t) for k, ts in list(v9.items()) + list(ipfix.items()) for t in ts
               if k[0] == int(proto) and k[1] == src and k[2] == int(sport)]
        if len(hit) < 2:
            errors.append("connection %s:%s:%s opened before the agent: %d records, want one "
                          "per stream at least" % (proto, src, sport, len(hit)))
        for k, (s, _) in hit:
            ok = t0 - 1 <= s <= t1 + 1 and s < tagent
            print("opened before the agent (%d..%d, agent %d): %s starts %d %s"
                  % (t0, t1, tagent, k, s, "ok" if ok else "WRONG"))
            if not ok:
                errors.append("%s starts at %d, opened in %d..%d, agent started %d"
                              % (k, s, t0, t1, tagent))
    print("flows %d, worst |v9 - IPFIX| %d ms" % (len(v9), worst))
    for e in errors:
        print("check_times: " + e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
