# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-only
# The agent's interface owner locks and BPF links, for the eBPF e2e tests (sourced, not run).
#   owner_lock RUNDIR NETNS IFNAME: the path of the owner lock of IFNAME in namespace NETNS
#   lock_ids FILE: the program ids the owner record in FILE names ("IN EG"; EG 0 for XDP)
#   links_of IDS...: how many BPF links on the machine hold one of these programs (other
#     tests may hold links of their own at the same time; a link closed a moment ago may
#     still be listed until the kernel frees it after an RCU grace period)
owner_lock() {
    echo "$1/bpf-$(ip netns exec "$2" stat -L -c %i /proc/self/ns/net)-$3.lock"
}
lock_ids() { sed -n 's/.* ids \([0-9]*\) \([0-9]*\)$/\1 \2/p' "$1"; }
links_of() {
    python3 - "$@" <<'PY'
import json, subprocess, sys
ids = {int(x) for x in sys.argv[1:] if int(x)}
links = json.loads(subprocess.run(["bpftool", "-j", "link", "show"], capture_output=True,
                                  text=True, check=True).stdout or "[]")
print(sum(1 for l in links if l.get("prog_id") in ids))
PY
}
