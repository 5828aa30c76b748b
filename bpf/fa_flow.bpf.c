/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * fa_flow.bpf.c - flow metering for XDP (ingress) and tc clsact (ingress, egress), each as an L2
 * entry (fa_xdp, fa_tc_in, fa_tc_eg: packets start at an Ethernet header) and an L3 entry
 * (fa_xdp_l3, fa_tc_in_l3, fa_tc_eg_l3: packets start at the IP header, for PPP, tun, WireGuard
 * and IP tunnel devices). The loader attaches the pair that fits the device.
 *
 * Logic:
 *  1. The hook fills struct fa_pkt through the ctx.h shim; nothing else sees xdp_md/__sk_buff.
 *     The hook's ifindex is looked up in fa_ifarr (direct-mapped ARRAY: an inlined load and
 *     a compare), and only when that entry belongs to another ifindex in fa_ifslot (HASH; see
 *     fa_abi.h): the interface's slot goes in the flow key and picks the per-interface
 *     counters. No slot (not an interface of ours): counted as no_slot under slot 0, nothing
 *     else.
 *  2. Sampling (1-in-N, random or deterministic per CPU) is decided first, before the flow map
 *     is touched: a sampled-out packet costs a random number and one per-CPU counter.
 *  3. parse.h turns the frame into a flow key; a frame it cannot meter is counted in the
 *     per-CPU fa_stats array under its fa_reason (packets and frame bytes).
 *  4. The key carries the drain generation read from fa_ctl. User space flips the generation,
 *     waits for every program run that may have read the old one (synchronize_rcu() via an
 *     fa_sync update), and only then drains the old generation, which nothing writes any more.
 *     That makes the drain exact; the argument is in platform/linux/bpf_drain.cpp. fa_ctl
 *     also carries the time (now_ms) user space wrote at that drain: no clock read per packet.
 *  5. Fragments: the first fragment stores its ports in fa_frags under (addresses, protocol,
 *     ID); later fragments take them from there, so the flow's packets and bytes stay exact.
 *     A later fragment without its first is still metered, with ports 0, and counted.
 *  6. Per-CPU flow cache: the key picks one slot of this CPU's region of fa_cache for the
 *     current generation (direct-mapped, 2^cache_bits slots). Same key: plain adds, no atomics, no hash
 *     lookup - the hit path. Free slot: take it. Another flow that was hit in this tick
 *     (last_ms == now_ms): it keeps the slot and the packet goes to fa_flows (below), so two
 *     busy flows sharing a slot do not evict each other on every packet. Another flow not hit
 *     since an earlier tick: move its counts into fa_flows, then take the slot. User space
 *     drains both (an old-generation slot is never written after the flip, like an
 *     old-generation key).
 *  7. fa_flows update-or-insert: lookup + atomic adds; on a miss insert with BPF_NOEXIST and
 *     retry the lookup on -EEXIST (another CPU won). Insertion failure (map full) is counted
 *     in packets and octets, never silent (hence a plain preallocated HASH, not an LRU).
 *  8. Always XDP_PASS / TC_ACT_UNSPEC: the programs only observe. TC_ACT_UNSPEC rather than
 *     TC_ACT_OK: it means "no verdict, go on" both to a clsact filter chain (the next filter,
 *     e.g. a QoS classifier, still runs) and to tcx (TCX_NEXT), where TC_ACT_OK would end the
 *     chain and skip every later program and filter.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "fa_abi.h"
#include "lib/ctx.h"
#include "lib/parse.h"
#include "lib/ifslot.h"

#ifndef EEXIST
#define EEXIST 17
#endif

char LICENSE[] SEC("license") = "GPL";

/* Load-time settings; the loader writes them before load (FA_ABI_VERSION is checked). */
const volatile struct fa_cfg fa_cfg = {
	.abi_version = FA_ABI_VERSION,
	.sample_rate = 1,
	.sample_mode = FA_SAMPLE_RANDOM,
	.cache_bits = 10,
};

