#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# "No filler values": decodes every datagram one collector received (hex UDP payloads, one per
# line: `tshark -r CAP -T fields -e udp.payload`) with a template-driven NetFlow v9 (RFC 3954)
# / IPFIX (RFC 7011) decoder written from the RFCs (variable-length fields, enterprise bits, v9
# options scope lengths), and fails when a field of a template is zero in every record of a
# varied workload, unless the standard or the workload makes zero the truth there (ZERO_OK
# below, each with its reason). Also checks the framing: every v9 FlowSet is a multiple of 4
# bytes with zero padding shorter than a record (RFC 3954 §5.3), IPFIX sets hold whole records
# and nothing else, and the header length / Count match.
# Usage: check_fields.py NAME HEXFILE [--expect-templates N] [--ie-absent IE,...]
# Prints one line per template: ID, records, fields (IE) and which were all zero.
import sys

NAMES = {1: "octetDeltaCount", 2: "packetDeltaCount", 4: "protocol", 5: "ipClassOfService",
         6: "tcpControlBits", 7: "srcPort", 8: "srcIPv4", 10: "ingressInterface", 11: "dstPort",
         12: "dstIPv4", 14: "egressInterface", 21: "LAST_SWITCHED", 22: "FIRST_SWITCHED",
         27: "srcIPv6", 28: "dstIPv6", 32: "icmpTypeCodeIPv4", 34: "samplingInterval",
         56: "srcMac", 58: "vlanId", 61: "flowDirection", 80: "dstMac", 136: "flowEndReason",
         139: "icmpTypeCodeIPv6", 152: "flowStartMilliseconds", 153: "flowEndMilliseconds",
         225: "postNATSrcIPv4", 226: "postNATDstIPv4", 227: "postNAPTSrcPort",
         228: "postNAPTDstPort", 281: "postNATSrcIPv6", 282: "postNATDstIPv6"}

# Zero is the truth for these, in the templates named, and only there:
#  - flowDirection 0 = ingress (IANA): a template with ingressInterface and without
#    egressInterface holds only records of an ingress hook;
#  - hashOutputRangeMin 329 / hashSelectedRangeMin 331: the ranges start at 0 by definition of
#    the selection (flow/flow_hash.h); hashInitialiserValue 334: the BOB initval is 0;
#  - samplingPacketSpace 306 / samplingFlowSpacing 397 at rate 1 (interval 1, space 0);
#  - the exporter statistics' loss counters 164-168 (ignored, not sent): zero when nothing was
#    lost; the caller checks that the agent's own summary reports no loss.
def zero_ok(ie, fields, values):
    ids = [f[0] for f in fields]
    if ie == 61:
        return 10 in ids and 14 not in ids
    if ie in (329, 331, 334):
        return True
    if ie in (306, 397):
        return values.get(34) == 1 or values.get(305) == 1 and values.get(306) == 0
    return ie in (164, 165, 166, 167, 168)


def be(b):
    return int.from_bytes(b, "big")


