// SPDX-License-Identifier: GPL-2.0-only
#include "source/ct_tracker.h"

#include <cstring>
#include <new>

namespace fa {

CtTracker::~CtTracker() { delete[] slots_; }

size_t CtTracker::slot_bytes() { return sizeof(Slot); }

Status CtTracker::init(const CtTrackerConfig& cfg, Clock& clock, uint64_t start_wall_ns)
{
    cfg_ = cfg;
    clock_ = &clock;
    start_wall_ns_ = start_wall_ns;
    cap_ = 1024;
    while (cap_ < cfg.max_flows && cap_ < (size_t(1) << 24)) cap_ <<= 1;
    delete[] slots_;
    slots_ = new (std::nothrow) Slot[cap_]();
    if (!slots_) {
        cap_ = 0;
        return Status::full;
    }
    count_ = dead_ = 0;
    return Status::ok;
}

void CtTracker::set_own(const CtOwnSocket* own, size_t n)
{
    n_own_ = 0;
    for (size_t i = 0; i < n && n_own_ < sizeof(own_) / sizeof(own_[0]); ++i) own_[n_own_++] = own[i];
}

void CtTracker::begin(MonoMs now)
{
    now_ = now;
    if (clock_) wall_offset_ms_ = clock_->wall_offset_ms();
}

void CtTracker::on_overrun()
{
    ++overruns_;
    last_overrun_ms_ = now_;
    cycle_sweepable_ = false;  // point 5 in the header
    ++drops_.source_events;
    resync_pending_ = true;
}

bool CtTracker::dump_due() const
{
    if (cycle_running_ || !slots_) return false;
    const bool resync_due =
        resync_pending_ && (resyncs_ == 0 || now_ - last_resync_ms_ >= kResyncGapMs);
    return resync_due || now_ >= next_dump_ms_;
}

bool CtTracker::begin_cycle()
{
    next_dump_ms_ = now_ + (cfg_.active_ms / 2 > 0 ? cfg_.active_ms / 2 : 1);
    resync_ = resync_pending_;
    if (resync_) {
        resync_pending_ = false;
        last_resync_ms_ = now_;
        ++resyncs_;
    }
    cycle_records_ = 0;
    no_insert_ = false;
    cycle_sweepable_ = overruns_ == 0 || now_ - last_overrun_ms_ >= kSweepHoldMs;
    cycle_running_ = true;
    return resync_;
}

// Tombstones go, and after a complete cycle so do the slots that two complete cycles in a row did
// not see. Marking first and erasing in a second pass: erase() shifts later slots back, at the
// wrap-around even one already visited, which a single pass would count twice. The erasing pass
// looks at i again after an erase; its test does not change what it looks at.
void CtTracker::end_cycle(bool complete)
{
    cycle_running_ = false;
    if (!complete) {
        if (resync_) resync_pending_ = true;  // retried at the next tick
        next_dump_ms_ = now_;
    } else {
        baselines_unknown_ = false;
    }
    size_t stale = 0;
    if (complete && cycle_sweepable_) {
        for (size_t i = 0; i < cap_; ++i) {
            Slot& s = slots_[i];
            if (s.used == kLive && s.missed < 255 && ++s.missed >= 2) ++stale;
        }
    }
    const size_t stale_total = stale;
    for (size_t i = 0; (dead_ > 0 || stale > 0) && i < cap_;) {
        Slot& s = slots_[i];
        if (s.used == kDead) {
            erase(&s);
            --dead_;
        } else if (s.used == kLive && s.missed >= 2) {
            erase(&s);
            --stale;
        } else {
            ++i;
        }
    }
    if (stale_total > 0) {
        swept_ += stale_total;
        swept_now_ += stale_total;
        drops_.source_events += stale_total;
    }
}

void CtTracker::on_entry(const CtEntry& e, CtMode mode, SourceSink& sink)
{
    if (offload_.note(e)) offload_warn_ = true;
    if (n_own_ > 0 && ct_is_own_export(e.orig, own_, n_own_)) {
        ++own_skipped_;
        return;  // the agent's own export datagrams
    }
    // The tuple hash, once per entry: the sampling decision and the slot key.
    const uint32_t th = ct_tuple_hash(e.orig);
    const bool keep = ct_sample_keep_hash(th, cfg_.sample_rate);
    const uint64_t key = slot_key(th, e.id);
    // NAT session log (RFC 8158): every NATed NEW/DESTROY, before flow sampling (a sampled NAT
    // log could not answer "who had this address and port").
    if (mode == CtMode::event && e.nat()) nat_events(e, key, keep, sink);
    if (!keep) return;  // not sampled: no state
    track(e, key, mode, sink);
}

void CtTracker::nat_events(const CtEntry& e, uint64_t key, bool keep, SourceSink& sink)
{
    Slot* s = keep && e.has_id ? find(key, false) : nullptr;
    const bool live = s && s->used == kLive;
    if (e.event == CtEvent::create && live && s->create_seen) return;  // rebuilt already
    if (e.event == CtEvent::destroy && keep && e.has_id && overruns_ != 0 &&
        (live ? !s->create_seen : (!s && untracked_ == 0)))
        recover_nat_create(e, sink);
    NatEvent nev;
    if (ct_to_nat_event(e, wall_offset_ms_, now_, nev)) sink.on_nat_event(nev);
}

bool CtTracker::recover_nat_create(const CtEntry& e, SourceSink& sink)
{
    NatEvent nev;
    if (!ct_recovered_nat_create(e, start_wall_ns_, wall_offset_ms_, now_, nev)) return false;
    sink.on_nat_event(nev);
    ++nat_recovered_;
    return true;
}

void CtTracker::track(const CtEntry& e, uint64_t key, CtMode mode, SourceSink& sink)
{
    if (mode == CtMode::initial) {
        Slot* s = e.has_id ? find(key, true) : nullptr;
        if (s && unknown_baseline(e))
            s->exported = CtExported{e.orig_ctr.packets, e.orig_ctr.octets, e.reply_ctr.packets,
                                     e.reply_ctr.octets};
        return;
    }
    const bool forced = mode == CtMode::forced;
    const bool dumping = mode == CtMode::dump;
    const bool create = mode == CtMode::event && e.event == CtEvent::create;
    const bool destroy = mode == CtMode::event && e.event == CtEvent::destroy;
    const bool unknown = unknown_baseline(e);
    Slot* slot = nullptr;
    bool inserted = false;
    if (e.has_id) {
        const bool insert = (dumping && !no_insert_) || create || forced ||
                            (destroy && cycle_running_);  // tombstone, below
        const size_t before = count_;
        slot = find(key, insert, destroy);
        inserted = slot && count_ != before;
        if (!slot && destroy && cycle_running_) no_insert_ = true;  // no tombstone room
    }
    if (slot && slot->used == kDead) {
        // Destroyed during this dump cycle: dump replies for it are stale. A NEW or DESTROY on
        // the same key is another connection that reused it: a NEW stays untracked, a DESTROY
        // exports that connection's whole lifetime; the tombstone stays.
        if (create) ++untracked_;
        if (!destroy) return;
        slot = nullptr;
        inserted = false;
    }
    if (slot && create) slot->create_seen = 1;
    if (slot && (dumping || forced) && !slot->create_seen && e.nat() && overruns_ != 0 &&
        recover_nat_create(e, sink))
        slot->create_seen = 1;  // else it predates us, or a NEW may still bring it
    if (mode == CtMode::event && !destroy) return;  // NEW: tracked above, no counters
    if (inserted && unknown && !destroy) {
        // First sight of a connection whose baseline the previous run may have moved: what it
        // counted so far is the baseline, nothing is exported.
        slot->exported = CtExported{e.orig_ctr.packets, e.orig_ctr.octets, e.reply_ctr.packets,
                                    e.reply_ctr.octets};
        slot->last_export_ms = now_;
        return;
    }
    if (!slot && unknown) {
        // A DESTROY (or a forced-dump reply with a full table) of a connection whose baseline is
        // unknown: exporting its whole lifetime could count again what the previous run
        // exported. Counted as a lost event instead.
        ++unknown_drops_;
        ++drops_.source_events;
        return;
    }
    if (dumping) {
        if (!slot) return;  // untracked: its DESTROY exports everything
        slot->missed = 0;   // alive: see end_cycle()
        if (now_ - slot->last_export_ms < cfg_.active_ms) return;
    }
    CtRecordOptions o;
    o.both_directions = cfg_.both_directions;
    o.with_mark = cfg_.with_mark;
    o.with_zone = cfg_.with_zone;
    o.now_ms = now_;
    o.wall_offset_ms = wall_offset_ms_;
    o.fallback_first_ms = slot ? slot->last_export_ms : now_;
    // Both directions in one biflow record; the agent splits it for uniflow collectors.
    FlowRecord r;
    const EndReason why_end = dumping ? EndReason::active_timeout : ct_end_reason(e, forced);
    const bool continued =
        slot && (slot->exported.orig_packets != 0 || slot->exported.reply_packets != 0);
    if (ct_to_biflow(e, o, slot ? &slot->exported : nullptr, why_end, r)) {
        // Records after an earlier export start where that export ended.
        if (continued) r.first_ms = slot->last_export_ms;
        sink.on_record(r);
        ++cycle_records_;
    }
    if (!slot) {
        if (forced && untracked_fn_) {
            CtBaseline b;
            b.id = e.id;
            b.tuple_hash = uint32_t(key >> 32);
            b.exported = CtExported{e.orig_ctr.packets, e.orig_ctr.octets, e.reply_ctr.packets,
                                    e.reply_ctr.octets};
            untracked_fn_(b, untracked_ctx_);
        }
        return;
    }
    if (destroy && cycle_running_) {
        slot->used = kDead;  // tombstone until the dump cycle ends
        ++dead_;
    } else if (destroy) {
        erase(slot);
    } else {
        // Dump or forced dump: the counters just exported are the next delta's baseline. After
        // the forced dump the slot stays (a reload hands it on; a NEW read after it finds
        // create_seen).
        slot->exported = CtExported{e.orig_ctr.packets, e.orig_ctr.octets, e.reply_ctr.packets,
                                    e.reply_ctr.octets};
        slot->last_export_ms = now_;
    }
}

// Fixed capacity, open addressing, linear probing, backward-shift deletion, 87.5 % max load. A
// connection that finds no slot is not tracked (counted in untracked_).
CtTracker::Slot* CtTracker::find(uint64_t key, bool insert, bool tombstone)
{
    if (!slots_) return nullptr;
    const size_t mask = cap_ - 1;
    for (size_t i = home_of(key, mask), n = 0; n < cap_; i = (i + 1) & mask, ++n) {
        if (slots_[i].used && slots_[i].key == key) return &slots_[i];
        if (!slots_[i].used) {
            if (!insert) return nullptr;
            if (count_ + 1 > cap_ - cap_ / 8) break;
            slots_[i] = Slot{key, kLive, 0, 0, now_, CtExported{}};
            ++count_;
            return &slots_[i];
        }
    }
    if (insert && !tombstone) ++untracked_;  // a tombstone that finds no room is no connection
    return nullptr;
}

void CtTracker::erase(Slot* s)
{
    const size_t mask = cap_ - 1;
    size_t i = size_t(s - slots_);
    slots_[i].used = 0;
    --count_;
    for (size_t j = (i + 1) & mask; slots_[j].used; j = (j + 1) & mask) {
        const size_t home = home_of(slots_[j].key, mask);
        // Move j back into the hole at i when its home is not in (i, j] cyclically.
        const bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!between) {
            slots_[i] = slots_[j];
            slots_[j].used = 0;
            i = j;
        }
    }
}

