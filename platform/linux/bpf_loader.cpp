// SPDX-License-Identifier: GPL-2.0-only
#include "bpf_loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "clock_linux.h"
#include "core/log.h"
#ifdef FA_BPF_EMBED
#include "fa_flow_obj.h"
#endif
#include "source/bpf_decode.h"

namespace fa {

static_assert(sizeof(fa_flow_key) == 40 && sizeof(fa_flow_val) == 24 &&
                  sizeof(fa_cache_ent) == 64,
              "ABI sizes (fa_abi.h)");

namespace {

// The last 4 KiB of libbpf's output, which holds the verifier log tail when a load fails.
char g_log[4096];
size_t g_log_len = 0;

int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list ap)
{
    if (level == LIBBPF_DEBUG) return 0;
    char line[1024];
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    if (n <= 0) return 0;
    size_t len = size_t(n) < sizeof(line) ? size_t(n) : sizeof(line) - 1;
    if (len >= sizeof(g_log)) len = sizeof(g_log) - 1;
    if (g_log_len + len >= sizeof(g_log)) {  // keep the tail
        size_t drop = g_log_len + len - (sizeof(g_log) - 1);
        std::memmove(g_log, g_log + drop, g_log_len - drop);
        g_log_len -= drop;
    }
    std::memcpy(g_log + g_log_len, line, len);
    g_log_len += len;
    g_log[g_log_len] = 0;
    return 0;
}

const char* kProgNames[3] = {FA_PROG_XDP, FA_PROG_TC_IN, FA_PROG_TC_EG};

// Oldest kernel we claim: 5.4 (global .rodata data needs 5.2, BPF_MAP_LOOKUP_AND_DELETE and
// batch ops are optional, bpf_xdp_attach/bpf_tc_* go through netlink).
int probe_kernel(const BpfLoadOptions& opt)
{
    struct Probe {
        bool prog;
        int type;
        const char* what;
    };
    const Probe probes[] = {
        {true, BPF_PROG_TYPE_XDP, "XDP programs"},
        {true, BPF_PROG_TYPE_SCHED_CLS, "tc (sched_cls) programs"},
        {false, BPF_MAP_TYPE_HASH, "hash maps"},
        {false, BPF_MAP_TYPE_PERCPU_ARRAY, "per-CPU arrays"},
        {false, BPF_MAP_TYPE_ARRAY_OF_MAPS, "array-of-maps (drain synchronisation)"},
    };
    for (const Probe& p : probes) {
        if (p.prog && p.type == BPF_PROG_TYPE_XDP && !opt.load_xdp) continue;
        if (p.prog && p.type == BPF_PROG_TYPE_SCHED_CLS && !opt.load_tc) continue;
        int r = p.prog ? libbpf_probe_bpf_prog_type(bpf_prog_type(p.type), nullptr)
                       : libbpf_probe_bpf_map_type(bpf_map_type(p.type), nullptr);
        if (r == -EPERM) {
            FA_ERROR("bpf: not permitted: loading BPF needs root or CAP_BPF+CAP_NET_ADMIN");
            return -EPERM;
        }
        if (r != 1) {
            struct utsname u;
            uname(&u);
            FA_ERROR("bpf: kernel too old: %s not supported by kernel %s (%d); flowagent needs "
                     "Linux >= 5.4 with CONFIG_BPF_SYSCALL, or use source = conntrack",
                     p.what, u.release, r);
            return -EOPNOTSUPP;
        }
    }
    return 0;
}

// BPF_F_MMAPABLE arrays (5.5): their values start on a page boundary.
// FA_BPF_NO_MMAPABLE (tests, benchmarks) takes the path of kernels without them.
bool mmapable_arrays()
{
    if (std::getenv("FA_BPF_NO_MMAPABLE") != nullptr) return false;
    LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_MMAPABLE);
    int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, nullptr, 4, 8, 1, &o);
    if (fd < 0) return false;
    ::close(fd);
    return true;
}

} // namespace

// Flow cache slots per CPU and generation: max_flows / 64, within the ABI's bounds (64 to
// 4096 slots, 8 to 512 KiB per CPU for both generations); 1024 for the default 65,536.
uint32_t cache_bits_for(uint32_t max_flows)
{
    uint32_t bits = FA_CACHE_BITS_MIN;
    while (bits < FA_CACHE_BITS_MAX && (uint64_t(1) << (bits + 6)) < max_flows) ++bits;
    return bits;
}

