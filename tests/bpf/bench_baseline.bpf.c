/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * bench_baseline.bpf.c - the two baselines bench_bpf_prog compares fa_flow.bpf.c against.
 *
 * Logic:
 *  1. fa_bench_empty: `return XDP_PASS`, the floor of BPF_PROG_TEST_RUN.
 *  2. fa_bench_plain: the same parser (bpf/lib/parse.h), one BPF_MAP_TYPE_HASH lookup, and
 *     atomic adds on hit or a BPF_NOEXIST insert on miss: what a straightforward flow meter
 *     costs, without sampling, generations, fragments or per-reason counters.
 *  3. fa_bench_empty_tc, fa_bench_plain_tc: the same two as tc programs, for the end-to-end
 *     benchmark (tests/bench/e2e_cpu.sh attaches them with tests/tools/fa_hook): what a tc
 *     hook costs with nothing in it, and with a plain hash meter in it.
 *  5. fa_bench_slot: a HASH lookup of ifindex -> slot (fa_ifslot alone, the lookup of ABI v4),
 *     then XDP_PASS: its cost against fa_bench_empty. fa_bench_slot_arr: the lookup every
 *     fa_flow entry does first since ABI v5 (lib/ifslot.h: the direct-mapped fa_ifarr, the
 *     hash only when the array entry is another ifindex's), on its own maps fa_bslot_arr and
 *     fa_bslot (the hash), so the benchmark measures both the array hit and the fallback.
 *  4. fa_bench_redirect: XDP_REDIRECT of every frame to the device in fa_redir[0] (a devmap
 *     that tests/tools/fa_hook fills): e2e_cpu.sh's "frames" path, which hands the metered
 *     veth XDP frames instead of socket buffers, as a NIC driver does.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "fa_abi.h"
#include "lib/ctx.h"
#include "lib/parse.h"
#include "lib/ifslot.h"

char LICENSE[] SEC("license") = "GPL";

struct fa_plain_val {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct fa_flow_key);
	__type(value, struct fa_plain_val);
} fa_plain SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} fa_redir SEC(".maps");

SEC("xdp")
int fa_bench_redirect(struct xdp_md *ctx)
{
	(void)ctx;
	return bpf_redirect_map(&fa_redir, 0, 0);
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FA_IFSLOT_ENTRIES);
	__type(key, __u32);
	__type(value, __u32);
} fa_bslot SEC(".maps");

volatile __u32 fa_bench_sink;

SEC("xdp")
int fa_bench_slot(struct xdp_md *ctx)
{
	__u32 ifindex = ctx->ingress_ifindex;
	__u32 *slot = bpf_map_lookup_elem(&fa_bslot, &ifindex);

	fa_bench_sink = slot ? *slot : 0; /* keep the lookup */
	return XDP_PASS;
}

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FA_IFARR_ENTRIES);
	__type(key, __u32);
	__type(value, struct fa_ifslot_ent);
} fa_bslot_arr SEC(".maps");

SEC("xdp")
int fa_bench_slot_arr(struct xdp_md *ctx)
{
	fa_bench_sink = fa_ifslot_of(&fa_bslot_arr, &fa_bslot, ctx->ingress_ifindex);
	return XDP_PASS;
}

SEC("xdp")
int fa_bench_empty(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

/* Parse, then one hash lookup with atomic adds, or an insert. */
static __always_inline void fa_plain_meter(struct fa_pkt *p)
{
	struct fa_parsed r = {};
	struct fa_plain_val *v;

	if (fa_parse(p, &r) != FA_METER)
		return;
	r.key.ifx = (__u16)(p->ifindex & FA_IFX_SLOT); /* no slot map: the ifindex */
	v = bpf_map_lookup_elem(&fa_plain, &r.key);
	if (v) {
		__sync_fetch_and_add(&v->packets, 1);
		__sync_fetch_and_add(&v->bytes, r.octets);
	} else {
		struct fa_plain_val init = {.packets = 1, .bytes = r.octets};

		bpf_map_update_elem(&fa_plain, &r.key, &init, BPF_NOEXIST);
	}
}

SEC("xdp")
int fa_bench_plain(struct xdp_md *ctx)
{
	struct fa_pkt p;

	fa_pkt_from_xdp(&p, ctx);
	fa_plain_meter(&p);
	return XDP_PASS;
}

SEC("tc")
int fa_bench_empty_tc(struct __sk_buff *skb)
{
	(void)skb;
	return TC_ACT_UNSPEC;
}

SEC("tc")
int fa_bench_plain_tc(struct __sk_buff *skb)
{
	struct fa_pkt p;

	fa_pkt_from_skb(&p, skb, 0);
	fa_plain_meter(&p);
	return TC_ACT_UNSPEC;
}
