#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# The export stream around reopens of the agent's export socket (issue 10, e2e.export_reopen),
# judged from tshark's decode (-V text) of every datagram the collector's hosts received, in
# order. Usage: check_reopen.py TSHARK_V_TEXT PROTO SESSION...
# A SESSION is "SRC>DST" (IP addresses): the transport sessions the stream must pass through, in
# this order, each one a contiguous run of datagrams (a session may come back later, as a new
# run). Checks, exit 1 with a message on the first failure:
#  - the datagrams form exactly these runs, in this order;
#  - templates first, per run: every data set (flows and options data) uses a template ID that
#    an earlier datagram of the run, or an earlier set of the same datagram, defined; so the
#    first datagram of every run holds a template set;
#  - sequence numbers across the moves: IPFIX (RFC 7011 §3.1, Data Records before this message,
#    options data included) has the same rule on the merged stream: each run continues the
#    count of the one before with no gap and no repeat. NetFlow v9 (RFC 3954 §5.1, +1 per
#    export packet): +1 within each run; a run's first packet either starts with the templates
#    (+1) or is a template-only packet that repeats the number of the run before's last packet
#    (the agent's rule: datagrams already numbered keep their numbers; a collector keeps one
#    stream per source address).
# Prints one line: "runs=N datagrams=A,B,..." (datagrams per run).
import re
import sys


def parse(path):
    msgs = []
    # "Set 2 [id=1086] (2 flows)"; without "(...)" when tshark has no template for it.
    set_re = re.compile(r"^\s*(?:Flow)?[Ss]et \d+ \[id=(\d+)\](?: \(([^)]*)\))?")
    tid_re = re.compile(r"^\s*Template Id: (\d+)")
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("Frame "):
                msgs.append({"src": None, "dst": None, "seq": None, "sets": [], "records": 0})
                continue
            if not msgs:
                continue
            m = msgs[-1]
            g = re.match(r"^Internet Protocol Version [46], Src: (\S+), Dst: (\S+)", line)
            if g:
                m["src"], m["dst"] = g.group(1), g.group(2)
                continue
            g = re.match(r"^\s*FlowSequence: (\d+)", line)
            if g:
                m["seq"] = int(g.group(1))
                continue
            g = set_re.match(line)
            if g:
                sid, what = int(g.group(1)), g.group(2) or ""
                if sid in (0, 1, 2, 3):
                    m["sets"].append(("tmpl", sid, []))
                else:
                    n = re.match(r"(\d+) flows", what)
                    k = int(n.group(1)) if n else -1  # -1: tshark found no template
                    m["sets"].append(("data", sid, k))
                    if k > 0:
                        m["records"] += k
                continue
            g = tid_re.match(line)
            if g and m["sets"] and m["sets"][-1][0] == "tmpl":
                m["sets"][-1][2].append(int(g.group(1)))
    return [m for m in msgs if m["seq"] is not None]


def fail(msg):
    print("check_reopen: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    path, proto = sys.argv[1:3]
    want_runs = [tuple(x.split(">")) for x in sys.argv[3:]]
    msgs = parse(path)
    if not msgs:
        fail("no export datagram in the decode")
    runs = []  # [(src, dst), first index, count]
    for k, m in enumerate(msgs):
        key = (m["src"], m["dst"])
        if runs and runs[-1][0] == key:
            runs[-1][2] += 1
        else:
            runs.append([key, k, 1])
    got_runs = [r[0] for r in runs]
    if got_runs != want_runs:
        fail("sessions in the stream: %s; want %s" % (
            " ".join("%s>%s(%d)" % (r[0][0], r[0][1], r[2]) for r in runs),
            " ".join("%s>%s" % w for w in want_runs)))
    # Templates first, per run.
    for key, first, count in runs:
        known = set()
        for k in range(first, first + count):
            m = msgs[k]
            for kind, sid, x in m["sets"]:
                if kind == "tmpl":
                    known.update(x)
                elif sid not in known or x < 0:
                    fail(f"datagram {k + 1} ({key[0]}>{key[1]}, sequence {m['seq']}): data "
                         f"set {sid} before its template in this session")
    starts = {r[1] for r in runs[1:]}
    # Sequence numbers.
    for k in range(len(msgs) - 1):
        a, b = msgs[k], msgs[k + 1]
        d = (b["seq"] - a["seq"]) % 2**32
        if proto == "ipfix":
            want = a["records"]
        elif k + 1 in starts and not any(kind == "data" for kind, _, _ in b["sets"]):
            want = 0  # a template-only packet before the new session's first numbered one
        else:
            want = 1
        if d != want:
            fail(f"datagram {k + 1} ({a['src']}>{a['dst']}) sequence {a['seq']} with "
                 f"{a['records']} data records, datagram {k + 2} ({b['src']}>{b['dst']}) has "
                 f"{b['seq']}: want {(a['seq'] + want) % 2**32}")
    print("runs=%d datagrams=%s" % (len(runs), ",".join(str(r[2]) for r in runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