/* max_entries is set from [flows] max_flows by the loader. Preallocated (no
 * BPF_F_NO_PREALLOC): inserts never allocate on the packet path and the memory is fixed. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct fa_flow_key);
	__type(value, struct fa_flow_val);
} fa_flows SEC(".maps");

/* Step 6: per CPU, 2 x 2^cache_bits slots (one region per generation), 128 bytes each. A plain
 * ARRAY indexed by CPU rather than a PERCPU_ARRAY: per-CPU values are allocated one by one at
 * 8-byte alignment, and a BPF_F_MMAPABLE array's values start on a page, so here every slot
 * is exactly two cache lines, and a hit writes only the first. No two CPUs write the same
 * line. The loader sets max_entries (possible CPUs x 2 x slots) and drops the flag on kernels
 * before 5.5. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 2 * 1024);
	__type(key, __u32);
	__type(value, struct fa_cache_ent);
} fa_cache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FA_STATS_ENTRIES);
	__type(key, __u32);
	__type(value, struct fa_stat);
} fa_stats SEC(".maps");

/* Step 1: kernel ifindex -> interface slot, written by user space only: fa_ifarr indexed by
 * ifindex & (FA_IFARR_ENTRIES - 1), and fa_ifslot for an ifindex whose fa_ifarr entry another
 * interface holds (fa_abi.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FA_IFARR_ENTRIES);
	__type(key, __u32);
	__type(value, struct fa_ifslot_ent);
} fa_ifarr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FA_IFSLOT_ENTRIES);
	__type(key, __u32);
	__type(value, __u32);
} fa_ifslot SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fa_ctl);
} fa_ctl SEC(".maps");

/* Deterministic sampling: packets since the last selected one, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} fa_samp SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FA_FRAG_ENTRIES);
	__type(key, struct fa_frag_key);
	__type(value, struct fa_frag_val);
} fa_frags SEC(".maps");

/* Never used by a program: user space updates its slot only to make the kernel run
 * synchronize_rcu() before the syscall returns (maybe_wait_bpf_programs(), see bpf_source.cpp). */
struct fa_sync_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} fa_sync_in SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct fa_sync_inner);
} fa_sync SEC(".maps") = {
	.values = {&fa_sync_in},
};

static __always_inline void fa_count_n(__u32 slot, __u32 reason, __u64 packets, __u64 bytes)
{
	__u32 idx = slot * FA_R_MAX + reason;
	struct fa_stat *s = bpf_map_lookup_elem(&fa_stats, &idx);

	/* Per-CPU slot: no other CPU writes it, so plain adds are exact. */
	if (s) {
		s->packets += packets;
		s->bytes += bytes;
	}
}

static __always_inline void fa_count(__u32 slot, __u32 reason, __u64 bytes)
{
	fa_count_n(slot, reason, 1, bytes);
}

/* Step 2. Returns 1 when the packet is to be metered. */
static __always_inline int fa_sampled_in(void)
{
	__u32 rate = fa_cfg.sample_rate;
	__u32 zero = 0;
	__u32 *n;

	if (rate <= 1)
		return 1;
	if (fa_cfg.sample_mode == FA_SAMPLE_DETERMINISTIC) {
		n = bpf_map_lookup_elem(&fa_samp, &zero);
		if (!n)
			return 1;
		if (++*n < rate)
			return 0;
		*n = 0; /* every Nth packet on this CPU */
		return 1;
	}
	return bpf_get_prandom_u32() % rate == 0;
}

/* Step 5. Returns a reason to count beside the metering, or FA_R_MAX for none. */
static __always_inline __u32 fa_frag(struct fa_parsed *r, __u32 now)
{
	struct fa_frag_key fk = {};
	struct fa_frag_val fv = {};
	struct fa_frag_val *v;

	__builtin_memcpy(fk.saddr, r->key.saddr, 16);
	__builtin_memcpy(fk.daddr, r->key.daddr, 16);
	fk.id = r->frag_id;
	fk.proto = r->key.proto;
	if (r->frag == FA_FRAG_FIRST) {
		__builtin_memcpy(fv.sport, r->key.sport, 2);
		__builtin_memcpy(fv.dport, r->key.dport, 2);
		fv.seen_ms = now;
		if (bpf_map_update_elem(&fa_frags, &fk, &fv, BPF_ANY))
			return FA_R_FRAG_FULL;
		return FA_R_MAX;
	}
	v = bpf_map_lookup_elem(&fa_frags, &fk);
	if (!v)
		return FA_R_FRAG_UNMATCHED;
	__builtin_memcpy(r->key.sport, v->sport, 2);
	__builtin_memcpy(r->key.dport, v->dport, 2);
	v->seen_ms = now;
	/* In-order delivery ends with the last fragment; reordered leftovers are aged out by
	 * user space (IP reassembly timeout). */
	if (r->frag_last)
		bpf_map_delete_elem(&fa_frags, &fk);
	return FA_R_MAX;
}