const char* bpf_log_tail() { return g_log; }

BpfFlowObject::~BpfFlowObject() { close(); }

void BpfFlowObject::close()
{
    if (obj_ != nullptr) bpf_object__close(obj_);
    obj_ = nullptr;
    for (int& fd : prog_fd_) fd = -1;
    flows_fd_ = cache_fd_ = stats_fd_ = ctl_fd_ = sync_fd_ = sync_inner_fd_ = frags_fd_ = -1;
    std::free(keys_);
    std::free(vals_);
    std::free(percpu_);
    std::free(slots_);
    std::free(slot_keys_);
    slots_ = nullptr;
    slot_keys_ = nullptr;
    keys_ = nullptr;
    vals_ = nullptr;
    percpu_ = nullptr;
}

int BpfFlowObject::prog_fd(BpfHook hook) const { return prog_fd_[int(hook)]; }

int BpfFlowObject::load(const BpfLoadOptions& opt)
{
    close();
    libbpf_set_print(libbpf_print);
    g_log_len = 0;
    g_log[0] = 0;
    if (opt.max_flows == 0) {
        FA_ERROR("bpf: max_flows must be at least 1");
        return -EINVAL;
    }
    int err = probe_kernel(opt);
    if (err) return err;

    const char* path = opt.object_path;
    if (path == nullptr) path = std::getenv("FA_BPF_OBJECT");
#ifdef FA_BPF_EMBED
    if (path != nullptr && path[0] != 0) {
        obj_ = bpf_object__open_file(path, nullptr);
    } else {
        LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "fa_flow");
        obj_ = bpf_object__open_mem(k_fa_flow_obj, k_fa_flow_obj_size, &oo);
        path = "(embedded)";
    }
#else
    if (path == nullptr || path[0] == 0) path = FA_BPF_INSTALL_PATH;
    obj_ = bpf_object__open_file(path, nullptr);
#endif
    err = obj_ == nullptr ? -errno : int(libbpf_get_error(obj_));
    if (obj_ == nullptr || err != 0) {
        obj_ = nullptr;
        if (err == -LIBBPF_ERRNO__ENDIAN) {
            FA_ERROR("bpf: object %s has the other byte order than this CPU (%s-endian): build "
                     "it for this target (FA_BPF_TARGET=%s)", path,
                     __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? "big" : "little",
                     __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? "bpfeb" : "bpfel");
        } else {
            char why[128];
            libbpf_strerror(err, why, sizeof(why));  // libbpf's own codes (4000...) too
            FA_ERROR("bpf: cannot open object %s: %s", path, why);
        }
        // libbpf's own codes (4000 and up) mean nothing to strerror() in the caller's log.
        if (err == -LIBBPF_ERRNO__ENDIAN) return -ENOEXEC;
        return err != 0 && err > -__LIBBPF_ERRNO__START ? err : -EINVAL;
    }

    // .rodata: the ABI check, then the sampling settings.
    bpf_map* ro = bpf_object__find_map_by_name(obj_, ".rodata");
    size_t ro_size = 0;
    const void* ro_init = ro != nullptr ? bpf_map__initial_value(ro, &ro_size) : nullptr;
    if (ro_init == nullptr || ro_size != sizeof(fa_cfg)) {
        FA_ERROR("bpf: object %s has no fa_cfg of %zu bytes in .rodata (found %zu): ABI mismatch",
                 path, sizeof(fa_cfg), ro_size);
        close();
        return -EINVAL;
    }
    fa_cfg cfg;
    std::memcpy(&cfg, ro_init, sizeof(cfg));
    if (cfg.abi_version != FA_ABI_VERSION) {
        FA_ERROR("bpf: object %s has ABI version %u, this agent needs %u: install matching files",
                 path, cfg.abi_version, FA_ABI_VERSION);
        close();
        return -EINVAL;
    }
    cfg.sample_rate = opt.sample_rate;
    cfg.sample_mode = opt.sample_mode;
    cache_bits_ = opt.cache_bits != 0 ? opt.cache_bits : cache_bits_for(opt.max_flows);
    const char* env_bits = std::getenv("FA_BPF_CACHE_BITS");  // benchmarks: another size
    if (env_bits != nullptr) {
        char* end = nullptr;
        const unsigned long v = std::strtoul(env_bits, &end, 10);
        // Not a number, or out of range before the cast: 0, refused below.
        cache_bits_ = end == env_bits || *end != 0 || v > FA_CACHE_BITS_MAX ? 0 : uint32_t(v);
    }
    if (cache_bits_ < FA_CACHE_BITS_MIN || cache_bits_ > FA_CACHE_BITS_MAX) {
        FA_ERROR("bpf: flow cache of 2^%u slots per CPU%s%s%s: expected %u to %u", cache_bits_,
                 env_bits ? " (FA_BPF_CACHE_BITS = '" : "", env_bits ? env_bits : "",
                 env_bits ? "')" : "", FA_CACHE_BITS_MIN, FA_CACHE_BITS_MAX);
        cache_bits_ = FA_CACHE_BITS_MIN;  // never a shift by the refused value
        close();
        return -EINVAL;
    }
    cfg.cache_bits = cache_bits_;
    bpf_map__set_initial_value(ro, &cfg, sizeof(cfg));
    ncpu_ = libbpf_num_possible_cpus();
    if (ncpu_ <= 0) ncpu_ = 1;
    bpf_map* cache = bpf_object__find_map_by_name(obj_, FA_MAP_CACHE);
    if (cache == nullptr || bpf_map__value_size(cache) != sizeof(fa_cache_ent)) {
        FA_ERROR("bpf: object %s: map %s missing or of the wrong size: ABI mismatch", path,
                 FA_MAP_CACHE);
        close();
        return -EINVAL;
    }
    bpf_map__set_max_entries(cache, (uint32_t(ncpu_) * 2u) << cache_bits_);
    // Kernel < 5.5: slots may straddle two cache lines, and the drain reads them through
    // syscalls; still exact. A CPU's region must be whole pages to be mapped on its own.
    cache_mmap_ = mmapable_arrays();
