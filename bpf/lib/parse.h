/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * parse.h - one parser for every hook: Ethernet, up to two VLAN tags (802.1Q / 802.1ad QinQ),
 * PPPoE session, IPv4 (options, fragments), IPv6 (bounded extension chain, fragments), then
 * TCP/UDP/SCTP/ICMP/ICMPv6 or any other protocol by number. fa_parse() starts at an Ethernet
 * header (L2 entries), fa_parse_l3() at an IP header (L3 entries); both share everything from
 * the IP header on.
 *
 * Octets are what the IP header claims (IPv4 total length, IPv6 40 + payload length), but never
 * more than the frame carries from the IP header on: a header that claims more is metered with
 * the bytes on the wire and flagged (FA_R_LEN_OVER_FRAME), so a sender cannot inflate a flow's
 * accounting; one that claims less (Ethernet padding) is metered with its claim.
 *
 * Every dereference is preceded by a bounds check against p->end; loops have constant bounds.
 * The parser only reads the packet.
 */
#ifndef FA_BPF_PARSE_H
#define FA_BPF_PARSE_H

#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include "ctx.h"
#include "fa_abi.h"

#define FA_MAX_VLAN 2 /* QinQ; a tag offloaded out of band (tc) is one of them */
#define FA_MAX_EXT 6  /* IPv6 extension headers followed before giving up */

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif
#define FA_PPP_IP 0x0021   /* RFC 1332 */
#define FA_PPP_IPV6 0x0057 /* RFC 5072 */
#define FA_IP_MF 0x2000
#define FA_IP_OFFSET 0x1fff

/* Parser verdict: FA_R_MAX = meter it; anything else is the fa_reason to count. */
#define FA_METER FA_R_MAX

/* What a fragment needs to be attributed (see fa_flow.bpf.c step 5). */
enum fa_frag_kind {
	FA_FRAG_NONE = 0,
	FA_FRAG_FIRST, /* offset 0, more fragments: carries the ports, remember them */
	FA_FRAG_LATER, /* offset > 0: no L4 header, look the ports up */
};

struct fa_parsed {
	struct fa_flow_key key;
	__u64 octets;    /* layer-3 octets from the IP header (IPv4 total length, IPv6 40+payload) */
	__u32 frag_id;   /* IPv4 ID or IPv6 Identification, raw bytes */
	__u8 tcp_flags;
	__u8 frag;       /* enum fa_frag_kind */
	__u8 frag_last;  /* later fragment without MF: the last one */
	__u16 vlan;      /* outer VLAN ID (12 bits), 0 = untagged: a value attribute (fa_abi.h) */
	__u16 hdr_len;   /* IP (with extension headers) + TCP/UDP header bytes: what each segment
			  * of a GSO/GRO super-packet repeats */
	__u8 over;       /* the IP header claimed more than the frame carries (octets = wire) */
	__u8 has_mac;    /* smac/dmac are the frame's (L2 entries) */
	__u8 smac[6];
	__u8 dmac[6];
};

struct fa_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

struct fa_pppoe_hdr {
	__u8 ver_type;
	__u8 code;
	__be16 session;
	__be16 length;
	__be16 ppp_proto;
};

struct fa_ip6_ext {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct fa_ip6_frag {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off; /* offset in 8-octet units << 3 | M */
	__be32 id;
};

/* L4: ports (or ICMP type/code) and TCP flags. proto is already in the key. */
static __always_inline int fa_parse_l4(struct fa_pkt *p, void *pos, struct fa_parsed *r)
{
	__u8 proto = r->key.proto;

	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = pos;

		__u32 doff;

		if ((void *)(th + 1) > p->end)
			return FA_R_TRUNC_L4;
		doff = (__u32)th->doff * 4;
		if (doff < sizeof(*th))
			return FA_R_BAD_TCP_OFF; /* RFC 9293 §3.1: at least 5 words */
		if (pos + doff > p->end)
			return FA_R_TRUNC_L4;    /* options reach beyond the frame */
		__builtin_memcpy(r->key.sport, &th->source, 2);
		__builtin_memcpy(r->key.dport, &th->dest, 2);
		r->tcp_flags = ((__u8 *)th)[13]; /* CWR ECE URG ACK PSH RST SYN FIN */
		r->hdr_len += (__u16)doff;
	} else if (proto == IPPROTO_UDP || proto == IPPROTO_UDPLITE) {
		struct udphdr *uh = pos;

		if ((void *)(uh + 1) > p->end)
			return FA_R_TRUNC_L4;
		__builtin_memcpy(r->key.sport, &uh->source, 2);
		__builtin_memcpy(r->key.dport, &uh->dest, 2);
		r->hdr_len += sizeof(*uh);
	} else if (proto == IPPROTO_SCTP) {
		/* RFC 9260 §3.1 common header: ports, verification tag, checksum (12 bytes). */
		__u8 *sh = pos;

		if ((void *)(sh + 12) > p->end)
			return FA_R_TRUNC_L4;
		__builtin_memcpy(r->key.sport, sh, 2);
		__builtin_memcpy(r->key.dport, sh + 2, 2);
	} else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		/* Type, code, checksum (RFC 792, RFC 4443 §2.1): type/code go in dport. */
		__u8 *ih = pos;