def main():
    name, path = sys.argv[1], sys.argv[2]
    expect_templates = None
    absent = set()
    args = sys.argv[3:]
    while args:
        if args[0] == "--expect-templates":
            expect_templates = int(args[1])
        elif args[0] == "--ie-absent":
            absent = {int(x) for x in args[1].split(",") if x}
        args = args[2:]
    errors = []
    tmpl = {}        # template id -> (fields [(ie, len)], n_scope)
    nonzero = {}     # template id -> set of field indexes seen non-zero
    nrec = {}
    last = {}        # template id -> {ie: last value} (for ZERO_OK conditions)
    dgrams = 0
    for line in open(path):
        h = line.strip().split(",")[0]
        if not h:
            continue
        d = bytes.fromhex(h.replace(":", ""))
        dgrams += 1
        ver = be(d[0:2])
        if ver == 10:
            if be(d[2:4]) != len(d):
                errors.append("datagram %d: IPFIX length %d, datagram %d" % (dgrams, be(d[2:4]), len(d)))
            off = 16
        elif ver == 9:
            off = 20
        else:
            errors.append("datagram %d: version %d" % (dgrams, ver))
            continue
        records = 0
        while off + 4 <= len(d):
            sid, slen = be(d[off:off + 2]), be(d[off + 2:off + 4])
            if slen < 4 or off + slen > len(d):
                errors.append("datagram %d: set %d length %d overruns" % (dgrams, sid, slen))
                break
            if ver == 9 and slen % 4:
                errors.append("datagram %d: v9 FlowSet %d length %d is not a multiple of 4"
                              % (dgrams, sid, slen))
            p, end = off + 4, off + slen
            if sid in (0, 1, 2, 3):
                while end - p >= 4 and not (ver == 9 and be(d[p:p + 2]) == 0):
                    tid = be(d[p:p + 2])
                    if sid in (1, 3):
                        if sid == 1:
                            n_scope = be(d[p + 2:p + 4]) // 4
                            n = n_scope + be(d[p + 4:p + 6]) // 4
                        else:
                            n, n_scope = be(d[p + 2:p + 4]), be(d[p + 4:p + 6])
                        p += 6
                    else:
                        n, n_scope = be(d[p + 2:p + 4]), 0
                        p += 4
                    fields = []
                    for _ in range(n):
                        ie, ln = be(d[p:p + 2]), be(d[p + 2:p + 4])
                        p += 4
                        if ver == 10 and ie & 0x8000:
                            ie = (ie & 0x7fff) | (be(d[p:p + 4]) << 16)  # keep the PEN apart
                            p += 4
                        fields.append((ie, ln))
                    tmpl[tid] = (fields, n_scope)
                    records += 1
            else:
                if sid not in tmpl:
                    errors.append("datagram %d: data set %d without template" % (dgrams, sid))
                    off = end
                    continue
                fields, _ = tmpl[sid]
                while p < end:
                    q, vals = p, []
                    for ie, ln in fields:
                        if ln == 65535:
                            if q >= end:
                                break
                            ln, q = d[q], q + 1
                            if ln == 255:
                                ln, q = be(d[q:q + 2]), q + 2
                        vals.append(d[q:q + ln])
                        q += ln
                    if len(vals) != len(fields) or q > end:
                        break
                    p = q
                    records += 1
                    nrec[sid] = nrec.get(sid, 0) + 1
                    seen = nonzero.setdefault(sid, set())
                    lv = last.setdefault(sid, {})
                    for i, v in enumerate(vals):
                        if any(v):
                            seen.add(i)
                        lv[fields[i][0]] = be(v) if len(v) <= 8 else None
            pad = d[p:end]
            if pad and (ver == 10 or len(pad) >= 4 or any(pad)):
                errors.append("datagram %d: set %d ends in %d stray bytes %s"
                              % (dgrams, sid, len(pad), pad.hex()))
            off = end
        if off != len(d):
            errors.append("datagram %d: %d bytes after the last set" % (dgrams, len(d) - off))
        if ver == 9 and be(d[2:4]) != records:
            errors.append("datagram %d: v9 Count %d, holds %d records" % (dgrams, be(d[2:4]), records))
    if dgrams == 0:
        errors.append("no datagram")
    for tid in sorted(tmpl):
        fields, n_scope = tmpl[tid]
        n = nrec.get(tid, 0)
        ies = [f[0] for f in fields]
        for ie in (absent & set(ies)) if n_scope == 0 else ():  # data templates
            errors.append("template %d carries IE %d (%s), which this source cannot observe"
                          % (tid, ie, NAMES.get(ie, "?")))
        if n == 0:
            print("%s: template %d: no records (fields %s)" % (name, tid, ies))
            continue
        zero = [ie for i, (ie, _) in enumerate(fields) if i not in nonzero.get(tid, set())]
        bad = [ie for ie in zero if not zero_ok(ie, fields, last.get(tid, {}))]
        print("%s: template %d: %d records, fields %s; zero in every record: %s%s"
              % (name, tid, n, ies, zero or "none",
                 (" (NOT the truth: %s)" % [NAMES.get(ie, ie) for ie in bad]) if bad else ""))
        for ie in bad:
            errors.append("template %d: IE %d (%s) is zero in all %d records"
                          % (tid, ie, NAMES.get(ie, "?"), n))
    with_recs = sum(1 for t in tmpl if nrec.get(t, 0))
    if expect_templates is not None and with_recs < expect_templates:
        errors.append("%d templates with records, want at least %d" % (with_recs, expect_templates))
    print("%s: %d datagrams, %d templates, %d with records" % (name, dgrams, len(tmpl), with_recs))
    for e in errors:
        print("%s: %s" % (name, e))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
