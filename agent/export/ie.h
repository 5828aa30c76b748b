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
    start_uptime, end_uptime,       // v9 22/21: ms since the device booted (sysUpTime), 32 bit
    end_reason, post_src4, post_dst4, post_src6, post_dst6, post_src_port, post_dst_port,
    ct_mark, ct_zone,               // conntrack mark (IE 137) and zone (IE 234)
    rev_packets, rev_octets,        // biflow: RFC 5103 reverse IEs (PEN 29305)
    biflow_dir,                     // biflowDirection (239): 1 = initiator
    // NAT event (RFC 8158 NAT44 session), from a NatEvent
    nel_time, nel_src4, nel_dst4, nel_src_port, nel_dst_port, nel_post_src4, nel_post_dst4,
    nel_post_src_port, nel_post_dst_port, nel_proto, nel_event,
    // options scope
    scope_odid,                     // observation domain / v9 system scope: the domain/source id
    scope_ifindex,                  // interface table scope
    // sampling
    selector_id, selector_algo, sampling_interval_one, sampling_space, sampling_rate,
    sampling_probability, flow_selector_algo, zero_value, hash_output_max, hash_selected_max,
    hash_init,
    sampler_id, v9_sampler_mode,
    // interface table
    if_name, if_descr,
    // exporter statistics
    st_messages, st_flows, st_octets, st_ignored_packets, st_ignored_octets,
    st_not_sent_flows, st_not_sent_packets, st_not_sent_octets,
};

struct Field {
    uint16_t id;   // IANA IE / v9 field type (without the enterprise bit)
    uint16_t len;  // bytes
    FieldSrc src;
    uint32_t pen;  // IPFIX enterprise number; 0 = IANA (RFC 7011 §3.2)
};

// RFC 5103 §6.1: reverse IEs are the forward IE numbers under this Private Enterprise Number.
constexpr uint32_t kPenReverse = 29305;

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
    kIeNatEvent = 230, kIeBiflowDirection = 239, kIeObservationTimeMilliseconds = 323,
    kIeFlowSelectorAlgorithm = 390, kIeSamplingFlowInterval = 396, kIeSamplingFlowSpacing = 397,
    kIeSamplingProbability = 311, kIeHashOutputRangeMin = 329, kIeHashOutputRangeMax = 330,
    kIeHashSelectedRangeMin = 331, kIeHashSelectedRangeMax = 332, kIeHashInitialiserValue = 334,
};

// v9 options scope field types (RFC 3954 §6.1).
enum V9Scope : uint16_t { kV9ScopeSystem = 1, kV9ScopeInterface = 2 };

// Template IDs: one ID space from 256 (RFC 7011 §3.4.1, RFC 3954 §5.2) for data and options.
enum TemplateId : uint16_t {
    kTidSampling = 258, kTidInterfaces = 259, kTidStats = 260, kTidSampler = 261, kTidNat44 = 262,
    // The sampler record's layout depends on the sampling (see build_sampler_template), each
    // layout its own ID: 261 packet sampling in v9 and deterministic in IPFIX, 263 random packet
    // sampling in IPFIX, 264 flow selection by hash (conntrack).
    kTidSamplerRandom = 263, kTidSamplerFlowHash = 264,
    // Interfaces without a description (no ifAlias) are listed by name alone, under this ID;
    // 259 carries name and description.
    kTidInterfaceNames = 265,
    // Data templates: ID = kTidDataBase + the layout's DataField bits (1024..5119), so every
    // layout has its own ID and switching a key (SIGHUP) or a source never changes the layout
    // under a live ID.
    kTidDataBase = 1024,
};