		if ((void *)(ih + 4) > p->end)
			return FA_R_TRUNC_L4;
		r->key.dport[0] = ih[0];
		r->key.dport[1] = ih[1];
	}
	/* Any other protocol: counted by number, no ports. */
	return FA_METER;
}

/* Octets of a packet whose IP header claims `claim` bytes where `wire` bytes (frame length from
 * the IP header on) arrived: the smaller, and the mismatch flagged when the claim is larger. */
static __always_inline void fa_octets(struct fa_parsed *r, __u32 claim, __u32 wire)
{
	if (claim > wire) {
		r->octets = wire;
		r->over = 1;
	} else {
		r->octets = claim;
	}
}

/* wire: bytes of the frame from `pos` (the IP header) to its end, linear or not. */
static __always_inline int fa_parse_ip4(struct fa_pkt *p, void *pos, __u32 wire,
					struct fa_parsed *r)
{
	struct iphdr *ip = pos;
	__u32 hlen, tot;
	__u16 frag;

	if ((void *)(ip + 1) > p->end)
		return FA_R_TRUNC_IP4;
	if (ip->version != 4 || ip->ihl < 5)
		return FA_R_BAD_IP4;
	hlen = (__u32)ip->ihl * 4;
	if (pos + hlen > p->end)
		return FA_R_TRUNC_IP4; /* options cut off */
	tot = bpf_ntohs(ip->tot_len);
	if (tot < hlen)
		return FA_R_BAD_IP4;

	fa_octets(r, tot, wire);
	r->key.saddr[10] = 0xff;
	r->key.saddr[11] = 0xff;
	r->key.daddr[10] = 0xff;
	r->key.daddr[11] = 0xff;
	__builtin_memcpy(&r->key.saddr[12], &ip->saddr, 4);
	__builtin_memcpy(&r->key.daddr[12], &ip->daddr, 4);
	r->key.proto = ip->protocol;
	r->key.tos = ip->tos;

	frag = bpf_ntohs(ip->frag_off);
	if (frag & (FA_IP_MF | FA_IP_OFFSET)) {
		r->frag_id = ip->id; /* raw 16 bits; only compared */
		if (frag & FA_IP_OFFSET) {
			r->frag = FA_FRAG_LATER;
			r->frag_last = !(frag & FA_IP_MF);
			return FA_METER;
		}
		r->frag = FA_FRAG_FIRST;
	}
	r->hdr_len = (__u16)hlen;
	return fa_parse_l4(p, pos + hlen, r);
}

static __always_inline int fa_parse_ip6(struct fa_pkt *p, void *pos, __u32 wire,
					struct fa_parsed *r)
{
	struct ipv6hdr *ip6 = pos;
	__u8 nh;
	int i;

	if ((void *)(ip6 + 1) > p->end)
		return FA_R_TRUNC_IP6;
	if (ip6->version != 6)
		return FA_R_BAD_IP6;
	fa_octets(r, (__u32)bpf_ntohs(ip6->payload_len) + sizeof(*ip6), wire);
	__builtin_memcpy(r->key.saddr, &ip6->saddr, 16);
	__builtin_memcpy(r->key.daddr, &ip6->daddr, 16);
	/* Traffic class straddles the first two bytes: version(4) tc(8) flow label(20). */
	r->key.tos = (__u8)((ip6->priority << 4) | (ip6->flow_lbl[0] >> 4));
	nh = ip6->nexthdr;
	pos = ip6 + 1;

#pragma unroll
	for (i = 0; i < FA_MAX_EXT; i++) {
		if (nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS) {
			struct fa_ip6_ext *e = pos;

			if ((void *)(e + 1) > p->end)
				return FA_R_TRUNC_EXT;
			nh = e->nexthdr;
			pos += ((__u32)e->hdrlen + 1) * 8; /* RFC 8200 §4.3: 8-octet units */
			if (pos > p->end)
				return FA_R_TRUNC_EXT;
		} else if (nh == IPPROTO_AH) {
			struct fa_ip6_ext *e = pos;

			if ((void *)(e + 1) > p->end)
				return FA_R_TRUNC_EXT;
			nh = e->nexthdr;
			pos += ((__u32)e->hdrlen + 2) * 4; /* RFC 4302 §2.2: 4-octet units */
			if (pos > p->end)
				return FA_R_TRUNC_EXT;
		} else if (nh == IPPROTO_FRAGMENT) {
			struct fa_ip6_frag *f = pos;
			__u16 off;

			if ((void *)(f + 1) > p->end)
				return FA_R_TRUNC_EXT;
			nh = f->nexthdr;
			off = bpf_ntohs(f->frag_off);
			__builtin_memcpy(&r->frag_id, &f->id, 4);
			r->key.proto = nh;
			if (off & 0xfff8) {
				/* RFC 8200 §4.5: offset > 0, no upper-layer header here. */
				r->frag = FA_FRAG_LATER;
				r->frag_last = !(off & 1);
				return FA_METER;
			}
			if (off & 1)
				r->frag = FA_FRAG_FIRST;
			/* offset 0 and M clear: an atomic fragment (RFC 6946), a whole packet. */
			pos = f + 1;
		} else {
			r->key.proto = nh;
			r->hdr_len = (__u16)(pos - (void *)ip6);
			return fa_parse_l4(p, pos, r);
		}
	}
	return FA_R_EXT_DEPTH;
}

