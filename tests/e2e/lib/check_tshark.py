#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# Checks tshark's decoding of exported NetFlow v9 / IPFIX against the record file.
# Usage: check_tshark.py RECORDS TSHARK_JSON PROTO(ipfix|v9) RATE [mac]
# TSHARK_JSON: `tshark -r CAP -d udp.port==P,cflow -T json --no-duplicate-keys`.
# Checks: every sent record appears once with the sent field values; sequence numbers follow
# RFC 7011 §3.1 (IPFIX: count of data records sent before this message) or RFC 3954 §5.1 (v9:
# count of export packets); the v9 Count equals template + data records in the packet.
import datetime, ipaddress, json, os, re, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from records import parse

def walk_records(node, out):
    """Collects decoded data records (flow and options): tshark 4.0 shows each as an object
    named "Flow N" inside a data set."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "pdu" or re.match(r"^Flow \d+$", k):
                for pdu in (v if isinstance(v, list) else [v]):
                    out.append(pdu)
            else:
                walk_records(v, out)
    elif isinstance(node, list):
        for v in node:
            walk_records(v, out)

def count_key(node, key):
    n = 0
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                n += len(v) if isinstance(v, list) else 1
            else:
                n += count_key(v, key)
    elif isinstance(node, list):
        for v in node:
            n += count_key(v, key)
    return n

def find_key(node, key):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                return v
            r = find_key(v, key)
            if r is not None:
                return r
    elif isinstance(node, list):
        for v in node:
            r = find_key(v, key)
            if r is not None:
                return r
    return None

def iter_key(node, key):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                for x in (v if isinstance(v, list) else [v]):
                    yield x
            else:
                yield from iter_key(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from iter_key(v, key)

def first(v):
    return v[0] if isinstance(v, list) else v

def flat(pdu):
    """All leaf fields of one record as name -> string (first occurrence)."""
    out = {}
    def rec(n):
        if isinstance(n, dict):
            for k, v in n.items():
                if isinstance(v, (dict, list)) and not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
                    rec(v)
                else:
                    out.setdefault(k, first(v))
    rec(pdu)
    return out

def abs_ms(text):
    # tshark 4.0 prints absolute times like "Nov 26, 2026 21:00:00.123000000 UTC".
    t = text.strip()
    for suffix in (" UTC", " GMT"):
        if t.endswith(suffix):
            t = t[: -len(suffix)]
    date, frac = t.rsplit(".", 1)
    d = datetime.datetime.strptime(date, "%b %d, %Y %H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return int(d.timestamp()) * 1000 + int(frac[:3].ljust(3, "0"))

def main():
    recs = parse(sys.argv[1])
    frames = json.load(open(sys.argv[2]))
    proto, rate = sys.argv[3], int(sys.argv[4])
    mac = len(sys.argv) > 5 and sys.argv[5] == "mac"
    errors = []
    decoded = []
    seq_prev = None
    for fr in frames:
        layers = fr["_source"]["layers"]
        text = json.dumps(layers)
        sev = [int(first(v), 0) for v in iter_key(layers, "_ws.expert.severity")]
        # Wireshark severities: chat 0x200000, note 0x400000, warn 0x600000, error 0x800000.
        if "_ws.malformed" in text or any(s >= 0x600000 for s in sev):
            errors.append("frame %s: malformed or expert warning/error: %s"
                          % (layers["frame"]["frame.number"],
                             [m for m in iter_key(layers, "_ws.expert.message")][:5]))
        cflow = layers.get("cflow")
        if cflow is None:
            continue
        version = int(first(find_key(cflow, "cflow.version")))
        want_version = 10 if proto == "ipfix" else 9
        if version != want_version:
            errors.append("version %d, want %d" % (version, want_version))
        if "no template" in json.dumps(cflow).lower():
            errors.append("frame %s: data without template" % layers["frame"]["frame.number"])
        pdus = []
        walk_records(cflow, pdus)
        seq = int(first(find_key(cflow, "cflow.sequence")))
        ntemplates = count_key(cflow, "cflow.template_id")
        if proto == "ipfix":
            if seq_prev is not None and seq != seq_prev[0] + seq_prev[1]:
                errors.append("IPFIX sequence %d, want %d + %d" % (seq, seq_prev[0], seq_prev[1]))
            seq_prev = (seq, len(pdus))
        else:
            if seq_prev is not None and seq != seq_prev[0] + 1:
                errors.append("v9 sequence %d after %d" % (seq, seq_prev[0]))
            seq_prev = (seq, 1)
            count = int(first(find_key(cflow, "cflow.count")))
            if count != len(pdus) + ntemplates:
                errors.append("v9 count %d, packet holds %d data + %d template records"
                              % (count, len(pdus), ntemplates))
        for p in pdus:
            f = flat(p)
            if "cflow.protocol" in f:
                f["_unix_secs"] = first(find_key(cflow, "cflow.unix_secs"))
                f["_sysuptime"] = first(find_key(cflow, "cflow.sysuptime"))
                decoded.append(f)
    if len(decoded) != len(recs):
        errors.append("tshark decoded %d flow records, sent %d" % (len(decoded), len(recs)))
    for r in recs:
        name = "%s -> %s proto %d" % (r["src"], r["dst"], r["proto"])
        def addr(f, which):
            v = f.get("cflow.%saddrv6" % which) or f.get("cflow.%saddr" % which)
            return str(ipaddress.ip_address(v)) if v else None
        match = [f for f in decoded if addr(f, "src") == r["src"] and addr(f, "dst") == r["dst"]
                 and int(f["cflow.protocol"]) == r["proto"]
                 and int(f.get("cflow.srcport", "0")) == r["sport"]]
        if len(match) != 1:
            errors.append("%s: found %d times in tshark output" % (name, len(match)))
            continue
        f = match[0]
        decoded.remove(f)
        def eq(field, got, want):
            if got != want:
                errors.append("%s: %s: tshark %r, sent %r" % (name, field, got, want))
        def num(key):
            v = f.get(key)
            return None if v is None else int(v, 0)
        if r["proto"] in (1, 58):
            tc = num("cflow.icmp_type_code_ipv4") if r["proto"] == 1 else None
            if tc is None:
                t = num("cflow.icmp_ipv4_type") if r["proto"] == 1 else num("cflow.icmp_ipv6_type")
                c = num("cflow.icmp_ipv4_code") if r["proto"] == 1 else num("cflow.icmp_ipv6_code")
                if t is not None:
                    tc = t << 8 | (c or 0)
                else:
                    tc = num("cflow.dstport")  # v9 convention: type << 8 | code in L4_DST_PORT
            eq("icmp type<<8|code", tc, r["dport"])
        else:
            eq("dstport", num("cflow.dstport"), r["dport"])
        eq("tos", num("cflow.tos"), r["tos"])
        if r["proto"] == 6:
            eq("tcp flags", num("cflow.tcpflags"), r["tcp_flags"])
        eq("in_if", num("cflow.inputint"), r["in_if"])
        eq("out_if", num("cflow.outputint"), r["out_if"])
        eq("direction", num("cflow.direction"), r["dir"])
        eq("vlan", num("cflow.vlanid") or 0, r["vlan"])
        eq("packets", num("cflow.packets") if "cflow.packets" in f else num("cflow.packets64"),
           r["packets"])
        eq("octets", num("cflow.octets") if "cflow.octets" in f else num("cflow.octets64"),
           r["octets"])
        if "cflow.abstimestart" in f:
            eq("start ms", abs_ms(f["cflow.abstimestart"]), r["start"])
            eq("end ms", abs_ms(f["cflow.abstimeend"]), r["end"])
        elif "cflow.timestart" in f:
            # v9 FIRST/LAST_SWITCHED (RFC 3954): sysUptime ms; absolute = unix_secs*1000 -
            # sysUptime + switched. unix_secs has 1 s resolution, so the header alone places
            # the flow within [0, 1000) ms; assert that window.
            up = float(f["_sysuptime"]) * 1000 if "." in f["_sysuptime"] else int(f["_sysuptime"])
            secs = f["_unix_secs"]
            secs_ms = abs_ms(secs) if "," in secs else int(secs) * 1000
            for key, want in (("cflow.timestart", r["start"]), ("cflow.timeend", r["end"])):
                sw = float(f[key].split()[0]) * 1000
                got = secs_ms - up + sw
                if not (0 <= want - got < 1000):
                    errors.append("%s: %s: tshark gives %d, sent %d" % (name, key, got, want))
        else:
            errors.append("%s: no start/end time decoded" % name)
        if "cflow.flow_end_reason" in f:
            eq("end reason", num("cflow.flow_end_reason"), r["end_reason"])
        elif proto == "ipfix":
            errors.append("%s: no flowEndReason" % name)
        if mac and r["src_mac"]:
            eq("src mac", (f.get("cflow.srcmac") or "").lower(), r["src_mac"])
            eq("dst mac", (f.get("cflow.dstmac") or "").lower(), r["dst_mac"])
    for e in errors:
        print(e)
    return 1 if errors else 0

if __name__ == "__main__":
    sys.exit(main())