#if !(defined(__x86_64__) || defined(__i386__) || defined(__aarch64__) || defined(__s390x__))
    // CPUs whose data caches can alias (some MIPS and older ARM cores): the programs write the
    // array through the kernel's address and a user mapping is another virtual address of the
    // same pages, with no cache maintenance between them. Only where caches cannot alias.
    cache_mmap_ = false;
#endif
    if (!cache_mmap_)
        bpf_map__set_map_flags(cache, bpf_map__map_flags(cache) & ~uint32_t(BPF_F_MMAPABLE));
    const long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || ((sizeof(fa_cache_ent) << cache_bits_) % size_t(page)) != 0)
        cache_mmap_ = false;

    bpf_map* flows = bpf_object__find_map_by_name(obj_, FA_MAP_FLOWS);
    if (flows == nullptr || bpf_map__key_size(flows) != sizeof(fa_flow_key) ||
        bpf_map__value_size(flows) != sizeof(fa_flow_val)) {
        FA_ERROR("bpf: object %s: map %s missing or of the wrong size: ABI mismatch", path,
                 FA_MAP_FLOWS);
        close();
        return -EINVAL;
    }
    bpf_map__set_max_entries(flows, opt.max_flows);
    for (int i = 0; i < 3; ++i) {
        bpf_program* p = bpf_object__find_program_by_name(obj_, kProgNames[i]);
        if (p == nullptr) {
            FA_ERROR("bpf: object %s lacks program %s", path, kProgNames[i]);
            close();
            return -EINVAL;
        }
        bpf_program__set_autoload(p, i == 0 ? opt.load_xdp : opt.load_tc);
    }

    err = bpf_object__load(obj_);
    if (err) {
        if (err == -EPERM)
            FA_ERROR("bpf: load not permitted (%s): run as root or with CAP_BPF, CAP_NET_ADMIN "
                     "and CAP_PERFMON; kernels < 5.11 also need RLIMIT_MEMLOCK (ulimit -l)",
                     std::strerror(-err));
        else if (err == -ENOMEM || err == -E2BIG)
            FA_ERROR("bpf: map creation failed (%s): max_flows = %u needs about %u KiB of "
                     "kernel memory (memlock or memory): 128 bytes per flow, plus %u KiB of "
                     "flow cache for %d CPUs",
                     std::strerror(-err), opt.max_flows, unsigned(opt.max_flows / 1024 * 128),
                     unsigned((size_t(ncpu_) * 2 * sizeof(fa_cache_ent)) << cache_bits_ >> 10),
                     ncpu_);
        else
            FA_ERROR("bpf: verifier or kernel rejected the object (%s); log tail:\n%s",
                     std::strerror(-err), g_log);
        close();
        return err;
    }
    for (int i = 0; i < 3; ++i) {
        bpf_program* p = bpf_object__find_program_by_name(obj_, kProgNames[i]);
        prog_fd_[i] = bpf_program__autoload(p) ? bpf_program__fd(p) : -1;
    }
    flows_fd_ = bpf_map__fd(flows);
    cache_fd_ = bpf_object__find_map_fd_by_name(obj_, FA_MAP_CACHE);
    stats_fd_ = bpf_object__find_map_fd_by_name(obj_, FA_MAP_STATS);
    ctl_fd_ = bpf_object__find_map_fd_by_name(obj_, FA_MAP_CTL);
    sync_fd_ = bpf_object__find_map_fd_by_name(obj_, FA_MAP_SYNC);
    sync_inner_fd_ = bpf_object__find_map_fd_by_name(obj_, "fa_sync_in");
    frags_fd_ = bpf_object__find_map_fd_by_name(obj_, FA_MAP_FRAGS);
    if (cache_fd_ < 0 || stats_fd_ < 0 || ctl_fd_ < 0 || sync_fd_ < 0 || sync_inner_fd_ < 0 || frags_fd_ < 0) {
        FA_ERROR("bpf: object %s lacks one of its maps: ABI mismatch", path);
        close();
        return -EINVAL;
    }
    max_flows_ = opt.max_flows;
    gen_ = 0;
    FA_INFO("bpf: flow cache %u slots x %d CPUs, drained through %s", 1u << cache_bits_, ncpu_,
            cache_mmap_ ? "mmap" : "map syscalls");
    // FA_BPF_NO_BATCH (tests): take the key-by-key paths that kernels before 5.6 need.
    batch_ok_ = std::getenv("FA_BPF_NO_BATCH") == nullptr;
    // The one allocation: fixed drain buffers (kDrainChunk map entries, 64 KiB, and
    // kCacheChunk cache slots, 16 KiB); none of it grows with max_flows or the CPUs.
    keys_ = static_cast<fa_flow_key*>(std::calloc(kDrainChunk, sizeof(fa_flow_key)));
    vals_ = static_cast<fa_flow_val*>(std::calloc(kDrainChunk, sizeof(fa_flow_val)));
    percpu_ = static_cast<fa_stat*>(std::calloc(size_t(ncpu_), sizeof(fa_stat)));
    slots_ = static_cast<fa_cache_ent*>(std::calloc(kCacheChunk, sizeof(fa_cache_ent)));
    slot_keys_ = static_cast<uint32_t*>(std::calloc(kCacheChunk, sizeof(uint32_t)));
    if (keys_ == nullptr || vals_ == nullptr || percpu_ == nullptr ||
        slots_ == nullptr || slot_keys_ == nullptr) {
        FA_ERROR("bpf: out of memory for drain buffers (max_flows = %u)", max_flows_);
        close();
        return -ENOMEM;
    }
    uint32_t zero = 0;
    fa_ctl ctl{};
    ctl.now_ms = uint32_t(LinuxClock().mono_ms());
    if (bpf_map_update_elem(ctl_fd_, &zero, &ctl, BPF_ANY) != 0) {
        err = -errno;
        close();
        return err;
    }
    return 0;
}

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
    if (bpf_map_update_elem(sync_fd_, &zero, &inner, BPF_ANY) != 0) return -errno;
    return 0;
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
        LIBBPF_OPTS(bpf_map_batch_opts, bo);
        if (bpf_map_delete_batch(flows_fd_, keys_, &gone, &bo) != 0) err = -errno;  // gone: done
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
            LIBBPF_OPTS(bpf_map_batch_opts, bo);
            int r = bpf_map_lookup_batch(flows_fd_, first ? nullptr : &in_batch, &out_batch,
                                         keys_, vals_, &n, &bo);
            int e = r != 0 ? errno : 0;
            if (r != 0 && e != ENOENT) {
                if (first && (e == EINVAL || e == ENOTSUP || e == EOPNOTSUPP)) {
                    batch_ok_ = false;  // kernel < 5.6: the walk below
                    FA_INFO("bpf: batch map operations unavailable, draining key by key");
                    break;
                }
                return -e;
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
    uint32_t zero = 0;
    const MonoMs now = LinuxClock().mono_ms();
    fa_ctl ctl{};
    ctl.gen = gen_;
    ctl.now_ms = uint32_t(now);
    if (bpf_map_update_elem(ctl_fd_, &zero, &ctl, BPF_ANY) != 0) return -errno;
    int err = sync_programs();
    if (err) return err;

    int delivered = 0;
    err = drain_cache(old, now, sink, &delivered);
    if (err == 0) err = drain_flows(old, now, sink, &delivered);
    flush_batch(sink);  // what was read and cleared is delivered whatever failed after it
    return err ? err : delivered;
}

