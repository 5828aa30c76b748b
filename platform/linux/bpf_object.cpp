// SPDX-License-Identifier: GPL-2.0-only
// Probing the kernel, loading and specialising the flow object, its counters and fragment map.
#include "bpf_loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bpf/libbpf_version.h>
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

namespace fa {

// libbpf 1.0 and later return the negative errno from the bpf_map_*, bpf_link_* and
// bpf_prog_* calls (0.x: -1, the error in errno); the BPF code here uses those values.
static_assert(LIBBPF_MAJOR_VERSION >= 1, "libbpf 1.0 or later");

static_assert(sizeof(fa_flow_key) == 40 && sizeof(fa_flow_val) == 40 &&
                  sizeof(fa_cache_ent) == 128,
              "ABI sizes (fa_abi.h)");

namespace {

// The last 4 KiB of libbpf's output, which holds the verifier log tail when a load fails.
char g_log[4096];
size_t g_log_len = 0;

int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list ap)
{
    if (level == LIBBPF_DEBUG) return 0;
    char buf[1024];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    if (n <= 0) {
        va_end(ap2);
        return 0;
    }
    // libbpf prints a failed program's whole verifier log in one call, and the reason is in
    // its last lines: format it in full (load failures only, never on the packet path) and
    // keep the end.
    const char* line = buf;
    char* whole = nullptr;
    if (size_t(n) >= sizeof(buf)) {
        whole = static_cast<char*>(std::malloc(size_t(n) + 1));
        if (whole != nullptr && vsnprintf(whole, size_t(n) + 1, fmt, ap2) == n) line = whole;
        else n = int(sizeof(buf)) - 1;
    }
    va_end(ap2);
    size_t len = size_t(n);
    if (len >= sizeof(g_log)) {
        line += len - (sizeof(g_log) - 1);
        len = sizeof(g_log) - 1;
    }
    if (g_log_len + len >= sizeof(g_log)) {  // keep the tail
        size_t drop = g_log_len + len - (sizeof(g_log) - 1);
        std::memmove(g_log, g_log + drop, g_log_len - drop);
        g_log_len -= drop;
    }
    std::memcpy(g_log + g_log_len, line, len);
    g_log_len += len;
    g_log[g_log_len] = 0;
    std::free(whole);
    return 0;
}

// The last `max_lines` lines of the captured libbpf output, one log line each (a log line holds
// at most 512 bytes; the verifier's reason is at the very end of its log).
void log_tail_lines(int max_lines)
{
    size_t end = g_log_len;
    while (end > 0 && g_log[end - 1] == '\n') --end;
    size_t start = end;
    for (int n = 0; start > 0 && n < max_lines; ++n) {
        --start;
        while (start > 0 && g_log[start - 1] != '\n') --start;
    }
    while (start < end) {
        size_t eol = start;
        while (eol < end && g_log[eol] != '\n') ++eol;
        FA_ERROR("bpf: | %.*s", int(eol - start), g_log + start);
        start = eol + 1;
    }
}

bool is_xdp(int hook) { return hook == int(BpfHook::xdp) || hook == int(BpfHook::xdp_l3); }

// Oldest kernel we claim: 5.4 (global .rodata data needs 5.2, BPF_MAP_LOOKUP_AND_DELETE and
// batch ops are optional, bpf_xdp_attach/bpf_tc_* go through netlink).
int probe_kernel(const BpfLoadOptions& opt)
{
    // Two program types, then three map types; what each is called in kWhat.
    const uint8_t types[5] = {BPF_PROG_TYPE_XDP, BPF_PROG_TYPE_SCHED_CLS, BPF_MAP_TYPE_HASH,
                              BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_ARRAY_OF_MAPS};
    static const char kWhat[] = "XDP programs\0tc (sched_cls) programs\0hash maps\0"
                                "per-CPU arrays\0array-of-maps (drain synchronisation)";
    const char* what = kWhat;
    for (int i = 0; i < 5; ++i, what += std::strlen(what) + 1) {
        if ((i == 0 && !opt.load_xdp) || (i == 1 && !opt.load_tc)) continue;
        int r = i < 2 ? libbpf_probe_bpf_prog_type(bpf_prog_type(types[i]), nullptr)
                      : libbpf_probe_bpf_map_type(bpf_map_type(types[i]), nullptr);
        if (r == -EPERM) {
            FA_ERROR("bpf: not permitted: loading BPF needs root or CAP_BPF+CAP_NET_ADMIN");
            return -EPERM;
        }
        if (r != 1) {
            struct utsname u;
            uname(&u);
            FA_ERROR("bpf: kernel too old: %s not supported by kernel %s (%d); flowagent needs "
                     "Linux >= 5.4 with CONFIG_BPF_SYSCALL, or use source = conntrack",
                     what, u.release, r);
            return -EOPNOTSUPP;
        }
    }
    return 0;
}

// BPF_F_MMAPABLE arrays (5.5): their values start on a page boundary.
bool mmapable_arrays()
{
    LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_MMAPABLE);
    int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, nullptr, 4, 8, 1, &o);
    if (fd < 0) return false;
    ::close(fd);
    return true;
}

} // namespace

