// SPDX-License-Identifier: GPL-2.0-only
#include "gen_source.h"

#include "core/log.h"
#include "source/generator.h"

namespace fa {
namespace {

class GeneratorSource final : public Source {
public:
    int start(const Config& cfg) override
    {
        cfg_.flows = cfg.gen_flows;
        cfg_.packets_per_s = cfg.gen_packets_per_s;
        cfg_.duration_s = cfg.gen_duration_s;
        started_ = false;
        FA_INFO("generator: %u flows at %u packets/s%s", cfg_.flows, cfg_.packets_per_s,
                cfg_.duration_s ? "" : ", until stopped");
        return 0;
    }
    void on_tick(MonoMs now, SourceSink& sink) override
    {
        if (!started_) {
            gen_.start(cfg_, now);
            started_ = true;
        }
        bool was_done = gen_.done();
        gen_.step(now, sink);
        if (gen_.done() && !was_done) {
            FA_INFO("generator: done, %llu packets, %llu octets",
                    (unsigned long long)gen_.packets_sent(), (unsigned long long)gen_.octets_sent());
        }
    }
    void stop(MonoMs now, SourceSink& sink) override
    {
        if (started_) gen_.step(now, sink, ~0u);
    }

private:
    GeneratorConfig cfg_;
    Generator gen_;
    bool started_ = false;
};

} // namespace

Source* new_generator_source() { return new GeneratorSource(); }

} // namespace fa
