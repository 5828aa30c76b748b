// SPDX-License-Identifier: GPL-2.0-only
// Loads the flow object (bpf/fa_flow.bpf.c), attaches it, and drains its maps exactly.
// Used by BpfSource and, unattached, by the BPF_PROG_TEST_RUN fixtures in tests/bpf.
#pragma once
#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "core/time.h"
#include "fa_abi.h"
#include "source/source.h"

struct bpf_object;

namespace fa {

// The L2 entries (Ethernet) and the L3 entries (packets that start at the IP header).
enum class BpfHook : uint8_t { xdp, tc_in, tc_eg, xdp_l3, tc_in_l3, tc_eg_l3 };
constexpr int kBpfHooks = 6;
// The programs' names in BpfHook order, one after the other, "" after the last.
inline constexpr char kBpfProgNames[] = FA_PROG_XDP "\0" FA_PROG_TC_IN "\0" FA_PROG_TC_EG
    "\0" FA_PROG_XDP_L3 "\0" FA_PROG_TC_IN_L3 "\0" FA_PROG_TC_EG_L3 "\0";

struct BpfLoadOptions {
    uint32_t max_flows = 65536;      // fa_flows max_entries (preallocated)
    uint32_t sample_rate = 1;        // 1-in-N; 0 and 1 = every packet
    uint32_t sample_mode = FA_SAMPLE_RANDOM;
    uint32_t cache_bits = 0;         // log2 flow cache slots per CPU; 0: cache_bits_for()
    bool load_xdp = true;            // programs to load (the others are left out): XDP L2 + L3
    bool load_tc = true;             // tc ingress/egress, L2 + L3
    const char* object_path = nullptr;  // nullptr or "": the embedded (or installed) object
    // Tests and benchmarks: the paths of older kernels on this one.
    bool no_mmap = false;            // drain the flow cache through syscalls (kernel < 5.5)
    bool no_batch = false;           // key-by-key map walks (kernel < 5.6)
    bool strict_alignment = false;   // verify as for CPUs without unaligned access (MIPS)
    Clock* clock = nullptr;          // time the drain stamps and decodes with; nullptr: the
                                     // system's CLOCK_MONOTONIC
};

// Sum over CPUs of the counters, per interface slot (0: packets on an interface without a
// slot) and reason.
struct BpfStats {
    fa_stat reason[FA_MAX_SLOTS + 1][FA_R_MAX] = {};
    // Over all slots.
    fa_stat total(uint32_t r) const
    {
        fa_stat t{};
        for (uint32_t s = 0; s <= FA_MAX_SLOTS && r < FA_R_MAX; ++s) {
            t.packets += reason[s][r].packets;
            t.bytes += reason[s][r].bytes;
        }
        return t;
    }
};

// log2 of the flow cache slots per CPU and generation for a map of max_flows entries.
uint32_t cache_bits_for(uint32_t max_flows);

class BpfFlowObject {
public:
    BpfFlowObject() = default;
    ~BpfFlowObject();
    BpfFlowObject(const BpfFlowObject&) = delete;
    BpfFlowObject& operator=(const BpfFlowObject&) = delete;

    // Probes the kernel, opens, specialises (.rodata) and loads. Allocates the drain buffers
    // once, of a fixed size (kDrainChunk map entries, kCacheChunk cache slots). Returns 0 or a
    // negative errno after logging what to do.
    int load(const BpfLoadOptions& opt);
    void close();
    bool loaded() const { return flows_fd_ >= 0; }

    int prog_fd(BpfHook hook) const;  // -1 when that program was not loaded

    // Interface slots (fa_abi.h): packets on `ifindex` are counted under `slot` (1..
    // FA_MAX_SLOTS) from now on. Written before attaching. Remembers slot -> ifindex for the
    // drain's decoding (ingressInterface/egressInterface). The entry goes in fa_ifarr, or in
    // fa_ifslot when another ifindex holds its fa_ifarr entry. 0 or negative errno.
    int set_slot(uint32_t ifindex, uint32_t slot);
    // Deletes ifindex's entry (after detaching); a freed fa_ifarr entry is handed to an
    // ifindex of fa_ifslot that maps to it. The slot keeps naming the old ifindex until
    // set_slot() reuses it, so a drain after the detach still names the interface the packets
    // came through. 0, -ENOENT when there was none, or negative errno.
    int clear_slot(uint32_t ifindex);
    // slot -> kernel ifindex, FA_MAX_SLOTS + 1 entries (0: none).
    const uint32_t* slot_ifindex() const { return slot_ifindex_; }

    int flows_fd() const { return flows_fd_; }
    int cache_fd() const { return cache_fd_; }
    int stats_fd() const { return stats_fd_; }
    int ifslot_fd() const { return ifslot_fd_; }
    int ifarr_fd() const { return ifarr_fd_; }
    int frags_fd() const { return frags_fd_; }
    uint32_t max_flows() const { return max_flows_; }
    uint32_t cache_slots() const { return 1u << cache_bits_; }  // per CPU and generation

