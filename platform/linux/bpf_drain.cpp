// SPDX-License-Identifier: GPL-2.0-only
// The exact drain of the flow map and the per-CPU flow cache (see BpfFlowObject::drain).
#include "bpf_loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "clock_linux.h"
#include "core/log.h"
#include "source/bpf_decode.h"

namespace fa {

// Waits until no program run that started before this call is still executing.
//
// XDP and tc programs run inside an RCU read-side critical section (rcu_read_lock() around
// bpf_prog_run_xdp() in the driver/generic path, and the tc ingress/egress hooks run under
// rcu_read_lock_bh()). Updating a BPF_MAP_TYPE_ARRAY_OF_MAPS slot from user space makes the
// kernel call maybe_wait_bpf_programs() -> synchronize_rcu() before the bpf() syscall
// returns (kernel/bpf/syscall.c, map_update_elem(): on 6.1 unconditionally after the update
// for HASH_OF_MAPS/ARRAY_OF_MAPS; on 6.18 the same, only when the update succeeded). Since the
// RCU flavours were consolidated (4.20), synchronize_rcu() also waits for bh- and
// preempt-disabled sections. So when this returns, every program that read the old
// generation from fa_ctl has finished its map update.
int BpfFlowObject::sync_programs()
{
    uint32_t zero = 0;
    int inner = sync_inner_fd_;
    return bpf_map_update_elem(sync_fd_, &zero, &inner, BPF_ANY);  // 0 or negative errno
}

// Deletes the old-generation entries among keys_[0..n) / vals_[0..n) from fa_flows (their
// values are final: nothing writes them after sync_programs()), then delivers what was deleted:
// an entry a failed delete leaves in the map is delivered by a later drain, never twice.
// Entries of the current generation are left alone.
int BpfFlowObject::deliver_chunk(uint32_t n, uint32_t old, MonoMs now, SourceSink& sink,
                                 int* delivered)
{
    uint32_t ndel = 0;
    for (uint32_t i = 0; i < n; ++i) {
        if (bpf_key_gen(keys_[i]) != old) continue;
        keys_[ndel] = keys_[i];  // in place: ndel <= i
        vals_[ndel++] = vals_[i];
    }
    if (ndel == 0) return 0;
    int err = 0;
    uint32_t gone = ndel;
    if (batch_ok_) {
        // gone: how many were deleted. (No batch options: nullptr, libbpf's defaults.)
        err = bpf_map_delete_batch(flows_fd_, keys_, &gone, nullptr);
        for (uint32_t i = 0; i < gone; ++i) deliver(keys_[i], vals_[i], now, sink, delivered);
    } else {
        for (uint32_t i = 0; i < ndel; ++i)
            if (bpf_map_delete_elem(flows_fd_, &keys_[i]) == 0)
                deliver(keys_[i], vals_[i], now, sink, delivered);
    }
    return err != 0 ? err : int(ndel);
}

// Walks fa_flows through the fixed kDrainChunk-entry buffers. With batch operations (5.6) the
// walk's cursor is a bucket index, so deleting entries of buckets already walked does not
// disturb it. Without, get_next_key would restart from the first key after its cursor key is
// deleted, so the walk simply restarts after each full chunk: the delivered entries are gone,
// and what it meets again is current-generation entries, which it skips.
int BpfFlowObject::drain_flows(uint32_t old, MonoMs now, SourceSink& sink, int* delivered)
{
    if (batch_ok_) {
        uint64_t in_batch = 0, out_batch = 0;
        for (bool first = true;; first = false) {
            uint32_t n = kDrainChunk;
            int r = bpf_map_lookup_batch(flows_fd_, first ? nullptr : &in_batch, &out_batch,
                                         keys_, vals_, &n, nullptr);
            if (r != 0 && r != -ENOENT) {
                if (first && bpf_no_batch(r)) {
                    batch_ok_ = false;  // kernel < 5.6: the walk below
                    FA_INFO("bpf: batch map operations unavailable, draining key by key");
                    break;
                }
                return r;
            }
            int d = deliver_chunk(n, old, now, sink, delivered);
            if (d < 0) return d;
            if (r != 0) return 0;  // ENOENT: end of the map (n may have been > 0)
            in_batch = out_batch;
        }
    }
    fa_flow_key next, prev;
    bool have_prev = false;
    uint32_t n = 0;
    while (bpf_map_get_next_key(flows_fd_, have_prev ? &prev : nullptr, &next) == 0) {
        prev = next;
        have_prev = true;
        if (bpf_key_gen(next) != old) continue;
        if (bpf_map_lookup_elem(flows_fd_, &next, &vals_[n]) != 0) continue;
        keys_[n++] = next;
        if (n < kDrainChunk) continue;
        int d = deliver_chunk(n, old, now, sink, delivered);
        if (d < 0) return d;
        n = 0;
        have_prev = false;  // restart: the cursor key may be gone
    }
    int d = deliver_chunk(n, old, now, sink, delivered);
    return d < 0 ? d : 0;
}

// The exactness argument, step by step:
//  1. Every program run reads fa_ctl.gen once and counts its packet only in that generation:
//     in this CPU's fa_cache slots of that generation, or under a fa_flows key carrying it
//     (including counts moved out of such a slot, which carry the slot's key).
//  2. We write gen' = !gen to fa_ctl. Runs that start afterwards use gen'.
//  3. sync_programs() returns only after every run that started before step 2 has finished,
//     including its cache writes, its atomic adds and its insert.
//  4. From then on nothing writes an old-generation slot or key: their values are final, and
//     reading then clearing them cannot race with an update. A packet is counted in exactly
//     one place, which is read exactly once.
//  5. Slots and entries of gen' are neither read nor cleared here; they are drained next tick.
int BpfFlowObject::drain(SourceSink& sink)
{
    if (obj_ == nullptr) return -EBADF;
    const uint32_t old = gen_;
    gen_ ^= 1u;
    const MonoMs now = now_ms();
    int err = stamp_time(now);  // with the new generation
    if (err) return err;
    err = sync_programs();
    if (err) return err;

    int delivered = 0;
    err = drain_cache(old, now, sink, &delivered);
    if (err == 0) err = drain_flows(old, now, sink, &delivered);
    flush_batch(sink);  // what was read and cleared is delivered whatever failed after it
    return err ? err : delivered;
}

// Out of line: one copy of the clock read for load() and drain().
__attribute__((noinline)) MonoMs BpfFlowObject::now_ms() const
{
    return clock_ != nullptr ? clock_->mono_ms() : LinuxClock().mono_ms();
}

int BpfFlowObject::stamp_time(MonoMs now)
{
    if (obj_ == nullptr) return -EBADF;
    uint32_t zero = 0;
    fa_ctl ctl{};
    ctl.gen = gen_;
    ctl.now_ms = uint32_t(now);
    return bpf_map_update_elem(ctl_fd_, &zero, &ctl, BPF_ANY);
}

void BpfFlowObject::deliver(const fa_flow_key& k, const fa_flow_val& v, MonoMs now,
                            SourceSink& sink, int* delivered)
{
    if (bpf_decode(k, v, now, slot_ifindex_, batch_[batch_n_]) != Status::ok) {
        ++decode_errors_;
        return;
    }
    ++*delivered;
    if (++batch_n_ == kDeltaBatch) flush_batch(sink);
}

void BpfFlowObject::flush_batch(SourceSink& sink)
{
    if (batch_n_ != 0) sink.on_deltas(batch_, batch_n_);
    batch_n_ = 0;
}

// Step 4 for the flow cache: every slot of generation `old` of every CPU is read, delivered
// and cleared: through a mapping of each CPU's region where the kernel allows it (5.5), else
// kCacheChunk slots at a time, with batch operations (5.6) one syscall to read a chunk and one
// to zero its used slots, without them one lookup per slot and one update per used slot.
int BpfFlowObject::drain_cache(uint32_t old, MonoMs now, SourceSink& sink, int* delivered)
{
    const uint32_t slots = 1u << cache_bits_;
    const uint32_t chunk = slots < kCacheChunk ? slots : kCacheChunk;
    for (uint32_t c = 0; c < uint32_t(ncpu_); ++c) {
        const uint32_t base = (c * 2 + old) << cache_bits_;
        if (cache_mmap_) {
            const int err = drain_cache_mapped(base, now, sink, delivered);
            if (err == 0) continue;
            // mmap refused (nothing read yet): this CPU's region, and from now on every
            // region, through the syscall; the drain goes on.
            FA_INFO("bpf: cannot map the flow cache of CPU %u (%s): reading it through the "
                    "bpf syscall", c, std::strerror(-err));
            cache_mmap_ = false;
        }
        for (uint32_t s = 0; s < slots; s += chunk) {
            int err = drain_cache_chunk(base + s, chunk, now, sink, delivered);
            if (err) return err;
        }
    }
    return 0;
}

// One CPU's region of one generation, from slot `first` on, read and cleared in place through
// a shared mapping of the array (BPF_F_MMAPABLE): no syscall per slot. The mapping exists only
// during the drain, so the region's pages count in the agent's RSS only then.
int BpfFlowObject::drain_cache_mapped(uint32_t first, MonoMs now, SourceSink& sink,
                                      int* delivered)
{
    const uint32_t slots = 1u << cache_bits_;
    const size_t len = size_t(slots) * sizeof(fa_cache_ent);
    void* m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, cache_fd_,
                   off_t(first) * off_t(sizeof(fa_cache_ent)));
    if (m == MAP_FAILED) return -errno;
    fa_cache_ent* e = static_cast<fa_cache_ent*>(m);
    for (uint32_t s = 0; s < slots; ++s) {
        if (e[s].val.packets == 0) continue;
        const fa_cache_ent copy = e[s];  // cleared before it is delivered, as everywhere
        std::memset(&e[s], 0, sizeof(e[s]));
        deliver(copy.key, copy.val, now, sink, delivered);
    }
    munmap(m, len);
    return 0;
}