/* Step 7: adds counts `a` under key `k` to fa_flows; counts them as map_full when no room.
 * The MACs stay those of the entry that was there first. */
static __always_inline void fa_flows_add(const struct fa_flow_key *k, const struct fa_flow_val *a)
{
	struct fa_flow_val *v;
	long err;

	v = bpf_map_lookup_elem(&fa_flows, k);
	if (!v) {
		err = bpf_map_update_elem(&fa_flows, k, a, BPF_NOEXIST);
		if (!err)
			return;
		if (err == -EEXIST)
			v = bpf_map_lookup_elem(&fa_flows, k);
		if (!v) {
			fa_count_n(k->ifx & FA_IFX_SLOT, FA_R_MAP_FULL, a->packets, a->bytes);
			return;
		}
	}
	__sync_fetch_and_add(&v->packets, a->packets);
	__sync_fetch_and_add(&v->bytes, a->bytes);
	/* Benign races: times from two CPUs differ by at most a tick; a flag lost between two
	 * CPUs merging the same flow in the same instant is the accepted cost of kernels without
	 * BPF atomic OR (< 5.12). The per-CPU cache makes this path rare. */
	if ((__s32)(v->last_ms - a->last_ms) < 0)
		v->last_ms = a->last_ms;
	if ((__s32)(a->first_ms - v->first_ms) < 0)
		v->first_ms = a->first_ms;
	if ((v->tcp_flags | a->tcp_flags) != v->tcp_flags)
		v->tcp_flags |= a->tcp_flags;
}

/* Step 6: a cheap mix of the key's ten 32-bit words into a slot index (the top cache_bits
 * bits of a multiplicative hash). */
static __always_inline __u32 fa_slot(const struct fa_flow_key *k)
{
	const __u32 *w = (const __u32 *)k;
	__u32 h = w[0] ^ w[1] ^ w[2] ^ w[3];

	h ^= w[4] ^ w[5] ^ w[6] ^ w[7];
	h = (h ^ w[8] ^ (w[9] << 7)) * 0x9e3779b1u;
	return h >> ((32 - fa_cfg.cache_bits) & 31);
}

static __always_inline int fa_key_eq(const struct fa_flow_key *a, const struct fa_flow_key *b)
{
	const __u64 *x = (const __u64 *)a;
	const __u64 *y = (const __u64 *)b;

	return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4])) == 0;
}

/* Where a hook's packets start; a constant at every call, so each program keeps one parser. */
enum fa_entry {
	FA_ENTRY_L2 = 0,     /* Ethernet header (Ethernet, VLAN, PPPoE session) */
	FA_ENTRY_XDP_L3 = 1, /* IP header, version from its first nibble */
	FA_ENTRY_TC_L3 = 2,  /* IP header, version from skb->protocol */
};