// The optional parts of a data layout. A field a source cannot observe is left out of the
// template, never sent as zero: the source decides which of these it observes
// (ExporterConfig::observed), and the record decides the rest (its direction, NAT).
enum DataField : uint16_t {
    kDfV6 = 1u << 0,        // IPv6 addresses (else IPv4)
    kDfTcpFlags = 1u << 1,  // tcpControlBits (6)
    kDfTos = 1u << 2,       // ipClassOfService (5)
    kDfVlan = 1u << 3,      // vlanId (58)
    kDfDir = 1u << 4,       // flowDirection (61)
    kDfInIf = 1u << 5,      // ingressInterface (10)
    kDfOutIf = 1u << 6,     // egressInterface (14)
    kDfMac = 1u << 7,       // sourceMacAddress (56), destinationMacAddress (80)
    kDfNat = 1u << 8,       // post-NAT addresses and ports (225-228 / 281, 282, 227, 228)
    kDfMark = 1u << 9,      // conntrack mark: commonPropertiesId (137)
    kDfZone = 1u << 10,     // conntrack zone: ingressVRFID (234)
    kDfBiflow = 1u << 11,   // RFC 5103 reverse counters + biflowDirection (IPFIX only)
    // What a packet hook observes besides the key (interfaces per hook direction).
    kDfPacketFields = kDfTcpFlags | kDfTos | kDfVlan | kDfDir,
};

constexpr int kMaxFields = 32;
// Field length of a variable-length IE (RFC 7011 §7): the record carries a length prefix.
constexpr uint16_t kVarLen = 65535;

// One template: fields in wire order, the first n_scope of them are options scope fields.
struct TemplateDesc {
    uint16_t id = 0;
    uint8_t n_fields = 0;
    uint8_t n_scope = 0;     // 0 = data template
    uint16_t rec_len = 0;    // bytes of one data record
    Field fields[kMaxFields] = {};

    void add(uint16_t ie, uint16_t len, FieldSrc src, uint32_t pen = 0)
    {
        if (n_fields >= kMaxFields) return;  // lists below are far shorter; kept as a guard
        fields[n_fields++] = Field{ie, len, src, pen};
        rec_len = uint16_t(rec_len + len);
    }
    // A variable-length field of at most max_bytes (< 255): rec_len counts its longest
    // encoding, the 1-byte length prefix and the bytes (RFC 7011 §7).
    void add_var(uint16_t ie, uint16_t max_bytes, FieldSrc src)
    {
        add(ie, kVarLen, src);
        rec_len = uint16_t(rec_len - kVarLen + 1u + max_bytes);
    }
};

// The data template of one layout (DataField bits; kDfBiflow is ignored for v9). Same order for
// both protocols; only the time fields differ. Always: addresses, ports, protocol, ICMP
// type/code, counters, start/end time, flowEndReason; the rest per layout bit.
// Mark: commonPropertiesId (137, unsigned64 sent reduced-size in 4 bytes, RFC 7011 §6.2), the
// element ipt-netflow exports the conntrack mark in (no IANA element is meant for it; ulogd2
// misuses applicationId 95). Zone: ingressVRFID (234, unsigned32): conntrack zones are how Linux
// separates per-VRF connection tables; nfdump 1.7 decodes it (%ivrf), tshark names it.
// Biflow (IPFIX only) appends reversePacketDeltaCount, reverseOctetDeltaCount (PEN 29305) and
// biflowDirection (239).
void build_data_template(Protocol p, uint16_t layout, TemplateDesc& out);
// The ID of a data template layout (see TemplateId).
inline uint16_t data_template_id(uint16_t layout) { return uint16_t(kTidDataBase + layout); }
// The RFC 8158 NAT44 session create/delete template (NatEvent fields), both protocols.
void build_nat44_template(Protocol p, TemplateDesc& out);
void build_sampling_template(Protocol p, SamplingKind kind, TemplateDesc& out);
void build_sampler_template(Protocol p, const SamplingInfo& s, TemplateDesc& out);
// IPFIX: interfaceName / interfaceDescription as variable-length strings (Field::len
// kVarLen, RFC 7011 §7); v9 (no variable length): fixed 16 / 32 bytes, NUL-padded.
// with_descr = false: the name-only template (kTidInterfaceNames) for interfaces that have no
// description, so none is ever sent empty.
void build_interface_template(Protocol p, bool with_descr, TemplateDesc& out);
void build_stats_template(Protocol p, TemplateDesc& out);

} // namespace fa
