/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * fa_abi.h - THE contract between the kernel programs (bpf/fa_flow.bpf.c) and user space
 * (platform/linux/bpf_*.cpp, agent/source/bpf_decode.cpp). The only file included from both
 * sides; there is no second copy of any struct here.
 *
 * Byte order: multi-byte integer fields are in the byte order of the machine that runs both
 * the kernel and the agent (the BPF object is built bpfel/bpfeb to match, FA_BPF_TARGET), except
 * where a field is an array of bytes copied from the packet: those stay in network order.
 * Every struct is explicitly padded; hash keys are compared as raw bytes, so padding is zero.
 */
#ifndef FA_ABI_H
#define FA_ABI_H

#ifdef __bpf__
#include <linux/types.h>
typedef __u8 fa_u8;
typedef __u16 fa_u16;
typedef __u32 fa_u32;
typedef __u64 fa_u64;
#define FA_ASSERT_SIZE(type, size) _Static_assert(sizeof(type) == (size), #type " size")
#else
#include <stdint.h>
typedef uint8_t fa_u8;
typedef uint16_t fa_u16;
typedef uint32_t fa_u32;
typedef uint64_t fa_u64;
#ifdef __cplusplus
#define FA_ASSERT_SIZE(type, size) static_assert(sizeof(type) == (size), #type " size")
#else
#define FA_ASSERT_SIZE(type, size) _Static_assert(sizeof(type) == (size), #type " size")
#endif
#endif

/* Bumped on any change below. The object carries it in .rodata (fa_cfg.abi_version); the
 * loader refuses an object whose value differs. */
#define FA_ABI_VERSION 5u

/* Program and map names (at most 15 characters: the kernel truncates longer ones). The loader
 * recognises its own stale programs after a crash by these names. The first three are the L2
 * entries (the packet starts at an Ethernet header); the _l3 ones are for devices whose packets
 * start at the IP header (PPP, tun, WireGuard, IP tunnels): XDP tells IPv4 from IPv6 by the
 * version nibble, tc by skb->protocol. Same flow key and octet rules on both. */
#define FA_PROG_XDP "fa_xdp"
#define FA_PROG_TC_IN "fa_tc_in"
#define FA_PROG_TC_EG "fa_tc_eg"
#define FA_PROG_XDP_L3 "fa_xdp_l3"
#define FA_PROG_TC_IN_L3 "fa_tc_in_l3"
#define FA_PROG_TC_EG_L3 "fa_tc_eg_l3"
#define FA_MAP_FLOWS "fa_flows"
#define FA_MAP_CACHE "fa_cache"
#define FA_MAP_STATS "fa_stats"
#define FA_MAP_CTL "fa_ctl"
#define FA_MAP_SYNC "fa_sync"
#define FA_MAP_FRAGS "fa_frags"
#define FA_MAP_SAMP "fa_samp"
#define FA_MAP_IFSLOT "fa_ifslot"
#define FA_MAP_IFARR "fa_ifarr"

/* Interface slots: the loader gives every configured interface (by name) a slot 1..FA_MAX_SLOTS
 * and writes kernel ifindex -> slot before it attaches, and deletes it after it detaches. A
 * packet on an ifindex without an entry is counted as FA_R_NO_SLOT under slot 0. Slots, not
 * ifindexes, go in the flow key: ifindexes grow without bound (PPP redials, containers), slots
 * do not.
 *
 * Two maps hold the entries, so that the common case costs a load and a compare (the verifier
 * inlines ARRAY lookups; a HASH lookup is a helper call and a hash, about 6 ns per packet):
 *  - fa_ifarr, an ARRAY of FA_IFARR_ENTRIES struct fa_ifslot_ent, direct-mapped by
 *    ifindex & (FA_IFARR_ENTRIES - 1). An entry counts only when its ifindex equals the
 *    packet's and its slot is not 0; {0, 0} is a free entry.
 *  - fa_ifslot, a HASH (key and value __u32 host order: ifindex -> slot), for an ifindex whose
 *    array entry another attached interface holds. The programs look here only when the array
 *    entry does not count for the packet's ifindex.
 * Every ifindex is in at most one of the two. User space never rewrites an array entry from
 * one ifindex straight to another: it frees it ({0, 0}) first, and moves a colliding ifindex
 * from the hash into a freed entry by writing the entry first and deleting the hash entry
 * after. A program that reads a half-written entry (each 32-bit field is read and written
 * whole) therefore sees either the right slot, or an entry that does not count (other ifindex,
 * or slot 0) and takes the hash, which still holds the ifindex in that window. */
#define FA_MAX_SLOTS 32u
#define FA_IFSLOT_ENTRIES 64u
#define FA_IFARR_ENTRIES 256u /* a power of two */

struct fa_ifslot_ent {
	fa_u32 ifindex; /* host order; 0 = free */
	fa_u32 slot;    /* host order; 1..FA_MAX_SLOTS, 0 = free */
};
FA_ASSERT_SIZE(struct fa_ifslot_ent, 8);