// Slots [first, first + n) of fa_cache (n <= kCacheChunk), through the fixed slots_ buffer.
int BpfFlowObject::drain_cache_chunk(uint32_t first, uint32_t n, MonoMs now, SourceSink& sink,
                                     int* delivered)
{
    uint32_t got = 0;
    if (batch_ok_) {
        // The batch walk starts after the key in in_batch (or at 0 without one).
        uint32_t in_batch = first - 1, out_batch = 0;
        got = n;
        int r = bpf_map_lookup_batch(cache_fd_, first == 0 ? nullptr : &in_batch, &out_batch,
                                     slot_keys_, slots_, &got, nullptr);
        if (r != 0 && r != -ENOENT) {
            if (!bpf_no_batch(r)) return r;
            got = 0;  // batch_ok_ turns false in drain_flows() for the same kernels
        }
    }
    bool batched = got == n;
    for (uint32_t s = 0; batched && s < n; ++s)
        batched = slot_keys_[s] == first + s;  // slots are used by position below
    // Used slots are cleared first and delivered after, from slots_: a slot a failed update
    // leaves in place is delivered by a later drain, never twice.
    static fa_cache_ent zeros[kCacheChunk];  // .bss, only ever read: no memory of its own
    uint32_t nused = 0;
    for (uint32_t s = 0; s < n; ++s) {
        uint32_t idx = first + s;
        int r = batched ? 0 : bpf_map_lookup_elem(cache_fd_, &idx, &slots_[s]);
        if (r != 0) return r;
        if (slots_[s].val.packets == 0) continue;
        if (batched) {
            slot_keys_[nused] = idx;
            if (nused != s) slots_[nused] = slots_[s];
            ++nused;
            continue;
        }
        r = bpf_map_update_elem(cache_fd_, &idx, &zeros[0], BPF_ANY);
        if (r != 0) return r;
        deliver(slots_[s].key, slots_[s].val, now, sink, delivered);
    }
    if (batched && nused > 0) {
        uint32_t cnt = nused;
        const int r = bpf_map_update_batch(cache_fd_, slot_keys_, zeros, &cnt, nullptr);
        for (uint32_t i = 0; i < (r != 0 ? cnt : nused); ++i)  // cnt: how many it cleared
            deliver(slots_[i].key, slots_[i].val, now, sink, delivered);
        return r;
    }
    return 0;
}

} // namespace fa