int BpfFlowObject::stamp_time(MonoMs now)
{
    if (obj_ == nullptr) return -EBADF;
    uint32_t zero = 0;
    fa_ctl ctl{};
    ctl.gen = gen_;
    ctl.now_ms = uint32_t(now);
    return bpf_map_update_elem(ctl_fd_, &zero, &ctl, BPF_ANY) != 0 ? -errno : 0;
}

void BpfFlowObject::deliver(const fa_flow_key& k, const fa_flow_val& v, MonoMs now,
                            SourceSink& sink, int* delivered)
{
    if (bpf_decode(k, v, now, batch_[batch_n_]) != Status::ok) {
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
        LIBBPF_OPTS(bpf_map_batch_opts, bo);
        int r = bpf_map_lookup_batch(cache_fd_, first == 0 ? nullptr : &in_batch, &out_batch,
                                     slot_keys_, slots_, &got, &bo);
        if (r != 0 && errno != ENOENT) {
            if (errno == EINVAL || errno == ENOTSUP || errno == EOPNOTSUPP) {
                got = 0;  // batch_ok_ turns false in drain_flows() for the same kernels
            } else {
                return -errno;
            }
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
        if (!batched && bpf_map_lookup_elem(cache_fd_, &idx, &slots_[s]) != 0) return -errno;
        if (slots_[s].val.packets == 0) continue;
        if (batched) {
            slot_keys_[nused] = idx;
            if (nused != s) slots_[nused] = slots_[s];
            ++nused;
        } else if (bpf_map_update_elem(cache_fd_, &idx, &zeros[0], BPF_ANY) != 0) {
            return -errno;
        } else {
            deliver(slots_[s].key, slots_[s].val, now, sink, delivered);
        }
    }
    if (batched && nused > 0) {
        uint32_t cnt = nused;
        LIBBPF_OPTS(bpf_map_batch_opts, bo);
        const int r = bpf_map_update_batch(cache_fd_, slot_keys_, zeros, &cnt, &bo);
        const int err = r != 0 ? -errno : 0;
        for (uint32_t i = 0; i < (r != 0 ? cnt : nused); ++i)  // cnt: how many it cleared
            deliver(slots_[i].key, slots_[i].val, now, sink, delivered);
        return err;
    }
    return 0;
}

int BpfFlowObject::read_stats(BpfStats& out) const
{
    out = BpfStats{};
    for (uint32_t r = 0; r < FA_R_MAX; ++r) {
        if (bpf_map_lookup_elem(stats_fd_, &r, percpu_) != 0) return -errno;
        for (int c = 0; c < ncpu_; ++c) {
            out.reason[r].packets += percpu_[c].packets;
            out.reason[r].bytes += percpu_[c].bytes;
        }
    }
    return 0;
}

int BpfFlowObject::age_frags(MonoMs now_ms, uint32_t max_age_ms)
{
    fa_frag_key keys[64];
    fa_frag_key k, prev;
    bool have_prev = false;
    int nold = 0, total = 0;
    // Collect first, delete after: deleting during get_next_key would restart the walk.
    while (bpf_map_get_next_key(frags_fd_, have_prev ? &prev : nullptr, &k) == 0) {
        fa_frag_val v;
        // seen_ms is fa_ctl.now_ms (32 bits, never ahead of now_ms): the age is a difference
        // modulo 2^32.
        if (bpf_map_lookup_elem(frags_fd_, &k, &v) == 0 &&
            uint32_t(uint32_t(now_ms) - v.seen_ms) > max_age_ms && nold < 64)
            keys[nold++] = k;
        prev = k;
        have_prev = true;
        if (++total > FA_FRAG_ENTRIES * 2) break;
    }
    for (int i = 0; i < nold; ++i) bpf_map_delete_elem(frags_fd_, &keys[i]);
    return nold;
}

// ---- attachment -------------------------------------------------------------------------

namespace {

// Name of the program with this id, or "" when it cannot be read.
void prog_name(uint32_t id, char* out, size_t len)
{
    out[0] = 0;
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) return;
    bpf_prog_info info;
    std::memset(&info, 0, sizeof(info));
    uint32_t ilen = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &ilen) == 0) snprintf(out, len, "%s", info.name);
    ::close(fd);
}