/* Fragment map capacity: first fragments whose later fragments are still due. */
#define FA_FRAG_ENTRIES 1024

/* Per-CPU flow cache (fa_cache, a plain ARRAY of two-cache-line entries): every CPU has two
 * regions of 2^fa_cfg.cache_bits slots, one per generation. CPU c, generation g uses indexes
 * [(2c + g) << cache_bits, (2c + g + 1) << cache_bits). The loader picks cache_bits within
 * these bounds and sizes the map for the possible CPUs. */
#define FA_CACHE_BITS_MIN 6u
#define FA_CACHE_BITS_MAX 12u

/* fa_flow_key.ifx: the hook's interface slot (1..FA_MAX_SLOTS, from fa_ifslot) in the low 14
 * bits, then two flag bits. */
#define FA_IFX_SLOT 0x3fffu
#define FA_IFX_EGRESS 0x4000u /* flowDirection (IE 61): set = egress, clear = ingress */
#define FA_IFX_GEN 0x8000u    /* drain generation the packet was counted in (see fa_ctl) */

/* One flow in the flow map: 40 bytes (a preallocated hash element is 48 bytes of kernel header
 * + key + value (40), plus a 16-byte bucket per element: 144 bytes). Everything that identifies
 * a flow
 * is here; the VLAN ID, which a 5-tuple on one interface practically never changes, is a
 * value attribute (the first packet's). */
struct fa_flow_key {
	fa_u8 saddr[16]; /* network order; IPv4 as ::ffff:a.b.c.d */
	fa_u8 daddr[16]; /* network order; IPv4 as ::ffff:a.b.c.d */
	fa_u8 sport[2];  /* network order; 0 for ICMP and port-less protocols */
	fa_u8 dport[2];  /* network order; ICMP/ICMPv6: {type, code} */
	fa_u8 proto;     /* IP protocol number (IE 4) */
	fa_u8 tos;       /* IPv4 ToS / IPv6 traffic class byte (IE 5) */
	fa_u16 ifx;      /* host order: slot of the hook's interface | FA_IFX_EGRESS | FA_IFX_GEN */
};
FA_ASSERT_SIZE(struct fa_flow_key, 40);

/* Counts for one key since it was last drained. All host order. Times are the low 32 bits of
 * CLOCK_MONOTONIC milliseconds as user space last wrote them to fa_ctl.now_ms (one drain tick
 * of resolution, no clock read per packet); user space unwraps them against its own clock,
 * which is unambiguous because every entry is drained within one tick. packets is 32 bits for
 * the same reason (2^32 packets between two drains would be 40 Gpps at a 100 ms tick). */
struct fa_flow_val {
	fa_u64 bytes;    /* layer-3 octets: IP header + payload (IE 1 semantics) */
	fa_u32 packets;  /* packets counted (sampled packets only when sampling) */
	fa_u32 first_ms; /* fa_ctl.now_ms when the first packet was counted */
	fa_u32 last_ms;  /* same clock, last packet */
	fa_u8 tcp_flags; /* OR of TCP flags seen (IE 6, low byte) */
	fa_u8 pad;       /* zero */
	fa_u16 vlan;     /* outer 802.1Q VLAN ID of the first packet (12 bits), 0 = untagged */
	fa_u8 smac[6];   /* source MAC of the first frame (network order), when FA_VAL_MAC */
	fa_u8 dmac[6];   /* destination MAC of the first frame, when FA_VAL_MAC */
	fa_u8 flags;     /* FA_VAL_* */
	fa_u8 pad2[3];   /* zero */
};
FA_ASSERT_SIZE(struct fa_flow_val, 40);

/* fa_flow_val.flags. FA_VAL_MAC: smac/dmac hold the Ethernet addresses of the frame that
 * created the entry (L2 entries); clear (and the MACs zero) on the L3 entries. */
#define FA_VAL_MAC 1u

/* One slot of the flow cache (fa_cache): a flow's counts on one CPU since it took the slot.
 * val.packets == 0 marks a free slot. 128 bytes, two cache lines when the map's values are
 * page-aligned (BPF_F_MMAPABLE): the key and every field a hit writes (bytes .. vlan) are in
 * the first 64, the MACs (written only when the slot is filled) in the second. */
struct fa_cache_ent {
	struct fa_flow_key key;
	struct fa_flow_val val;
	fa_u8 pad[48];
};
FA_ASSERT_SIZE(struct fa_cache_ent, 128);

/* Per-CPU counters by interface slot and reason: fa_stats is a PERCPU_ARRAY of
 * (FA_MAX_SLOTS + 1) * FA_R_MAX entries, index slot * FA_R_MAX + reason (slot 0: packets on an
 * interface without a slot). Each counts packets and frame bytes (the length the hook saw).
 * Names in bpf_reason_name() on the user side. */