/* Bytes of the frame from L2 offset `l2` on (p->len is the whole frame, linear or not). */
static __always_inline __u32 fa_wire(const struct fa_pkt *p, __u32 l2)
{
	return p->len > l2 ? p->len - l2 : 0;
}

/* Parses an Ethernet frame (L2 entries); fills r and returns FA_METER, or returns the
 * fa_reason to count. */
static __always_inline int fa_parse(struct fa_pkt *p, struct fa_parsed *r)
{
	struct ethhdr *eth = p->data;
	void *pos;
	__be16 proto;
	__u32 l2 = sizeof(*eth);
	int i;

	if ((void *)(eth + 1) > p->end)
		return FA_R_TRUNC_ETH;
	proto = eth->h_proto;
	pos = eth + 1;
	r->vlan = p->vlan;
	r->has_mac = 1;
	__builtin_memcpy(r->smac, eth->h_source, 6);
	__builtin_memcpy(r->dmac, eth->h_dest, 6);

#pragma unroll
	for (i = 0; i < FA_MAX_VLAN; i++) {
		struct fa_vlan_hdr *vh = pos;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		/* tc: a tag the NIC or the stack moved out of band was the outermost one; XDP sees
		 * all tags in band. Either way a frame carries at most FA_MAX_VLAN. */
		if (i + p->vlan_oob >= FA_MAX_VLAN)
			return FA_R_VLAN_DEPTH;
		if ((void *)(vh + 1) > p->end)
			return FA_R_TRUNC_VLAN;
		/* vlanId (IE 58) is the outer tag; an offloaded tag is outer to all in-band ones. */
		if (r->vlan == 0)
			r->vlan = bpf_ntohs(vh->tci) & 0x0fff;
		proto = vh->proto;
		pos = vh + 1;
		l2 += sizeof(*vh);
	}
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD))
		return FA_R_VLAN_DEPTH;

	if (proto == bpf_htons(ETH_P_PPP_SES)) {
		/* RFC 2516 §4 session header, then the 2-byte PPP protocol (RFC 1661). */
		struct fa_pppoe_hdr *ph = pos;

		if ((void *)(ph + 1) > p->end)
			return FA_R_TRUNC_PPPOE;
		if (ph->ppp_proto == bpf_htons(FA_PPP_IP))
			proto = bpf_htons(ETH_P_IP);
		else if (ph->ppp_proto == bpf_htons(FA_PPP_IPV6))
			proto = bpf_htons(ETH_P_IPV6);
		else
			return FA_R_PPP_NOT_IP;
		pos = ph + 1;
		l2 += sizeof(*ph);
	}

	if (proto == bpf_htons(ETH_P_IP))
		return fa_parse_ip4(p, pos, fa_wire(p, l2), r);
	if (proto == bpf_htons(ETH_P_IPV6))
		return fa_parse_ip6(p, pos, fa_wire(p, l2), r);
	return FA_R_NOT_IP;
}

/* Parses a packet that starts at its IP header (L3 entries: PPP, tun, WireGuard, IP tunnels).
 * XDP has no protocol beside the packet: the version nibble decides. tc has skb->protocol,
 * which the device set (tun: from its packet information or the nibble; PPP: from the PPP
 * protocol field). No MACs. */
static __always_inline int fa_parse_l3(struct fa_pkt *p, struct fa_parsed *r, int xdp)
{
	__u8 *b = p->data;

	r->vlan = p->vlan;
	if (xdp) {
		if ((void *)(b + 1) > p->end)
			return FA_R_NOT_IP; /* empty: no version to go by */
		if ((b[0] >> 4) == 4)
			return fa_parse_ip4(p, b, p->len, r);
		if ((b[0] >> 4) == 6)
			return fa_parse_ip6(p, b, p->len, r);
		return FA_R_NOT_IP;
	}
	if (p->proto == bpf_htons(ETH_P_IP))
		return fa_parse_ip4(p, b, p->len, r);
	if (p->proto == bpf_htons(ETH_P_IPV6))
		return fa_parse_ip6(p, b, p->len, r);
	return FA_R_NOT_IP;
}

#endif /* FA_BPF_PARSE_H */