int resolve(const char* ifname, uint32_t* ifindex)
{
    unsigned idx = if_nametoindex(ifname);
    if (idx == 0) {
        FA_ERROR("bpf: interface %s not found (%s)", ifname, std::strerror(errno));
        return -ENODEV;
    }
    if (idx > FA_IFX_MAX) {
        FA_ERROR("bpf: interface %s has ifindex %u; the flow key holds at most %u",
                 ifname, idx, unsigned(FA_IFX_MAX));
        return -ERANGE;
    }
    *ifindex = idx;
    return 0;
}

const uint32_t kTcHandle = 0xfa;    // our filter's handle and priority on clsact; a stale
const uint32_t kTcPriority = 0xfa;  // filter of ours is at the same place and is replaced

} // namespace

const char* BpfAttachments::mode(int i) const
{
    const Item& it = items_[i];
    if (it.xdp) return it.xdp_flags == XDP_FLAGS_SKB_MODE ? "xdp-generic" : "xdp-native";
    if (it.tcx_fd[0] >= 0 || it.tcx_fd[1] >= 0) return "tcx";
    return "clsact";
}

int BpfAttachments::attach_xdp(const BpfFlowObject& obj, const char* ifname)
{
    if (count_ >= 32) return -E2BIG;
    Item it;
    snprintf(it.name, sizeof(it.name), "%s", ifname);
    int err = resolve(ifname, &it.ifindex);
    if (err) return err;
    const int idx = int(it.ifindex);
    uint32_t id = 0;
    if (bpf_xdp_query_id(idx, 0, &id) == 0 && id != 0) {
        char name[BPF_OBJ_NAME_LEN];
        prog_name(id, name, sizeof(name));
        if (std::strcmp(name, FA_PROG_XDP) != 0) {
            FA_ERROR("bpf: %s already has XDP program '%s' (id %u), not ours: remove it or "
                     "use source = tc",
                     ifname, name, id);
            return -EBUSY;
        }
        FA_WARN("bpf: replacing stale %s (id %u) on %s left by an earlier run", name, id, ifname);
        bpf_xdp_detach(idx, XDP_FLAGS_DRV_MODE, nullptr);
        bpf_xdp_detach(idx, XDP_FLAGS_SKB_MODE, nullptr);
    }
    int fd = obj.prog_fd(BpfHook::xdp);
    it.xdp_flags = XDP_FLAGS_DRV_MODE;
    err = bpf_xdp_attach(idx, fd, it.xdp_flags, nullptr);
    if (err == -EPERM) {
        FA_ERROR("bpf: attaching XDP to %s not permitted: needs CAP_NET_ADMIN", ifname);
        return err;
    }
    if (err) {
        FA_INFO("bpf: native XDP unavailable on %s (%s), using generic XDP", ifname,
                std::strerror(-err));
        it.xdp_flags = XDP_FLAGS_SKB_MODE;
        err = bpf_xdp_attach(idx, fd, it.xdp_flags, nullptr);
    }
    if (err) {
        FA_ERROR("bpf: cannot attach XDP to %s: %s (try source = tc)", ifname,
                 std::strerror(-err));
        return err;
    }
    it.xdp = true;
    FA_INFO("bpf: XDP (%s) attached to %s (ifindex %u)",
            it.xdp_flags == XDP_FLAGS_DRV_MODE ? "native" : "generic", ifname, it.ifindex);
    items_[count_++] = it;
    return 0;
}

