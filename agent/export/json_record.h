// SPDX-License-Identifier: GPL-2.0-only
// One flow record as one line of JSON (no trailing newline), for logs and the stdout exporter.
#pragma once
#include <cstddef>

#include "core/time.h"
#include "flow/flow_record.h"
#include "flow/nat_event.h"

namespace fa {

// Writes the object into buf (NUL-terminated) and returns its length without the NUL, or 0 when
// len is too small (buf then holds an empty string). Never allocates.
size_t format_json(const FlowRecord& r, const ExportTime& t, char* buf, size_t len);

// A NAT session event (RFC 8158) the same way: {"nat_event":"create"|"delete","time_ms":...,
// "proto":..., "src", "src_port", "dst", "dst_port", "post_src", "post_src_port", "post_dst",
// "post_dst_port"} (ICMP: the ports are the echo identifiers and type << 8 | code, as exported).
size_t format_nat_json(const NatEvent& ev, const ExportTime& t, char* buf, size_t len);

const char* end_reason_name(EndReason e);
// Text form of an address in FlowKey encoding (16 bytes): dotted quad when v4 (IPv4-mapped),
// else RFC 5952 (lower-case hex, longest run of >= 2 zero groups as "::"). Returns the length
// (0 if it did not fit; buf then holds a truncated text). 46 bytes always suffice.
size_t format_addr(const uint8_t* a, bool v4, char* buf, size_t len);

} // namespace fa