static __always_inline void fa_handle(struct fa_pkt *p, enum fa_entry l3)
{
	struct fa_parsed r = {};
	struct fa_cache_ent *e;
	struct fa_ctl *ctl;
	__u32 zero = 0;
	__u32 reason, gen, now, idx, slot;

	slot = fa_ifslot_of(&fa_ifarr, &fa_ifslot, p->ifindex);
	if (slot == 0 || slot > FA_MAX_SLOTS) {
		fa_count(0, FA_R_NO_SLOT, p->len);
		return;
	}
	if (!fa_sampled_in()) {
		fa_count(slot, FA_R_SAMPLED_OUT, p->len);
		return;
	}
	reason = l3 != FA_ENTRY_L2 ? fa_parse_l3(p, &r, l3 == FA_ENTRY_XDP_L3) : fa_parse(p, &r);
	if (reason != FA_METER) {
		fa_count(slot, reason, p->len);
		return;
	}
	if (r.over)
		fa_count(slot, FA_R_LEN_OVER_FRAME, p->len);
	ctl = bpf_map_lookup_elem(&fa_ctl, &zero);
	gen = ctl ? ctl->gen & 1 : 0;
	now = ctl ? ctl->now_ms : 0;
	if (r.frag != FA_FRAG_NONE) {
		reason = fa_frag(&r, now);
		if (reason != FA_R_MAX)
			fa_count(slot, reason, p->len);
	}

	/* A GSO/GRO super-packet: count the segments it stands for, each with its own headers. */
	if (p->segs > 1)
		r.octets += (__u64)(p->segs - 1) * r.hdr_len;

	r.key.ifx = (__u16)slot;
	if (p->egress)
		r.key.ifx |= FA_IFX_EGRESS;
	if (gen)
		r.key.ifx |= FA_IFX_GEN;

	idx = ((bpf_get_smp_processor_id() * 2 + gen) << (fa_cfg.cache_bits & 31)) |
	      fa_slot(&r.key);
	e = bpf_map_lookup_elem(&fa_cache, &idx);
	if (e && e->val.packets != 0 && fa_key_eq(&e->key, &r.key)) {
		/* The hit path: this CPU's slot, nobody else writes it. */
		e->val.packets += p->segs;
		e->val.bytes += r.octets;
		e->val.last_ms = now;
		e->val.tcp_flags |= r.tcp_flags;
		return;
	}
	{
		struct fa_flow_val init = {
			.bytes = r.octets,
			.packets = p->segs,
			.first_ms = now,
			.last_ms = now,
			.tcp_flags = r.tcp_flags,
			.vlan = r.vlan,
		};

		if (r.has_mac) {
			__builtin_memcpy(init.smac, r.smac, 6);
			__builtin_memcpy(init.dmac, r.dmac, 6);
			init.flags = FA_VAL_MAC;
		}

		if (!e) { /* cannot happen (idx < max_entries); keeps the verifier and us honest */
			fa_flows_add(&r.key, &init);
			return;
		}
		if (e->val.packets != 0) {
			if (e->val.last_ms == now) {
				/* Both flows are active this tick: the resident keeps the slot and
				 * this packet goes to fa_flows. Two flows taking turns on one slot
				 * cost one map update per packet, not an eviction and a refill. */
				fa_flows_add(&r.key, &init);
				return;
			}
			fa_flows_add(&e->key, &e->val);
		}
		e->key = r.key;
		e->val = init;
	}
}

SEC("xdp")
int fa_xdp(struct xdp_md *ctx)
{
	struct fa_pkt p;

	fa_pkt_from_xdp(&p, ctx);
	fa_handle(&p, FA_ENTRY_L2);
	return XDP_PASS;
}

SEC("tc")
int fa_tc_in(struct __sk_buff *skb)
{
	struct fa_pkt p;

	fa_pkt_from_skb(&p, skb, 0);
	fa_handle(&p, FA_ENTRY_L2);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int fa_tc_eg(struct __sk_buff *skb)
{
	struct fa_pkt p;

	fa_pkt_from_skb(&p, skb, 1);
	fa_handle(&p, FA_ENTRY_L2);
	return TC_ACT_UNSPEC;
}

SEC("xdp")
int fa_xdp_l3(struct xdp_md *ctx)
{
	struct fa_pkt p;

	fa_pkt_from_xdp(&p, ctx);
	fa_handle(&p, FA_ENTRY_XDP_L3);
	return XDP_PASS;
}

SEC("tc")
int fa_tc_in_l3(struct __sk_buff *skb)
{
	struct fa_pkt p;

	fa_pkt_from_skb(&p, skb, 0);
	fa_handle(&p, FA_ENTRY_TC_L3);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int fa_tc_eg_l3(struct __sk_buff *skb)
{
	struct fa_pkt p;

	fa_pkt_from_skb(&p, skb, 1);
	fa_handle(&p, FA_ENTRY_TC_L3);
	return TC_ACT_UNSPEC;
}