// tcx (kernel 6.6): BPF links on the device's ingress/egress, no qdisc, no classifier chain
// walk; the link goes with our file descriptor, so a crash leaves nothing behind. The numbers
// are the kernel's enum bpf_attach_type values (newer than Debian 12's headers).
constexpr int kTcxIngress = 46;  // BPF_TCX_INGRESS
constexpr int kTcxEgress = 47;   // BPF_TCX_EGRESS

int BpfAttachments::attach_tc(const BpfFlowObject& obj, const char* ifname)
{
    if (count_ >= 32) return -E2BIG;
    Item it;
    snprintf(it.name, sizeof(it.name), "%s", ifname);
    int err = resolve(ifname, &it.ifindex);
    if (err) return err;
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = int(it.ifindex), .attach_point = BPF_TC_INGRESS);
    const BpfHook hooks[2] = {BpfHook::tc_in, BpfHook::tc_eg};
    const bpf_tc_attach_point points[2] = {BPF_TC_INGRESS, BPF_TC_EGRESS};

    if (tcx_ok_) {
        const int types[2] = {kTcxIngress, kTcxEgress};
        for (int i = 0; i < 2; ++i) {
            it.tcx_fd[i] = bpf_link_create(obj.prog_fd(hooks[i]), int(it.ifindex),
                                           bpf_attach_type(types[i]), nullptr);
            if (it.tcx_fd[i] < 0) break;
        }
        if (it.tcx_fd[0] >= 0 && it.tcx_fd[1] >= 0) {
            // A clsact filter of ours left by a crash of a run that had no tcx: remove it.
            for (bpf_tc_attach_point p : points) {
                hook.attach_point = p;
                LIBBPF_OPTS(bpf_tc_opts, to, .handle = kTcHandle, .priority = kTcPriority);
                if (bpf_tc_detach(&hook, &to) == 0)
                    FA_WARN("bpf: removed a stale clsact filter of ours from %s", ifname);
            }
            FA_INFO("bpf: tcx ingress+egress attached to %s (ifindex %u)", ifname, it.ifindex);
            items_[count_++] = it;
            return 0;
        }
        err = -errno;
        for (int& fd : it.tcx_fd) {
            if (fd >= 0) ::close(fd);
            fd = -1;
        }
        if (err == -EPERM) {
            FA_ERROR("bpf: cannot attach tcx programs to %s: %s (needs CAP_NET_ADMIN and "
                     "CAP_BPF)", ifname, std::strerror(-err));
            return err;
        }
        tcx_ok_ = false;  // kernel < 6.6 (EINVAL): clsact from now on
        FA_INFO("bpf: tcx not available (%s), using a clsact qdisc", std::strerror(-err));
    }

    err = bpf_tc_hook_create(&hook);
    if (err && err != -EEXIST) {
        FA_ERROR("bpf: cannot create clsact qdisc on %s: %s%s", ifname, std::strerror(-err),
                 err == -EPERM ? " (needs CAP_NET_ADMIN)" : "");
        return err;
    }
    it.created_qdisc = err == 0;
    for (int i = 0; i < 2; ++i) {
        hook.attach_point = points[i];
        // BPF_TC_F_REPLACE: a stale filter of ours at (handle, priority) is replaced in place.
        LIBBPF_OPTS(bpf_tc_opts, to, .prog_fd = obj.prog_fd(hooks[i]), .flags = BPF_TC_F_REPLACE,
                    .handle = kTcHandle, .priority = kTcPriority);
        err = bpf_tc_attach(&hook, &to);
        if (err) {
            FA_ERROR("bpf: cannot attach tc %s program to %s: %s", i == 0 ? "ingress" : "egress",
                     ifname, std::strerror(-err));
            it.tc = true;
            items_[count_++] = it;  // so detach_all() undoes the half
            return err;
        }
    }
    it.tc = true;
    FA_INFO("bpf: tc clsact ingress+egress attached to %s (ifindex %u)", ifname, it.ifindex);
    items_[count_++] = it;
    return 0;
}

