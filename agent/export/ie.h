// SPDX-License-Identifier: GPL-2.0-only
// Information elements and template field lists shared by the IPFIX (RFC 7011) and NetFlow v9
// (RFC 3954) encoders. IDs are IANA "IPFIX Information Elements" numbers, which v9 field types
// 1-127 share. Lengths are bytes on the wire; numbers are big-endian (RFC 7011 §6.1.1).
#pragma once
#include <cstdint>

#include "export/export_types.h"

namespace fa {

// Where a field's value comes from. One enum for data and options fields so one template
// builder and one writer loop serve both protocols.
enum class FieldSrc : uint8_t {
    // flow data
    src4, dst4, src6, dst6, src_port, dst_port, proto, tos, tcp_flags, icmp_type_code,
    in_if, out_if, dir, vlan, src_mac, dst_mac, packets, octets,
    start_wall_ms, end_wall_ms,     // IPFIX 152/153: absolute wall ms
    start_uptime, end_uptime,       // v9 22/21: ms since agent start, 32 bit
    end_reason, post_src4, post_dst4, post_src6, post_dst6, post_src_port, post_dst_port,
    ct_mark, ct_zone,               // conntrack mark (IE 137) and zone (IE 234)
    // options scope
    scope_odid,                     // observation domain / v9 system scope: the domain/source id
    scope_ifindex,                  // interface table scope
    // sampling
    selector_id, selector_algo, sampling_interval_one, sampling_space, sampling_rate,
    sampler_id, v9_sampler_mode,
    // interface table
    if_name, if_descr,
    // exporter statistics
    st_messages, st_flows, st_octets, st_ignored_packets, st_ignored_octets,
    st_not_sent_flows, st_not_sent_packets, st_not_sent_octets,
};

struct Field {
    uint16_t id;   // IANA IE / v9 field type
    uint16_t len;  // bytes
    FieldSrc src;
};

// IANA IE numbers used here (https://www.iana.org/assignments/ipfix).
enum Ie : uint16_t {
    kIeOctetDeltaCount = 1, kIePacketDeltaCount = 2, kIeProtocolIdentifier = 4,
    kIeIpClassOfService = 5, kIeTcpControlBits = 6, kIeSourceTransportPort = 7,
    kIeSourceIPv4Address = 8, kIeIngressInterface = 10, kIeDestinationTransportPort = 11,
    kIeDestinationIPv4Address = 12, kIeEgressInterface = 14, kIeLastSwitched = 21,
    kIeFirstSwitched = 22, kIeSourceIPv6Address = 27, kIeDestinationIPv6Address = 28,
    kIeIcmpTypeCodeIPv4 = 32, kIeSamplingInterval = 34, kIeSamplingAlgorithm = 35,
    kIeExportedOctetTotalCount = 40, kIeExportedMessageTotalCount = 41,
    kIeExportedFlowRecordTotalCount = 42, kIeFlowSamplerId = 48, kIeFlowSamplerMode = 49,
    kIeFlowSamplerRandomInterval = 50, kIeSourceMacAddress = 56, kIeVlanId = 58,
    kIeFlowDirection = 61, kIeDestinationMacAddress = 80, kIeInterfaceName = 82,
    kIeInterfaceDescription = 83, kIeFlowEndReason = 136, kIeIcmpTypeCodeIPv6 = 139,
    kIeObservationDomainId = 149, kIeFlowStartMilliseconds = 152, kIeFlowEndMilliseconds = 153,
    kIeIgnoredPacketTotalCount = 164, kIeIgnoredOctetTotalCount = 165,
    kIeNotSentFlowTotalCount = 166, kIeNotSentPacketTotalCount = 167,
    kIeNotSentOctetTotalCount = 168, kIePostNATSourceIPv4Address = 225,
    kIePostNATDestinationIPv4Address = 226, kIePostNAPTSourceTransportPort = 227,
    kIePostNAPTDestinationTransportPort = 228, kIePostNATSourceIPv6Address = 281,
    kIePostNATDestinationIPv6Address = 282, kIeSelectorId = 302, kIeSelectorAlgorithm = 304,
    kIeSamplingPacketInterval = 305, kIeSamplingPacketSpace = 306,
    kIeCommonPropertiesId = 137, kIeIngressVRFID = 234,
    kIeFlowSelectorAlgorithm = 390, kIeSamplingFlowInterval = 396, kIeSamplingFlowSpacing = 397,
};

// v9 options scope field types (RFC 3954 §6.1).
enum V9Scope : uint16_t { kV9ScopeSystem = 1, kV9ScopeInterface = 2 };

// Template IDs: one ID space from 256 (RFC 7011 §3.4.1, RFC 3954 §5.2) for data and options.
enum TemplateId : uint16_t {
    kTidDataV4 = 256, kTidDataV6 = 257, kTidSampling = 258, kTidInterfaces = 259,
    kTidStats = 260, kTidSampler = 261,
    // Conntrack data templates with mark and/or zone ([conntrack] mark/zone = yes): their own
    // IDs, so that switching the keys (SIGHUP) never changes the layout under a live ID.
    // ID = kTidDataCtMeta + 2 * (variant - 1) + v6, variant = mark | zone << 1 (1..3): 272..277.
    kTidDataCtMeta = 272,
};

constexpr int kMaxFields = 32;

// One template: fields in wire order, the first n_scope of them are options scope fields.
struct TemplateDesc {
    uint16_t id = 0;
    uint8_t n_fields = 0;
    uint8_t n_scope = 0;     // 0 = data template
    uint16_t rec_len = 0;    // bytes of one data record
    Field fields[kMaxFields] = {};

    void add(uint16_t ie, uint16_t len, FieldSrc src)
    {
        if (n_fields >= kMaxFields) return;  // lists below are far shorter; kept as a guard
        fields[n_fields++] = Field{ie, len, src};
        rec_len = uint16_t(rec_len + len);
    }
};

// The data template for one address family and layout. Same order for both protocols; only the
// time fields and the scope encoding (options) differ.
void build_data_template(Protocol p, bool v6, bool with_mac, bool with_nat, TemplateDesc& out);
// Appends the conntrack mark / zone fields to a data template built by build_data_template and
// gives it its variant's ID (kTidDataCtMeta...). No-op when both are off (IDs 256/257 stay).
// Mark: commonPropertiesId (137, unsigned64 sent reduced-size in 4 bytes, RFC 7011 §6.2), the
// element ipt-netflow exports the conntrack mark in (no IANA element is meant for it; ulogd2
// misuses applicationId 95). Zone: ingressVRFID (234, unsigned32): conntrack zones are how Linux
// separates per-VRF connection tables; nfdump 1.7 decodes it (%ivrf), tshark names it.
void add_ct_meta_fields(bool v6, bool mark, bool zone, TemplateDesc& out);
void build_sampling_template(Protocol p, SamplingKind kind, TemplateDesc& out);
void build_sampler_template(Protocol p, SamplingKind kind, TemplateDesc& out);
void build_interface_template(Protocol p, TemplateDesc& out);
void build_stats_template(Protocol p, TemplateDesc& out);

} // namespace fa