// Flow cache slots per CPU and generation: max_flows / 128, within the ABI's bounds (64 to
// 4096 slots of 128 bytes, 16 KiB to 1 MiB per CPU for both generations); 512 for the default
// 65,536: 128 KiB per CPU, the memory the cache had with 64-byte slots (ABI 3, max_flows / 64).
uint32_t cache_bits_for(uint32_t max_flows)
{
    uint32_t bits = FA_CACHE_BITS_MIN;
    while (bits < FA_CACHE_BITS_MAX && (uint64_t(1) << (bits + 7)) < max_flows) ++bits;
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
    ifslot_fd_ = ifarr_fd_ = -1;
    std::memset(slot_ifindex_, 0, sizeof(slot_ifindex_));
    std::free(keys_);
    std::free(vals_);
    std::free(percpu_);
    std::free(stat_keys_);
    stat_keys_ = nullptr;
    std::free(slots_);
    std::free(slot_keys_);
    slots_ = nullptr;
    slot_keys_ = nullptr;
    keys_ = nullptr;
    vals_ = nullptr;
    percpu_ = nullptr;
}

int BpfFlowObject::prog_fd(BpfHook hook) const
{
    return int(hook) < kBpfHooks ? prog_fd_[int(hook)] : -1;
}

static_assert((FA_IFARR_ENTRIES & (FA_IFARR_ENTRIES - 1)) == 0, "fa_ifarr: a power of two");

// The order of the writes below is what fa_abi.h promises the programs: an fa_ifarr entry
// changes ifindex only through free ({0, 0}), and an ifindex moves from fa_ifslot into fa_ifarr
// entry first, hash entry after, so that a program never reads a wrong slot from a half-written
// entry and never misses an ifindex that has one.
int BpfFlowObject::set_slot(uint32_t ifindex, uint32_t slot)
{
    if (ifslot_fd_ < 0 || ifarr_fd_ < 0) return -EBADF;
    if (slot == 0 || slot > FA_MAX_SLOTS || ifindex == 0) return -EINVAL;
    const uint32_t ai = ifindex & (FA_IFARR_ENTRIES - 1);
    fa_ifslot_ent e{};
    int rc = bpf_map_lookup_elem(ifarr_fd_, &ai, &e);
    if (rc != 0) return rc;
    uint32_t cur = 0;
    rc = bpf_map_lookup_elem(ifslot_fd_, &ifindex, &cur);
    if (rc != 0 && rc != -ENOENT) return rc;
    const bool in_hash = rc == 0;
    if (e.ifindex == ifindex || (e.ifindex == 0 && !in_hash)) {
        // Its own entry (a reader sees the old slot or the new one), or a free one.
        const fa_ifslot_ent ne{ifindex, slot};
        rc = bpf_map_update_elem(ifarr_fd_, &ai, &ne, BPF_ANY);
    } else {
        // Another ifindex holds the entry: the hash, which the programs look in on a mismatch.
        rc = bpf_map_update_elem(ifslot_fd_, &ifindex, &slot, BPF_ANY);
    }
    if (rc != 0) return rc;
    slot_ifindex_[slot] = ifindex;
    return 0;
}

