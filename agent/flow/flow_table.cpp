// SPDX-License-Identifier: GPL-2.0-only
#include "flow/flow_table.h"

#include <cstring>
#include <new>

namespace fa {

namespace {

constexpr uint32_t kW = kFlowTableWays;
constexpr uint32_t kMid = kW / 2;   // insertion position of a new flow in the LRU order

// xxh64 primes.
constexpr uint64_t kP1 = 0x9E3779B185EBCA87ull;
constexpr uint64_t kP2 = 0xC2B2AE3D27D4EB4Full;
constexpr uint64_t kP3 = 0x165667B19E3779F9ull;
constexpr uint64_t kP4 = 0x85EBCA77C2B2AE63ull;
constexpr uint64_t kP5 = 0x27D4EB2F165667C5ull;

inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

// LRU order: nibble p (bits 4p..4p+3) holds the way at recency position p (0 = most recent).
// Positions 0..used-1 are occupied ways, used..W-1 free ones.
inline uint32_t nib(uint32_t order, uint32_t p) { return (order >> (4 * p)) & 0xF; }

// Moves the entry at position `from` to position `to`, shifting the ones in between by one.
inline uint32_t order_move(uint32_t order, uint32_t from, uint32_t to)
{
    if (from == to) return order;
    uint32_t v = nib(order, from);
    uint32_t out = order;
    if (from < to) {
        for (uint32_t p = from; p < to; ++p) {
            out = (out & ~(0xFu << (4 * p))) | (nib(order, p + 1) << (4 * p));
        }
    } else {
        for (uint32_t p = to + 1; p <= from; ++p) {
            out = (out & ~(0xFu << (4 * p))) | (nib(order, p - 1) << (4 * p));
        }
    }
    return (out & ~(0xFu << (4 * to))) | (v << (4 * to));
}

// Recency position of `way` (a permutation holds it exactly once). SWAR: the lowest zero nibble
// of order ^ way-broadcast is exact (borrows only create false hits above a true one).
inline uint32_t order_pos(uint32_t order, uint32_t way)
{
    uint32_t x = order ^ (way * 0x11111111u);
    uint32_t z = (x - 0x11111111u) & ~x & 0x88888888u;
    return uint32_t(__builtin_ctz(z)) / 4;
}

// Moves the entry at position p to the front (hit path; equals order_move(order, p, 0)).
inline uint32_t order_to_front(uint32_t order, uint32_t p)
{
    if (p == 0) return order;
    uint32_t below = (1u << (4 * p)) - 1;                           // positions 0..p-1
    uint32_t upto = p == kW - 1 ? 0xFFFFFFFFu : (1u << (4 * (p + 1))) - 1;
    return (order & ~upto) | ((order & below) << 4) | nib(order, p);
}

// Bit i*8+7 set for every tag byte equal to `tag`; the lowest set bit is exact, higher ones may
// be false hits, which the full key compare rejects.
inline uint64_t tag_matches(const uint8_t* tags, uint8_t tag)
{
    uint64_t t;
    std::memcpy(&t, tags, 8);
    uint64_t x = t ^ (uint64_t(tag) * 0x0101010101010101ull);
    return (x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull;
}

// Full 52-byte key compare without a library call.
inline bool keys_equal(const FlowKey& a, const FlowKey& b)
{
    const uint8_t* pa = reinterpret_cast<const uint8_t*>(&a);
    const uint8_t* pb = reinterpret_cast<const uint8_t*>(&b);
    uint64_t diff = 0;
    for (int i = 0; i < 6; ++i) {
        uint64_t x, y;
        std::memcpy(&x, pa + 8 * i, 8);
        std::memcpy(&y, pb + 8 * i, 8);
        diff |= x ^ y;
    }
    uint32_t x4, y4;
    std::memcpy(&x4, pa + 48, 4);
    std::memcpy(&y4, pb + 48, 4);
    return (diff | (x4 ^ y4)) == 0;
}

constexpr uint32_t kInitialOrder = 0x76543210u;

} // namespace

// One flow's hot state: everything a hit touches besides the bucket header. 80 bytes.
struct FlowSlot {
    FlowKey key;
    uint32_t last_off;      // last_ms - first_ms, ms, saturated at UINT32_MAX
    uint64_t packets;
    uint64_t octets;
    MonoMs first_ms;
};
static_assert(sizeof(FlowSlot) == 80, "slot layout is the memory budget");

// A bucket: a 24-byte header (tags, LRU order, TCP flags) that every lookup reads, the slots,
// read only on a tag match, and the MACs, touched only when a delta carries them.
// 760 bytes for 8 flows = 95 bytes per flow.
struct FlowTable::Bucket {
    uint8_t tag[kW];        // 0 = free; else top hash byte, forced non-zero
    uint32_t order;         // LRU order, see nib()
    uint8_t used;           // occupied ways
    uint8_t mac_valid;      // bit w: src_mac/dst_mac of way w are known
    uint8_t pad[2];
    uint8_t tcp_flags[kW];  // OR of the TCP flags of way w
    FlowSlot slot[kW];
    uint8_t src_mac[kW][6];
    uint8_t dst_mac[kW][6];
};
static_assert(sizeof(FlowTable::Bucket) == 760, "bucket layout is the memory budget");
static_assert(sizeof(FlowTable::Bucket) / kW <= 96, "STYLE 2.6 budget: <= 96 bytes per flow");

uint64_t flow_key_hash(const FlowKey& k, uint64_t seed)
{
    static_assert(sizeof(FlowKey) == 6 * 8 + 4, "hash reads 6 lanes + 4 bytes");
    const uint8_t* p = reinterpret_cast<const uint8_t*>(&k);
    uint64_t acc = seed + kP5 + sizeof(FlowKey);
    for (int i = 0; i < 6; ++i) {
        uint64_t lane;
        std::memcpy(&lane, p + 8 * i, 8);
        lane = rotl(lane * kP2, 31) * kP1;
        acc ^= lane;
        acc = rotl(acc, 27) * kP1 + kP4;
    }
    uint32_t tail;
    std::memcpy(&tail, p + 48, 4);
    acc ^= uint64_t(tail) * kP1;
    acc = rotl(acc, 23) * kP2 + kP3;
    acc ^= acc >> 33;
    acc *= kP2;
    acc ^= acc >> 29;
    acc *= kP3;
    acc ^= acc >> 32;
    return acc;
}

FlowTable::~FlowTable() { delete[] buckets_; }

uint32_t FlowTable::capacity_for(uint32_t max_flows)
{
    if (max_flows == 0 || max_flows > kFlowTableMaxFlows) return 0;
    uint32_t c = kW;
    while (c < max_flows) c <<= 1;
    return c;
}

size_t FlowTable::bytes_for(uint32_t max_flows)
{
    return size_t(capacity_for(max_flows) / kW) * sizeof(Bucket);
}

Status FlowTable::init(const FlowTableConfig& cfg)
{
    uint32_t cap = capacity_for(cfg.max_flows);
    if (cap == 0 || cfg.active_timeout_ms == 0 || cfg.inactive_timeout_ms == 0 ||
        cfg.sweep_ms == 0) {
        return Status::bad_input;
    }
    delete[] buckets_;
    buckets_n_ = 0;
    // () value-initialises: all tags 0 = empty.
    buckets_ = new (std::nothrow) Bucket[cap / kW]();
    if (buckets_ == nullptr) return Status::full;
    buckets_n_ = cap / kW;
    for (uint32_t i = 0; i < buckets_n_; ++i) buckets_[i].order = kInitialOrder;
    cfg_ = cfg;
    stats_ = FlowTableStats{};
    size_ = 0;
    cursor_ = 0;
    expired_once_ = false;
    last_expire_ms_ = 0;
    return Status::ok;
}

uint64_t FlowTable::hash(const FlowKey& k) const
{
    return cfg_.hash_override ? cfg_.hash_override(k, cfg_.seed) : flow_key_hash(k, cfg_.seed);
}

uint32_t FlowTable::visit(uint32_t from, uint32_t n, FlowVisitor& v) const
{
    if (from >= buckets_n_) return buckets_n_;
    const uint32_t end = n > buckets_n_ - from ? buckets_n_ : from + n;
    for (uint32_t i = from; i < end; ++i) {
        const Bucket& b = buckets_[i];
        for (uint32_t w = 0; w < kW; ++w) {
            if (b.tag[w] == 0) continue;
            const FlowSlot& s = b.slot[w];
            v.on_flow(s.key, s.packets, s.octets, s.first_ms, s.first_ms + s.last_off);
        }
    }
    return end;
}

uint32_t FlowTable::bucket_of(const FlowKey& k) const
{
    return buckets_n_ ? uint32_t(hash(k) & (buckets_n_ - 1)) : 0;
}

void FlowTable::emit(Bucket& b, uint32_t w, EndReason reason, RecordSink& sink)
{
    FlowRecord r;
    r.key = b.slot[w].key;
    r.packets = b.slot[w].packets;
    r.octets = b.slot[w].octets;
    r.first_ms = b.slot[w].first_ms;
    r.last_ms = b.slot[w].first_ms + b.slot[w].last_off;
    r.tcp_flags = b.tcp_flags[w];
    r.end_reason = reason;
    if (b.mac_valid & (1u << w)) {
        r.flags = kRecHasMac;
        std::memcpy(r.src_mac, b.src_mac[w], 6);
        std::memcpy(r.dst_mac, b.dst_mac[w], 6);
    }
    sink.on_record(r);
}

void FlowTable::remove(Bucket& b, uint32_t w)
{
    b.order = order_move(b.order, order_pos(b.order, w), kW - 1);
    b.tag[w] = 0;
    b.mac_valid = uint8_t(b.mac_valid & ~(1u << w));
    b.used--;
    size_--;
}

namespace {

inline uint32_t sat_off(MonoMs first, MonoMs last)
{
    uint64_t d = last - first;
    return d > 0xFFFFFFFFull ? 0xFFFFFFFFu : uint32_t(d);
}

inline bool ends_tcp(const FlowDelta& d)
{
    return d.key.proto == 6 && (d.tcp_flags & (kTcpFin | kTcpRst)) != 0;
}

} // namespace

void FlowTable::prefetch(uint64_t h) const
{
    if (buckets_ == nullptr) return;
    const Bucket& b = buckets_[h & (buckets_n_ - 1)];
    __builtin_prefetch(&b, 1);
    __builtin_prefetch(&b.tcp_flags[kW - 1], 1);  // a 760-byte bucket's header may cross a line
}

Status FlowTable::update(const FlowDelta& d, RecordSink& sink)
{
    return update(d, buckets_ ? hash(d.key) : 0, sink);
}

void FlowTable::update_batch(const FlowDelta* d, size_t n, RecordSink& sink)
{
    constexpr size_t kChunk = 32, kAhead = 8;  // hashes kept on the stack; prefetch distance
    uint64_t h[kChunk];
    for (size_t base = 0; base < n; base += kChunk) {
        const size_t m = n - base < kChunk ? n - base : kChunk;
        for (size_t i = 0; i < m; ++i) h[i] = buckets_ ? hash(d[base + i].key) : 0;
        for (size_t i = 0; i < m && i < kAhead; ++i) prefetch(h[i]);
        for (size_t i = 0; i < m; ++i) {
            if (i + kAhead < m) prefetch(h[i + kAhead]);
            (void)update(d[base + i], h[i], sink);
        }
    }
}

Status FlowTable::update(const FlowDelta& d, uint64_t h, RecordSink& sink)
{
    if (buckets_ == nullptr || d.last_ms < d.first_ms) {
        stats_.bad_deltas++;
        return Status::bad_input;
    }
    stats_.updates++;
    Bucket& b = buckets_[h & (buckets_n_ - 1)];
    uint8_t tag = uint8_t(h >> 56);
    if (tag == 0) tag = 1;

    for (uint64_t m = tag_matches(b.tag, tag); m != 0; m &= m - 1) {
        // The tag word was loaded in host order: on little-endian bit 8w+7 belongs to tag[w],
        // on big-endian to tag[7 - w]. A false hit fails the tag re-check below.
        uint32_t w = uint32_t(__builtin_ctzll(m)) / 8;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        w = kW - 1 - w;
#endif
        if (b.tag[w] != tag || !keys_equal(b.slot[w].key, d.key)) continue;
        // Hit.
        b.slot[w].packets += d.packets;
        b.slot[w].octets += d.octets;
        MonoMs first = b.slot[w].first_ms;
        MonoMs last = first + b.slot[w].last_off;
        if (d.first_ms < first) first = d.first_ms;
        if (d.last_ms > last) last = d.last_ms;
        b.slot[w].first_ms = first;
        b.slot[w].last_off = sat_off(first, last);
        b.tcp_flags[w] = uint8_t(b.tcp_flags[w] | d.tcp_flags);
        if (d.has_mac && !(b.mac_valid & (1u << w))) {  // the MACs of the flow's first frame
            b.mac_valid = uint8_t(b.mac_valid | (1u << w));
            std::memcpy(b.src_mac[w], d.src_mac, 6);
            std::memcpy(b.dst_mac[w], d.dst_mac, 6);
        }
        if (ends_tcp(d)) {
            emit(b, w, EndReason::end_of_flow, sink);
            remove(b, w);
            stats_.ended_tcp++;
            return Status::ok;
        }
        b.order = order_to_front(b.order, order_pos(b.order, w));
        return Status::ok;
    }

    // Miss: a new flow.
    if (ends_tcp(d)) {
        // Its only delta already ends it: export at once, no slot (and no eviction) needed.
        FlowRecord r;
        r.key = d.key;
        r.packets = d.packets;
        r.octets = d.octets;
        r.first_ms = d.first_ms;
        r.last_ms = d.last_ms;
        r.tcp_flags = d.tcp_flags;
        r.end_reason = EndReason::end_of_flow;
        if (d.has_mac) {
            r.flags = kRecHasMac;
            std::memcpy(r.src_mac, d.src_mac, 6);
            std::memcpy(r.dst_mac, d.dst_mac, 6);
        }
        stats_.flows_created++;
        stats_.ended_tcp++;
        sink.on_record(r);
        return Status::ok;
    }

    uint32_t w;
    if (b.used < kW) {
        uint32_t p = b.used;
        w = nib(b.order, p);
        b.order = order_move(b.order, p, p < kMid ? p : kMid);
        b.used++;
        size_++;
    } else if (cfg_.full_policy == FullPolicy::drop) {
        stats_.dropped_flows++;
        stats_.dropped_packets += d.packets;
        stats_.dropped_octets += d.octets;
        return Status::full;
    } else {
        w = nib(b.order, kW - 1);
        emit(b, w, EndReason::lack_of_resources, sink);
        stats_.evicted_full++;
        b.order = order_move(b.order, kW - 1, kMid);
    }
    b.tag[w] = tag;
    b.slot[w].key = d.key;
    b.slot[w].packets = d.packets;
    b.slot[w].octets = d.octets;
    b.slot[w].first_ms = d.first_ms;
    b.slot[w].last_off = sat_off(d.first_ms, d.last_ms);
    b.tcp_flags[w] = d.tcp_flags;
    if (d.has_mac) {
        b.mac_valid = uint8_t(b.mac_valid | (1u << w));
        std::memcpy(b.src_mac[w], d.src_mac, 6);
        std::memcpy(b.dst_mac[w], d.dst_mac, 6);
    } else {
        b.mac_valid = uint8_t(b.mac_valid & ~(1u << w));
    }
    stats_.flows_created++;
    return Status::ok;
}

void FlowTable::expire_bucket(Bucket& b, MonoMs now, RecordSink& sink)
{
    if (b.used == 0) return;
    for (uint32_t w = 0; w < kW; ++w) {
        if (b.tag[w] == 0) continue;
        MonoMs first = b.slot[w].first_ms;
        MonoMs last = first + b.slot[w].last_off;
        if (now >= last && now - last >= cfg_.inactive_timeout_ms) {
            emit(b, w, EndReason::idle_timeout, sink);
            remove(b, w);
            stats_.expired_idle++;
        } else if (now >= first && now - first >= cfg_.active_timeout_ms) {
            emit(b, w, EndReason::active_timeout, sink);
            remove(b, w);
            stats_.expired_active++;
        }
    }
}

void FlowTable::expire(MonoMs now, RecordSink& sink)
{
    if (buckets_ == nullptr) return;
    // Buckets to visit: the share of a sweep that has elapsed, rounded up. The first call (no
    // reference time) and any gap of a whole sweep or more visit every bucket once.
    uint64_t n = buckets_n_;
    if (expired_once_ && now >= last_expire_ms_) {
        uint64_t elapsed = now - last_expire_ms_;
        if (elapsed < cfg_.sweep_ms) {
            n = (uint64_t(buckets_n_) * elapsed + cfg_.sweep_ms - 1) / cfg_.sweep_ms;
        }
    }
    expired_once_ = true;
    last_expire_ms_ = now;
    for (uint64_t i = 0; i < n; ++i) {
        expire_bucket(buckets_[cursor_], now, sink);
        cursor_ = (cursor_ + 1) & (buckets_n_ - 1);
    }
}

void FlowTable::flush(MonoMs now, EndReason reason, RecordSink& sink)
{
    (void)now;   // records keep their own first/last; now is part of the API for symmetry
    if (buckets_ == nullptr) return;
    for (uint32_t i = 0; i < buckets_n_; ++i) {
        Bucket& b = buckets_[i];
        if (b.used == 0) continue;
        for (uint32_t w = 0; w < kW; ++w) {
            if (b.tag[w] == 0) continue;
            emit(b, w, reason, sink);
            stats_.flushed++;
        }
        std::memset(b.tag, 0, sizeof b.tag);
        b.order = kInitialOrder;
        b.used = 0;
        b.mac_valid = 0;
    }
    size_ = 0;
}

uint32_t FlowTable::flush_interface(uint32_t ifindex, EndReason reason, RecordSink& sink)
{
    if (buckets_ == nullptr || ifindex == 0) return 0;
    uint32_t n = 0;
    for (uint32_t i = 0; i < buckets_n_; ++i) {
        Bucket& b = buckets_[i];
        if (b.used == 0) continue;
        for (uint32_t w = 0; w < kW; ++w) {
            if (b.tag[w] == 0) continue;
            const FlowKey& k = b.slot[w].key;
            if (k.in_if != ifindex && k.out_if != ifindex) continue;
            emit(b, w, reason, sink);
            remove(b, w);
            stats_.flushed++;
            ++n;
        }
    }
    return n;
}

} // namespace fa