    // Exact drain: flips the generation (and writes the time the programs stamp flows with),
    // waits for every program run that may still use the old one (synchronize_rcu through
    // fa_sync), then delivers and clears every old-generation cache slot and flow entry.
    // Returns the number of deltas delivered or a negative errno.
    int drain(SourceSink& sink);
    // Writes the time the programs stamp packets with (fa_ctl.now_ms), without a drain.
    int stamp_time(MonoMs now);
    // Reads the per-CPU counters (sum over CPUs) of slot 0 and every slot set_slot() named.
    // 0 or negative errno.
    int read_stats(BpfStats& out) const;
    // Deletes fragment entries not seen for `max_age_ms` (the IP reassembly timeout).
    int age_frags(MonoMs now_ms, uint32_t max_age_ms);
    uint64_t decode_errors() const { return decode_errors_; }

private:
    MonoMs now_ms() const;  // clock_'s, or CLOCK_MONOTONIC's
    int sync_programs();
    int read_slot_stats(uint32_t slot, BpfStats& out) const;
    int drain_flows(uint32_t old, MonoMs now, SourceSink& sink, int* delivered);
    int deliver_chunk(uint32_t n, uint32_t old, MonoMs now, SourceSink& sink, int* delivered);
    int drain_cache(uint32_t old, MonoMs now, SourceSink& sink, int* delivered);
    int drain_cache_chunk(uint32_t first, uint32_t n, MonoMs now, SourceSink& sink,
                          int* delivered);
    int drain_cache_mapped(uint32_t first, MonoMs now, SourceSink& sink, int* delivered);
    void deliver(const fa_flow_key& k, const fa_flow_val& v, MonoMs now, SourceSink& sink,
                 int* delivered);
    void flush_batch(SourceSink& sink);

    bpf_object* obj_ = nullptr;
    int prog_fd_[kBpfHooks] = {-1, -1, -1, -1, -1, -1};
    int flows_fd_ = -1, cache_fd_ = -1, stats_fd_ = -1, ctl_fd_ = -1, sync_fd_ = -1, sync_inner_fd_ = -1;
    int frags_fd_ = -1, ifslot_fd_ = -1, ifarr_fd_ = -1;
    uint32_t slot_ifindex_[FA_MAX_SLOTS + 1] = {};
    Clock* clock_ = nullptr;
    uint32_t max_flows_ = 0;
    uint32_t gen_ = 0;
    uint32_t cache_bits_ = 10;
    int ncpu_ = 1;
    bool batch_ok_ = true;
    mutable bool stats_batch_ok_ = true;
    bool cache_mmap_ = false;  // drain the cache through mmap (BPF_F_MMAPABLE, whole pages)
    uint64_t decode_errors_ = 0;
    // Drain buffers, allocated once in load(): one chunk of map keys and values (the keys
    // are reused for the batch delete), and a per-CPU stats buffer.
    static constexpr uint32_t kDrainChunk = 1024;
    fa_flow_key* keys_ = nullptr;
    fa_flow_val* vals_ = nullptr;
    fa_stat* percpu_ = nullptr;      // FA_R_MAX x CPUs: one slot's counters
    uint32_t* stat_keys_ = nullptr;  // FA_R_MAX indexes for the batch read
    static constexpr uint32_t kCacheChunk = 256;  // fa_cache slots per read
    static_assert((1u << FA_CACHE_BITS_MIN) <= kCacheChunk, "whole chunks");
    fa_cache_ent* slots_ = nullptr;     // kCacheChunk slots
    uint32_t* slot_keys_ = nullptr;     // kCacheChunk indexes for the batch calls
    // Decoded deltas handed to the sink kDeltaBatch at a time (SourceSink::on_deltas), in
    // drain order; drain() flushes the rest before it returns, on errors too.
    static constexpr uint32_t kDeltaBatch = 32;
    FlowDelta batch_[kDeltaBatch];
    uint32_t batch_n_ = 0;
};

// How an interface frames its packets (its ARPHRD link type), which decides the entries
// attached to it: Ethernet (and loopback, Ethernet-framed in XDP and tc) gets the L2 programs;
// devices whose packets start at the IP header (PPP, tun/WireGuard (NONE), IPIP, IP6IP6, SIT,
// GRE, IP6GRE, raw IP) get the L3 programs; anything else is refused.
enum class LinkKind : uint8_t { unsupported, ether, l3 };
LinkKind link_kind_for_arphrd(uint16_t arphrd);
// "ether", "ppp", "none", ... for messages; "unknown" for a type without a name here.
const char* arphrd_name(uint16_t arphrd);

struct BpfAttachOptions {
    // Attach through BPF links where the kernel has them (XDP links: 5.9, tcx: 6.6): a killed
    // agent's hooks vanish with it, and nothing can detach a program it does not hold. false
    // takes the paths of older kernels (netlink XDP, clsact), which tests force this way.
    bool xdp_link = true;
    bool tcx = true;
    // Directory of the per-interface owner locks (<dir>/bpf-<netns>-<ifname>.lock, <netns> the
    // network namespace's inode (interface names are per namespace), flock()ed while
    // attached, holding the owner's pid and program ids); "" = no locks (tests of the loader).
    char lock_dir[108] = {};
};

constexpr uint32_t kBpfMaxSlots = FA_MAX_SLOTS;  // slots 1..32: position in [agent] interfaces + 1

// Attachment of the programs to interfaces, one per slot, undone by detach()/detach_all()
// (and by the destructor). Detaching removes only what this object attached: link fds are
// closed, a netlink XDP program is removed only if it is still the one attached (expected
// program), a clsact filter only if the program at our handle/priority is still ours.
class BpfAttachments {
public:
    ~BpfAttachments() { detach_all(); }
    void set_options(const BpfAttachOptions& opt) { opt_ = opt; }

