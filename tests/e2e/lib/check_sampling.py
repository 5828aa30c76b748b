#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# The sampling announcement as tshark decodes it (-T json), for 1-in-RATE sampling of one mode:
#   packet/random        IPFIX: selectorAlgorithm 4 (uniform probabilistic), samplingProbability
#                        1/RATE, no packet interval/space; v9: FLOW_SAMPLER_MODE 2, interval RATE
#   packet/deterministic IPFIX: selectorAlgorithm 1 (systematic count-based), interval 1, space
#                        RATE-1; v9: FLOW_SAMPLER_MODE 1, interval RATE
#   flow/*               both: flowSelectorAlgorithm 6 (hash-based, BOB), hash output range
#                        0..2^32-1, selected range 0..floor(2^32/RATE)-1, initialiser 0
# and in every case samplingInterval 34 = RATE, the form collectors renormalise from.
# Usage: check_sampling.py TSHARK_JSON PROTO KIND MODE RATE
import json, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_tshark import iter_key

frames = json.load(open(sys.argv[1]))
proto, kind, mode, rate = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])


def values(key):
    out = set()
    for fr in frames:
        cflow = fr["_source"]["layers"].get("cflow")
        if cflow is not None:
            out.update(str(v) for v in iter_key(cflow, key))
    return out


def num(v):
    return float(v) if "." in v or "e" in v else int(v, 0)


want = {"cflow.sampling_interval": [rate]}
absent = []
if kind == "flow":
    want.update({"cflow.flow_selector_algorithm": [6], "cflow.hash_output_range_min": [0],
                 "cflow.hash_output_range_max": [2**32 - 1], "cflow.hash_selected_range_min": [0],
                 "cflow.hash_selected_range_max": [2**32 // rate - 1],
                 "cflow.hash_initialiser_value": [0]})
    absent = ["cflow.selector_algorithm", "cflow.sampler_mode"]
elif proto == "v9":
    want.update({"cflow.sampler_mode": [2 if mode == "random" else 1],
                 "cflow.sampler_random_interval": [rate]})
elif mode == "random":
    want.update({"cflow.selector_algorithm": [4], "cflow.sampling_probability": [1.0 / rate]})
    absent = ["cflow.sampling_packet_interval", "cflow.sampling_packet_space",
              "cflow.sampling_size", "cflow.sampling_population"]
else:
    want.update({"cflow.selector_algorithm": [1], "cflow.sampling_packet_interval": [1],
                 "cflow.sampling_packet_space": [rate - 1]})
    absent = ["cflow.sampling_probability", "cflow.sampling_size", "cflow.sampling_population"]
errors = []
for key, vals in want.items():
    got = sorted({num(v) for v in values(key)})
    ok = len(got) == 1 and abs(got[0] - vals[0]) <= 1e-12 * max(1, abs(vals[0]))
    print("%s: tshark %s, want %s %s" % (key, got, vals, "ok" if ok else "WRONG"))
    if not ok:
        errors.append(key)
for key in absent:
    if values(key):
        print("%s: present (%s), want absent WRONG" % (key, sorted(values(key))))
        errors.append(key)
sys.exit(1 if errors else 0)
