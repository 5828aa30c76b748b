// SPDX-License-Identifier: GPL-2.0-only
// Encoded records per second for IPFIX and v9 into a null sink (target >= 5M/s).
#include <chrono>
#include <cstdio>
#include <cstring>

#include "export/exporter.h"

using namespace fa;

namespace {
struct NullSink : DatagramSink {
    uint64_t bytes = 0;
    SendResult send(const uint8_t*, size_t len) override
    {
        bytes += len;
        return SendResult::ok;
    }
};
struct Opts : OptionsProvider {
    SamplingInfo sampling() const override { return SamplingInfo{}; }
    Span<const InterfaceInfo> interfaces() const override { return {}; }
    DropCounters drops() const override { return DropCounters{}; }
};
} // namespace

int main()
{
    const int kN = 5000000;
    for (Protocol p : {Protocol::ipfix, Protocol::v9}) {
        NullSink sink;
        Opts opts;
        ExporterConfig cfg;
        cfg.protocol = p;
        Exporter ex;
        if (ex.init(cfg, sink, opts) != Status::ok) return 1;
        FlowRecord r{};
        std::memset(&r.key, 0, sizeof r.key);
        r.key.set_v4(r.key.src, 0x0a000001);
        r.key.set_v4(r.key.dst, 0x0a000002);
        r.key.proto = 6;
        r.packets = 3;
        r.octets = 180;
        ExportTime t;
        t.mono_ms = 100000;
        auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < kN; ++i) {
            r.key.src_port = uint16_t(i);
            ex.add(r, t);
        }
        ex.flush(t);
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("%s: %d records in %.3f s = %.2f M records/s (%llu bytes, %llu datagrams)\n",
                    p == Protocol::ipfix ? "ipfix" : "v9", kN, s, kN / s / 1e6,
                    (unsigned long long)sink.bytes,
                    (unsigned long long)ex.counters().messages);
    }
    return 0;
}