int BpfFlowObject::clear_slot(uint32_t ifindex)
{
    if (ifslot_fd_ < 0 || ifarr_fd_ < 0) return -EBADF;
    const uint32_t ai = ifindex & (FA_IFARR_ENTRIES - 1);
    fa_ifslot_ent e{};
    int rc = bpf_map_lookup_elem(ifarr_fd_, &ai, &e);
    if (rc != 0) return rc;
    if (ifindex == 0 || e.ifindex != ifindex) return bpf_map_delete_elem(ifslot_fd_, &ifindex);
    const fa_ifslot_ent free_ent{};
    rc = bpf_map_update_elem(ifarr_fd_, &ai, &free_ent, BPF_ANY);
    if (rc != 0) return rc;
    // The freed entry goes to an ifindex of the hash that maps to it (at most FA_IFSLOT_ENTRIES
    // keys to look at), so that it takes the cheap path from now on.
    uint32_t key = 0, next = 0;
    bool first = true;
    while (bpf_map_get_next_key(ifslot_fd_, first ? nullptr : &key, &next) == 0) {
        first = false;
        key = next;
        if ((key & (FA_IFARR_ENTRIES - 1)) != ai) continue;
        uint32_t slot = 0;
        rc = bpf_map_lookup_elem(ifslot_fd_, &key, &slot);
        if (rc != 0) return rc;
        const fa_ifslot_ent ne{key, slot};
        rc = bpf_map_update_elem(ifarr_fd_, &ai, &ne, BPF_ANY);
        if (rc != 0) return rc;
        rc = bpf_map_delete_elem(ifslot_fd_, &key);
        if (rc != 0) {
            // Never in both maps: clear_slot(key) would free the entry and leave the hash's.
            bpf_map_update_elem(ifarr_fd_, &ai, &free_ent, BPF_ANY);
            return rc;
        }
        break;
    }
    return 0;
}

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
    err = int(libbpf_get_error(obj_));  // nullptr too: -errno (libbpf >= 1.0)
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
    if (cache_bits_ < FA_CACHE_BITS_MIN || cache_bits_ > FA_CACHE_BITS_MAX) {
        FA_ERROR("bpf: flow cache of 2^%u slots per CPU: expected %u to %u", cache_bits_,
                 FA_CACHE_BITS_MIN, FA_CACHE_BITS_MAX);
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
    cache_mmap_ = !opt.no_mmap && mmapable_arrays();
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
    bpf_map* stats = bpf_object__find_map_by_name(obj_, FA_MAP_STATS);
    if (stats == nullptr || bpf_map__max_entries(stats) != FA_STATS_ENTRIES ||
        bpf_map__value_size(stats) != sizeof(fa_stat)) {
        FA_ERROR("bpf: object %s: map %s missing or of the wrong size: ABI mismatch", path,
                 FA_MAP_STATS);
        close();
        return -EINVAL;
    }
    // The L2 and L3 entries come from the same source and are loaded together: one that fails
    // the verifier fails the load (the object is broken for this kernel, not one device type).
    bpf_program* progs[kBpfHooks];
    const char* pname = kBpfProgNames;
    for (int i = 0; i < kBpfHooks; ++i, pname += std::strlen(pname) + 1) {
        bpf_program* p = progs[i] = bpf_object__find_program_by_name(obj_, pname);
        if (p == nullptr) {
            FA_ERROR("bpf: object %s lacks program %s", path, pname);
            close();
            return -EINVAL;
        }
        bpf_program__set_autoload(p, is_xdp(i) ? opt.load_xdp : opt.load_tc);
        if (opt.strict_alignment)
            bpf_program__set_flags(p, bpf_program__flags(p) | BPF_F_STRICT_ALIGNMENT);
    }

    err = bpf_object__load(obj_);
    if (err) {
        if (err == -EPERM)
            FA_ERROR("bpf: load not permitted (%s): run as root or with CAP_BPF, CAP_NET_ADMIN "
                     "and CAP_PERFMON; kernels < 5.11 also need RLIMIT_MEMLOCK (ulimit -l)",
                     std::strerror(-err));
        else if (err == -ENOMEM || err == -E2BIG)
            FA_ERROR("bpf: map creation failed (%s): max_flows = %u needs about %u KiB of "
                     "kernel memory (memlock or memory): 144 bytes per flow, plus %u KiB of "
                     "flow cache for %d CPUs",
                     std::strerror(-err), opt.max_flows, unsigned(opt.max_flows / 1024 * 144),
                     unsigned((size_t(ncpu_) * 2 * sizeof(fa_cache_ent)) << cache_bits_ >> 10),
                     ncpu_);
        else {
            FA_ERROR("bpf: verifier or kernel rejected the object (%s); log tail:",
                     std::strerror(-err));
            log_tail_lines(24);
        }
        close();
        return err;
    }
    for (int i = 0; i < kBpfHooks; ++i)
        prog_fd_[i] = bpf_program__autoload(progs[i]) ? bpf_program__fd(progs[i]) : -1;
    flows_fd_ = bpf_map__fd(flows);
    // In the order of kMapNames.
    static constexpr int BpfFlowObject::*const kFds[] = {
        &BpfFlowObject::cache_fd_,  &BpfFlowObject::stats_fd_,      &BpfFlowObject::ctl_fd_,
        &BpfFlowObject::sync_fd_,   &BpfFlowObject::sync_inner_fd_, &BpfFlowObject::frags_fd_,
        &BpfFlowObject::ifslot_fd_, &BpfFlowObject::ifarr_fd_};
    static const char kMapNames[] = FA_MAP_CACHE "\0" FA_MAP_STATS "\0" FA_MAP_CTL
        "\0" FA_MAP_SYNC "\0fa_sync_in\0" FA_MAP_FRAGS "\0" FA_MAP_IFSLOT "\0" FA_MAP_IFARR;
    bool all = true;
    const char* name = kMapNames;
    for (int BpfFlowObject::*fd : kFds) {
        this->*fd = bpf_object__find_map_fd_by_name(obj_, name);
        all = all && this->*fd >= 0;
        name += std::strlen(name) + 1;
    }
    if (!all) {
        FA_ERROR("bpf: object %s lacks one of its maps: ABI mismatch", path);
        close();
        return -EINVAL;
    }
    max_flows_ = opt.max_flows;
    gen_ = 0;
    FA_INFO("bpf: flow cache %u slots x %d CPUs, drained through %s", 1u << cache_bits_, ncpu_,
            cache_mmap_ ? "mmap" : "map syscalls");
    // opt.no_batch (tests): take the key-by-key paths that kernels before 5.6 need.
    batch_ok_ = !opt.no_batch;
    stats_batch_ok_ = !opt.no_batch;
    clock_ = opt.clock;
    // The one allocation: fixed drain buffers (kDrainChunk map entries, 80 KiB, and
    // kCacheChunk cache slots, 32 KiB), none of it growing with max_flows, and one slot's
    // per-CPU counters (FA_R_MAX x 16 bytes per CPU).
    keys_ = static_cast<fa_flow_key*>(std::calloc(kDrainChunk, sizeof(fa_flow_key)));
    vals_ = static_cast<fa_flow_val*>(std::calloc(kDrainChunk, sizeof(fa_flow_val)));
    percpu_ = static_cast<fa_stat*>(std::calloc(size_t(ncpu_) * FA_R_MAX, sizeof(fa_stat)));
    stat_keys_ = static_cast<uint32_t*>(std::calloc(FA_R_MAX, sizeof(uint32_t)));
    slots_ = static_cast<fa_cache_ent*>(std::calloc(kCacheChunk, sizeof(fa_cache_ent)));
    slot_keys_ = static_cast<uint32_t*>(std::calloc(kCacheChunk, sizeof(uint32_t)));
    if (keys_ == nullptr || vals_ == nullptr || percpu_ == nullptr || stat_keys_ == nullptr ||
        slots_ == nullptr || slot_keys_ == nullptr) {
        FA_ERROR("bpf: out of memory for drain buffers (max_flows = %u)", max_flows_);
        close();
        return -ENOMEM;
    }
    err = stamp_time(now_ms());  // generation 0
    if (err) {
        close();
        return err;
    }
    return 0;
}

