// SPDX-License-Identifier: GPL-2.0-only
// libFuzzer target for the listener's parse path: walks an arbitrary buffer as a recv() buffer
// is walked (libmnl framing), parses every message with CtParser (libnetfilter_conntrack into
// one nf_conntrack object) and turns every entry into records (per direction, biflow and its
// split, NAT event) and through a CtTracker as an event and as a dump reply. Must never crash,
// hang, exit or read out of bounds (built with ASan/UBSan; the libraries are not instrumented).
#include <libmnl/libmnl.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "flow/biflow.h"
#include "linux/conntrack_parse.h"
#include "source/conntrack_decode.h"
#include "source/ct_tracker.h"

namespace {

class NullSink final : public fa::SourceSink {
public:
    void on_delta(const fa::FlowDelta&) override {}
    void on_record(const fa::FlowRecord& r) override { packets += r.packets; }
    void on_nat_event(const fa::NatEvent&) override { ++nat; }
    uint64_t packets = 0, nat = 0;
};

class FixedClock final : public fa::Clock {
public:
    fa::MonoMs mono_ms() override { return 1000; }
    int64_t wall_offset_ms() override { return 0; }
    int64_t boot_offset_ms() override { return 0; }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    static fa::CtParser parser;
    static FixedClock clock;
    static fa::CtTracker* tracker = [] {
        auto* t = new fa::CtTracker();
        fa::CtTrackerConfig c;
        c.max_flows = 1024;
        c.active_ms = 0;
        (void)t->init(c, clock, 0);
        return t;
    }();
    static NullSink sink;
    static uint32_t buf[4096 / 4];  // aligned like the listener's receive buffer
    if (size > sizeof buf) return 0;
    std::memcpy(buf, data, size);
    tracker->begin(1000);
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(buf);
    int left = int(size);
    for (; fa::ct_msg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
        fa::CtEntry e;
        fa::CtMsgKind kind;
        int err = 0;
        const char* why = nullptr;
        if (parser.parse(nlh, e, &kind, &err, &why) != fa::Status::ok) continue;
        if (kind != fa::CtMsgKind::entry) continue;
        fa::FlowRecord r[2];
        fa::CtRecordOptions o;
        (void)fa::ct_to_records(e, o, nullptr, fa::ct_end_reason(e, false), r);
        fa::FlowRecord bi;
        if (fa::ct_to_biflow(e, o, nullptr, fa::ct_end_reason(e, false), bi))
            (void)fa::biflow_split(bi, r);
        fa::NatEvent ev;
        (void)fa::ct_to_nat_event(e, 0, 0, ev);
        tracker->on_entry(e, fa::CtMode::event, sink);
        tracker->on_entry(e, fa::CtMode::dump, sink);
    }
    return 0;
}