    // Reads ifname's ifindex and link type, takes its owner lock, writes obj's slot entry
    // (obj.set_slot) and attaches the L2 or L3 programs (xdp: XDP, native else generic;
    // else tc ingress + egress: tcx, else clsact). A stale program of ours (its recorded owner
    // is dead, or it has our name and no owner) is replaced; a foreign one is an error.
    // Returns 0; -ENODEV when the interface does not exist (not logged: the caller waits for
    // it); -EBUSY when a live agent or another program holds the hook (logged); another
    // negative errno after logging.
    int attach(BpfFlowObject& obj, const char* ifname, uint32_t slot, bool xdp);
    // Reload: when `old` holds ifname, its programs there are replaced atomically by obj's
    // (XDP: link update or XDP_FLAGS_REPLACE with the old program as expected; tcx: link update
    // with BPF_F_REPLACE; clsact: BPF_TC_F_REPLACE at our handle/priority after checking the
    // program there is the old one), so every packet meets exactly one of the two, and the
    // attachment (with its owner lock) moves from old to this object's `slot`; obj's slot entry
    // is written first. Returns 0 when replaced, 1 when `old` does not hold ifname (attach it
    // afresh), or a negative errno (old's attachment is left as it was, or, for a tc interface
    // whose egress failed after ingress, moved here half replaced).
    int replace(BpfAttachments& old, BpfFlowObject& obj, const char* ifname, uint32_t slot);
    // Detaches one slot (only what we attached) and releases its owner lock. 0, or -ENOENT
    // when the slot is not attached. The caller clears the object's slot entry.
    int detach(uint32_t slot);
    void detach_all();

    int find_slot(const char* ifname) const;  // -1: not attached
    int find_ifindex(uint32_t ifindex) const;  // -1: not attached
    bool attached(uint32_t slot) const { return slot_ok(slot) && items_[slot].used; }
    uint32_t ifindex_of_slot(uint32_t slot) const
    {
        return attached(slot) ? items_[slot].ifindex : 0;
    }
    const char* name(uint32_t slot) const { return attached(slot) ? items_[slot].name : ""; }
    bool l3(uint32_t slot) const { return attached(slot) && items_[slot].l3; }
    int count() const { return count_; }
    // "xdp-native", "xdp-generic", "tcx" or "clsact": how the slot's interface is attached.
    const char* mode(uint32_t slot) const;
    // true when attached through BPF links (XDP link, tcx).
    bool linked(uint32_t slot) const;

private:
    enum class Via : uint8_t { none, xdp_link, xdp, tcx, clsact };
    struct Item {
        bool used = false;
        bool l3 = false;
        bool created_qdisc = false;
        Via via = Via::none;
        uint32_t ifindex = 0;
        uint32_t xdp_flags = 0;        // XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE
        int link_fd[2] = {-1, -1};     // XDP link, or tcx ingress/egress links
        int prog_fd[2] = {-1, -1};     // our own references to the attached programs
        uint32_t prog_id[2] = {};
        int lock_fd = -1;             // owner lock (flock), -1: none
        char name[16] = {};
        char lock_path[160] = {};
    };
    struct Record;
    static bool slot_ok(uint32_t slot) { return slot >= 1 && slot <= kBpfMaxSlots; }
    int lock(Item& it, Record& rec);
    void unlock(Item& it, bool remove);
    void write_record(const Item& it);
    int remove_stale(const Item& it, const Record& rec, uint32_t id, uint32_t xdp_mode,
                     int side);
    int attach_xdp(Item& it, int prog, const Record& rec);
    int attach_tc(Item& it, const int* progs, const Record& rec);
    int set_progs(Item& it, const int* progs, int n);
    void undo(Item& it);
    static void close_links(Item& it);

    Item items_[kBpfMaxSlots + 1];  // by slot; 0 unused
    int count_ = 0;
    BpfAttachOptions opt_;
    bool xdp_link_ok_ = true;  // cleared when the kernel has no XDP links (< 5.9)
    bool tcx_ok_ = true;       // cleared when the kernel has no tcx (< 6.6)
};

// A batch map call's error (negative errno) on a kernel without batch operations (< 5.6).
inline bool bpf_no_batch(int err)
{
    return err == -EINVAL || err == -ENOTSUP || err == -EOPNOTSUPP;
}

// Text for errors: the tail of the last libbpf/verifier log (kept in a fixed buffer).
const char* bpf_log_tail();

} // namespace fa
