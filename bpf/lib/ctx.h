/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ctx.h - the XDP/tc shim (cilium style): both hooks fill one struct fa_pkt and the rest of the
 * code never sees xdp_md or __sk_buff.
 */
#ifndef FA_BPF_CTX_H
#define FA_BPF_CTX_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct fa_pkt {
	void *data;     /* first byte of the Ethernet header (L2 entries) or IP header (L3) */
	void *end;      /* one past the last linear byte */
	__u32 len;      /* frame length the hook saw (bytes), for per-reason counters */
	__u32 ifindex;  /* interface of the hook */
	__u32 segs;     /* wire packets this frame stands for: tc sees GSO/GRO super-packets */
	__u16 vlan;     /* VLAN ID offloaded out of band (tc: skb->vlan_tci), 0 = none */
	__u16 proto;    /* tc: skb->protocol (network order); XDP: 0 */
	__u8 egress;    /* 1 on tc egress */
	__u8 vlan_oob;  /* 1 when a tag was offloaded (tc: skb->vlan_present): one of FA_MAX_VLAN */
};

static __always_inline void fa_pkt_from_xdp(struct fa_pkt *p, struct xdp_md *ctx)
{
	p->data = (void *)(long)ctx->data;
	p->end = (void *)(long)ctx->data_end;
	p->len = (__u32)(p->end - p->data);
	p->ifindex = ctx->ingress_ifindex;
	p->segs = 1; /* XDP runs before GRO and after GSO: one frame, one packet */
	p->vlan = 0;
	p->proto = 0;
	p->egress = 0;
	p->vlan_oob = 0;
}

/* Headers we parse: Ethernet + 2 VLAN tags + PPPoE + IPv6 + 6 extension headers + TCP fits in
 * 256 bytes. A non-linear skb whose headers are not in the linear part is pulled (this copies
 * into the linear area but never changes the packet's content). */
#define FA_PULL_LEN 256

static __always_inline void fa_pkt_from_skb(struct fa_pkt *p, struct __sk_buff *skb, __u8 egress)
{
	__u32 lin = (__u32)(skb->data_end - skb->data);

	if (lin < skb->len && lin < FA_PULL_LEN)
		bpf_skb_pull_data(skb, skb->len < FA_PULL_LEN ? skb->len : FA_PULL_LEN);
	/* Re-derive: bpf_skb_pull_data invalidates packet pointers. */
	p->data = (void *)(long)skb->data;
	p->end = (void *)(long)skb->data_end;
	p->len = skb->len;
	p->ifindex = skb->ifindex;
	/* A GRO-merged (ingress) or not yet segmented (egress) skb is gso_segs packets on the
	 * wire; 0 or 1 for an ordinary one. */
	p->segs = skb->gso_segs > 1 ? skb->gso_segs : 1;
	p->vlan_oob = skb->vlan_present ? 1 : 0;
	p->vlan = p->vlan_oob ? (__u16)(skb->vlan_tci & 0x0fff) : 0;
	p->proto = (__u16)skb->protocol;
	p->egress = egress;
}

#endif /* FA_BPF_CTX_H */