enum fa_reason {
	FA_R_SAMPLED_OUT = 0,  /* not selected by 1-in-N sampling (not a loss) */
	FA_R_MAP_FULL,         /* flow map full: packet not metered */
	FA_R_NOT_IP,           /* ARP, LLDP, ... : not a flow (not a loss) */
	FA_R_TRUNC_ETH,        /* shorter than an Ethernet header */
	FA_R_TRUNC_VLAN,       /* truncated inside an 802.1Q/802.1ad tag */
	FA_R_VLAN_DEPTH,       /* more than two VLAN tags */
	FA_R_TRUNC_PPPOE,      /* truncated PPPoE session or PPP header */
	FA_R_PPP_NOT_IP,       /* PPPoE session carrying LCP/IPCP/...: not a flow */
	FA_R_TRUNC_IP4,        /* truncated IPv4 header (incl. options) */
	FA_R_BAD_IP4,          /* IPv4 version/IHL/total length invalid */
	FA_R_TRUNC_IP6,        /* truncated IPv6 header */
	FA_R_BAD_IP6,          /* IPv6 version field not 6 */
	FA_R_TRUNC_EXT,        /* truncated IPv6 extension header */
	FA_R_EXT_DEPTH,        /* IPv6 extension chain longer than FA_MAX_EXT */
	FA_R_TRUNC_L4,         /* truncated TCP/UDP/SCTP/ICMP header (incl. a TCP data offset
				* reaching beyond the frame) */
	FA_R_FRAG_UNMATCHED,   /* later fragment without its first: metered with ports 0 */
	FA_R_FRAG_FULL,        /* fragment map full: later fragments will be unmatched */
	FA_R_BAD_TCP_OFF,      /* TCP data offset < 5: not metered */
	FA_R_LEN_OVER_FRAME,   /* IP length claims more than the frame carries: metered with the
				* bytes on the wire (not a loss), counted here as well */
	FA_R_NO_SLOT,          /* the hook's ifindex has no fa_ifslot entry: not metered */
	FA_R_MAX,
};

/* Which reasons mean "the agent saw a packet it could not meter" (DropCounters.source_*). */
#define FA_REASON_IS_LOSS(r) \
	((r) != FA_R_SAMPLED_OUT && (r) != FA_R_NOT_IP && (r) != FA_R_PPP_NOT_IP && \
	 (r) != FA_R_FRAG_UNMATCHED && (r) != FA_R_FRAG_FULL && (r) != FA_R_LEN_OVER_FRAME)

#define FA_STATS_ENTRIES ((FA_MAX_SLOTS + 1) * FA_R_MAX)

struct fa_stat {
	fa_u64 packets; /* host order */
	fa_u64 bytes;   /* host order: frame bytes as seen by the hook */
};
FA_ASSERT_SIZE(struct fa_stat, 16);

/* Runtime control, one element of the fa_ctl ARRAY, written only by user space. */
struct fa_ctl {
	fa_u32 gen;    /* 0 or 1: generation new packets are counted in (FA_IFX_GEN) */
	fa_u32 now_ms; /* low 32 bits of CLOCK_MONOTONIC ms, rewritten at every drain */
};
FA_ASSERT_SIZE(struct fa_ctl, 8);

/* Load-time settings in .rodata (const volatile fa_cfg), set by the loader before load. */
#define FA_SAMPLE_RANDOM 2u        /* v9 samplingAlgorithm 2, PSAMP random n-out-of-N */
#define FA_SAMPLE_DETERMINISTIC 1u /* v9 samplingAlgorithm 1, PSAMP systematic count-based */
struct fa_cfg {
	fa_u32 abi_version; /* FA_ABI_VERSION, checked by the loader */
	fa_u32 sample_rate; /* N of 1-in-N; 0 and 1 mean every packet */
	fa_u32 sample_mode; /* FA_SAMPLE_* */
	fa_u32 cache_bits;  /* log2 of fa_cache slots per CPU and generation */
};
FA_ASSERT_SIZE(struct fa_cfg, 16);

/* Fragment attribution: the first fragment stores its ports under this key so that later
 * fragments (no L4 header) count in the same flow. */
struct fa_frag_key {
	fa_u8 saddr[16]; /* network order, as fa_flow_key */
	fa_u8 daddr[16];
	fa_u32 id;       /* IPv4 ID (16 bits) or IPv6 fragment Identification, as read (raw) */
	fa_u8 proto;
	fa_u8 pad[3];
};
FA_ASSERT_SIZE(struct fa_frag_key, 40);

struct fa_frag_val {
	fa_u8 sport[2];  /* network order */
	fa_u8 dport[2];
	fa_u32 seen_ms;  /* fa_ctl.now_ms at the last fragment; user space ages entries */
};
FA_ASSERT_SIZE(struct fa_frag_val, 8);

#endif /* FA_ABI_H */