// One slot's FA_R_MAX counters (entries slot * FA_R_MAX ...): one batch read (5.6), else one
// lookup per reason.
int BpfFlowObject::read_slot_stats(uint32_t slot, BpfStats& out) const
{
    const uint32_t first = slot * FA_R_MAX;
    bool got = false;
    if (stats_batch_ok_) {
        uint32_t in_batch = first - 1, out_batch = 0, n = FA_R_MAX;
        const int r = bpf_map_lookup_batch(stats_fd_, first == 0 ? nullptr : &in_batch,
                                           &out_batch, stat_keys_, percpu_, &n, nullptr);
        if (r != 0 && r != -ENOENT) {
            if (!bpf_no_batch(r)) return r;
            stats_batch_ok_ = false;  // kernel < 5.6
        }
        got = n == FA_R_MAX && stat_keys_[0] == first &&
              stat_keys_[FA_R_MAX - 1] == first + FA_R_MAX - 1;
    }
    for (uint32_t r = 0; r < FA_R_MAX; ++r) {
        fa_stat* v = percpu_ + size_t(r) * size_t(ncpu_);
        if (!got) {
            uint32_t idx = first + r;
            const int rc = bpf_map_lookup_elem(stats_fd_, &idx, v);
            if (rc != 0) return rc;
        }
        for (int c = 0; c < ncpu_; ++c) {
            out.reason[slot][r].packets += v[c].packets;
            out.reason[slot][r].bytes += v[c].bytes;
        }
    }
    return 0;
}

int BpfFlowObject::read_stats(BpfStats& out) const
{
    out = BpfStats{};
    if (stats_fd_ < 0) return -EBADF;
    // A slot set_slot() never named has never been counted in: all zero, not read.
    for (uint32_t s = 0; s <= FA_MAX_SLOTS; ++s) {
        if (s != 0 && slot_ifindex_[s] == 0) continue;
        const int err = read_slot_stats(s, out);
        if (err) return err;
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

} // namespace fa