bool CtTracker::restore(const CtBaseline& b)
{
    const uint64_t key = slot_key(b.tuple_hash, b.id);
    if (!slots_) return false;
    const size_t mask = cap_ - 1;
    for (size_t i = home_of(key, mask), n = 0; n < cap_; i = (i + 1) & mask, ++n) {
        Slot& s = slots_[i];
        if (s.used && s.key == key) {
            s.exported = b.exported;
            s.create_seen = b.create_seen;
            return true;
        }
        if (!s.used) {
            if (count_ + 1 > cap_ - cap_ / 8) return false;
            s = Slot{key, kLive, 0, b.create_seen, now_, b.exported};
            ++count_;
            return true;
        }
    }
    return false;
}

bool CtTracker::apply_baseline(const CtBaseline& b)
{
    Slot* s = find(slot_key(b.tuple_hash, b.id), false);
    if (!s || s->used != kLive) return false;
    s->exported = b.exported;
    s->create_seen = b.create_seen;
    return true;
}

bool CtTracker::next_baseline(size_t& cursor, CtBaseline& out) const
{
    for (; cursor < cap_; ++cursor) {
        const Slot& s = slots_[cursor];
        if (s.used != kLive) continue;
        out.id = uint32_t(s.key);
        out.tuple_hash = uint32_t(s.key >> 32);
        out.exported = s.exported;
        out.create_seen = s.create_seen;
        ++cursor;
        return true;
    }
    return false;
}

size_t CtTracker::adopt(const CtTracker& from)
{
    size_t n = 0, cursor = 0;
    CtBaseline b;
    while (from.next_baseline(cursor, b))
        if (restore(b)) ++n;
    return n;
}

} // namespace fa
