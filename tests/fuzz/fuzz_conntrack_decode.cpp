// SPDX-License-Identifier: GPL-2.0-only
// libFuzzer target for the ctnetlink decoder: walks an arbitrary buffer as a recv() buffer
// would be walked, and turns every decoded entry into records (per direction, biflow and its
// split, NAT event). Must never crash, hang or read out of bounds (built with ASan/UBSan).
#include <cstddef>
#include <cstdint>

#include "flow/biflow.h"
#include "source/conntrack_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        fa::CtEntry e;
        fa::CtMsgKind kind;
        size_t used = 0;
        int err = 0;
        const char* why = nullptr;
        fa::Status s = fa::ct_decode(data + off, size - off, e, &kind, &used, &err, &why);
        if (s != fa::Status::ok || used == 0) break;
        if (kind == fa::CtMsgKind::entry) {
            fa::FlowRecord r[2];
            fa::CtRecordOptions o;
            (void)fa::ct_to_records(e, o, nullptr, fa::ct_end_reason(e, false), r);
            fa::FlowRecord bi;
            if (fa::ct_to_biflow(e, o, nullptr, fa::ct_end_reason(e, false), bi))
                (void)fa::biflow_split(bi, r);
            fa::NatEvent ev;
            (void)fa::ct_to_nat_event(e, 0, 0, ev);
        }
        off += used;
    }
    return 0;
}
