/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ifslot.h - the hook's ifindex -> interface slot lookup (fa_abi.h, "Interface slots"), shared
 * by fa_flow.bpf.c and the benchmark's baseline so that both measure the same code.
 */
#ifndef FA_BPF_IFSLOT_H
#define FA_BPF_IFSLOT_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "fa_abi.h"

/* The slot of `ifindex`, 0 for none. `arr`: an ARRAY of FA_IFARR_ENTRIES struct fa_ifslot_ent
 * (lookups inlined by the verifier: a bounds check, a load and a compare); `hash`: the HASH
 * __u32 ifindex -> __u32 slot. The array entry counts when it names this ifindex with a slot;
 * anything else (free, another interface's, or half-written while user space changes it)
 * sends the lookup to the hash, which holds every ifindex with a slot that the array does not. */
static __always_inline __u32 fa_ifslot_of(void *arr, void *hash, __u32 ifindex)
{
	__u32 ai = ifindex & (FA_IFARR_ENTRIES - 1);
	struct fa_ifslot_ent *e;
	__u32 *sp;

	e = bpf_map_lookup_elem(arr, &ai);
	if (e && e->ifindex == ifindex && e->slot != 0)
		return e->slot;
	sp = bpf_map_lookup_elem(hash, &ifindex);
	return sp ? *sp : 0;
}

#endif /* FA_BPF_IFSLOT_H */
