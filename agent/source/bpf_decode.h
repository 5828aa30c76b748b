// SPDX-License-Identifier: GPL-2.0-only
// Pure conversion of the kernel flow map's entries (bpf/include/fa_abi.h) into FlowDeltas.
// Portable: no libbpf, no Linux headers; the platform source feeds it raw map bytes.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/status.h"
#include "fa_abi.h"
#include "flow/flow_record.h"

namespace fa {

// Decodes one entry (of fa_flows or of a fa_cache slot). `key`/`val` are the raw bytes from the
// map (host order for the integer fields, as the kernel wrote them on this machine). The
// entry's 32-bit millisecond times are unwrapped against `now_ms` (CLOCK_MONOTONIC ms at or
// after the drain that wrote fa_ctl.now_ms last; entries are never older than 2^31 ms).
// `slot_ifindex` (FA_MAX_SLOTS + 1 entries) maps the key's interface slot to the kernel
// ifindex the slot stood for when the packets were counted: that is the ingressInterface
// (ingress hooks) or egressInterface (egress hooks). The MACs are taken when the entry has
// them (FA_VAL_MAC).
// Returns bad_input, leaving `out` unspecified, when a length is wrong or a field is
// impossible (non-zero padding, unknown flags, MACs without FA_VAL_MAC, VLAN > 4095, zero
// packets, last before first, a time after `now_ms`, slot 0, a slot above FA_MAX_SLOTS or one
// that names no interface).
[[nodiscard]] Status bpf_decode(const uint8_t* key, size_t key_len, const uint8_t* val,
                                size_t val_len, MonoMs now_ms, const uint32_t* slot_ifindex,
                                FlowDelta& out);
[[nodiscard]] Status bpf_decode(const fa_flow_key& key, const fa_flow_val& val, MonoMs now_ms,
                                const uint32_t* slot_ifindex, FlowDelta& out);

// The drain generation an entry was counted in (FA_IFX_GEN).
inline uint32_t bpf_key_gen(const fa_flow_key& key) { return (key.ifx & FA_IFX_GEN) ? 1u : 0u; }

// Name of a fa_reason ("map_full", "trunc_ip4", ...); "unknown" outside the enum.
const char* bpf_reason_name(uint32_t reason);
// True when packets counted under the reason were seen but not metered (DropCounters.source_*).
bool bpf_reason_is_loss(uint32_t reason);

} // namespace fa
