// SPDX-License-Identifier: GPL-2.0-only
// The conntrack source's state file: what a run already exported of each live connection, so the
// next run (a restart of the agent, not of the router) exports only what came after. Written at
// stop, read at start; the platform moves the bytes, this file says what they mean. Fixed-size
// records, big-endian, CRC-32 over the records:
//   header (72 bytes): magic "FACTSTAT", u32 version (1), u32 clean (1: written by a stop that
//     exported every tracked connection; 0: a run is in progress or died), u64 network namespace
//     (inode of /proc/self/ns/net), char boot_id[40] (/proc/sys/kernel/random/boot_id, zero
//     padded), u32 count, u32 crc32 of the records
//   count records (44 bytes each): u32 conntrack id, u32 tuple hash (ct_tuple_hash), u64 orig
//     packets, orig octets, reply packets, reply octets already exported, u8 NAT create sent,
//     3 bytes zero.
// What start does with it (ct_state_judge):
//   use      same boot, same namespace, clean, records intact: baselines restored;
//   missing  no file (first start since boot: /var/run is tmpfs): nothing was exported before,
//            every connection counts from zero;
//   stale    another boot or another network namespace: it says nothing about these
//            connections, which count from zero (as missing);
//   corrupt / unclean  (bad magic, version, length or CRC; or the previous run did not stop
//            cleanly): baselines unknown; CtTracker::set_baselines_unknown(): connections older
//            than this start count from their counters at the first dump, never twice.
#pragma once
#include <cstddef>
#include <cstdint>

#include "source/ct_tracker.h"

namespace fa {

constexpr size_t kCtStateHeaderLen = 72;
constexpr size_t kCtStateRecordLen = 44;
constexpr size_t kCtStateBootIdLen = 40;

struct CtStateHeader {
    bool clean = false;
    uint64_t netns = 0;
    char boot_id[kCtStateBootIdLen] = {};
    uint32_t count = 0;
    uint32_t crc = 0;
};

enum class CtStateVerdict : uint8_t { use, missing, stale, corrupt, unclean };
const char* ct_state_verdict_name(CtStateVerdict v);

void ct_state_put_header(const CtStateHeader& h, uint8_t out[kCtStateHeaderLen]);
// bad_input (with *why) when the magic or version is wrong.
[[nodiscard]] Status ct_state_get_header(const uint8_t in[kCtStateHeaderLen], CtStateHeader& h,
                                         const char** why);
void ct_state_put_record(const CtBaseline& b, uint8_t out[kCtStateRecordLen]);
CtBaseline ct_state_get_record(const uint8_t in[kCtStateRecordLen]);

// CRC-32 (IEEE 802.3, reflected, as zlib's crc32()); chain calls with the previous result.
uint32_t ct_crc32(uint32_t crc, const uint8_t* p, size_t n);

// The decision for a header read from the file. `file_len`: the file's size (records must fill
// it exactly); `boot_id`, `netns`: this run's.
CtStateVerdict ct_state_judge(const CtStateHeader& h, size_t file_len, const char* boot_id,
                              uint64_t netns);

} // namespace fa
