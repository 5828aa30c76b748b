// SPDX-License-Identifier: GPL-2.0-only
// A built-in traffic generator: synthetic packets for a fixed set of flows at a fixed rate.
// Used by the demo, the footprint measurements and tests where no kernel source is wanted.
// Deterministic: the same settings give the same packets, so totals are known in advance.
#pragma once
#include <cstdint>

#include "core/time.h"
#include "source/source.h"

namespace fa {

struct GeneratorConfig {
    uint32_t flows = 64;             // distinct 5-tuples, cycled round-robin
    uint32_t packets_per_s = 1000;
    uint32_t duration_s = 0;         // 0 = unlimited
    uint32_t in_if = 1;
};

class Generator {
public:
    void start(const GeneratorConfig& cfg, MonoMs now);
    // Emits every packet due by `now`, at most `budget` of them (the rest stay due).
    void step(MonoMs now, SourceSink& sink, uint32_t budget = 100000);
    bool done() const { return done_; }
    uint64_t packets_sent() const { return sent_; }
    uint64_t octets_sent() const { return octets_; }

    // The delta for packet number n (exposed so tests can compute ground truth).
    static void packet(const GeneratorConfig& cfg, uint64_t n, MonoMs at, FlowDelta& out);

private:
    GeneratorConfig cfg_;
    MonoMs start_ = 0;
    uint64_t sent_ = 0;
    uint64_t octets_ = 0;
    bool done_ = false;
};

} // namespace fa