int BpfAttachments::replace(BpfAttachments& old, const BpfFlowObject& old_obj,
                            const BpfFlowObject& obj, const char* ifname)
{
    int at = -1;
    for (int i = 0; i < old.count_ && at < 0; ++i)
        if (std::strcmp(old.items_[i].name, ifname) == 0) at = i;
    if (at < 0) return 1;
    if (count_ >= 32) return -E2BIG;
    Item& it = old.items_[at];
    const int idx = int(it.ifindex);
    const BpfHook hooks[2] = {BpfHook::tc_in, BpfHook::tc_eg};
    int err = 0;
    bool half = false;
    if (it.xdp) {
        LIBBPF_OPTS(bpf_xdp_attach_opts, xo, .old_prog_fd = old_obj.prog_fd(BpfHook::xdp));
        err = bpf_xdp_attach(idx, obj.prog_fd(BpfHook::xdp), it.xdp_flags | XDP_FLAGS_REPLACE,
                             &xo);
    } else if (it.tcx_fd[0] >= 0 && it.tcx_fd[1] >= 0) {
        for (int i = 0; i < 2 && err == 0; ++i) {
            LIBBPF_OPTS(bpf_link_update_opts, lo, .flags = BPF_F_REPLACE,
                        .old_prog_fd = uint32_t(old_obj.prog_fd(hooks[i])));
            if (bpf_link_update(it.tcx_fd[i], obj.prog_fd(hooks[i]), &lo) != 0) err = -errno;
            else half = true;
        }
    } else if (it.tc) {
        const bpf_tc_attach_point points[2] = {BPF_TC_INGRESS, BPF_TC_EGRESS};
        LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = idx, .attach_point = BPF_TC_INGRESS);
        for (int i = 0; i < 2 && err == 0; ++i) {
            hook.attach_point = points[i];
            LIBBPF_OPTS(bpf_tc_opts, to, .prog_fd = obj.prog_fd(hooks[i]),
                        .flags = BPF_TC_F_REPLACE, .handle = kTcHandle, .priority = kTcPriority);
            err = bpf_tc_attach(&hook, &to);
            if (err == 0) half = true;
        }
    } else {
        return 1;
    }
    if (err && !half) {
        FA_WARN("bpf: cannot replace the program on %s in place: %s", ifname,
                std::strerror(-err));
        return err;
    }
    items_[count_++] = it;
    if (err) FA_ERROR("bpf: %s: ingress replaced, egress not: %s", ifname, std::strerror(-err));
    else FA_INFO("bpf: program on %s replaced in place (%s)", ifname, mode(count_ - 1));
    for (int i = at; i + 1 < old.count_; ++i) old.items_[i] = old.items_[i + 1];
    old.items_[--old.count_] = Item{};
    return err;
}

void BpfAttachments::detach_all()
{
    for (int i = count_ - 1; i >= 0; --i) {
        Item& it = items_[i];
        const int idx = int(it.ifindex);
        if (it.xdp) bpf_xdp_detach(idx, it.xdp_flags, nullptr);
        for (int& fd : it.tcx_fd) {
            if (fd >= 0) ::close(fd);  // the last reference: the link detaches
            fd = -1;
        }
        if (it.tc) {
            LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = idx, .attach_point = BPF_TC_INGRESS);
            const bpf_tc_attach_point points[2] = {BPF_TC_INGRESS, BPF_TC_EGRESS};
            for (bpf_tc_attach_point p : points) {
                hook.attach_point = p;
                LIBBPF_OPTS(bpf_tc_opts, to, .handle = kTcHandle, .priority = kTcPriority);
                bpf_tc_detach(&hook, &to);
            }
            if (it.created_qdisc) {
                hook.attach_point = bpf_tc_attach_point(BPF_TC_INGRESS | BPF_TC_EGRESS);
                bpf_tc_hook_destroy(&hook);
            }
        }
        FA_INFO("bpf: detached from %s", it.name);
    }
    count_ = 0;
}

} // namespace fa
