// SPDX-License-Identifier: GPL-2.0-only
#include "export/ie.h"

namespace fa {

void build_data_template(Protocol p, bool v6, bool with_mac, bool with_nat, bool biflow,
                         TemplateDesc& out)
{
    out = TemplateDesc{};
    biflow = biflow && p == Protocol::ipfix;
    out.id = data_template_id(v6, biflow, false, false);
    if (v6) {
        out.add(kIeSourceIPv6Address, 16, FieldSrc::src6);
        out.add(kIeDestinationIPv6Address, 16, FieldSrc::dst6);
    } else {
        out.add(kIeSourceIPv4Address, 4, FieldSrc::src4);
        out.add(kIeDestinationIPv4Address, 4, FieldSrc::dst4);
    }
    out.add(kIeSourceTransportPort, 2, FieldSrc::src_port);
    // v9: ICMP type*256+code here too, where collectors look for it (FIELD-NOTES §3).
    out.add(kIeDestinationTransportPort, 2, FieldSrc::dst_port);
    out.add(kIeProtocolIdentifier, 1, FieldSrc::proto);
    out.add(kIeIpClassOfService, 1, FieldSrc::tos);
    // tcpControlBits is unsigned16 since RFC 7125; 1 byte is reduced-size encoding
    // (RFC 7011 §6.2) and carries every flag a FlowRecord keeps.
    out.add(kIeTcpControlBits, 1, FieldSrc::tcp_flags);
    // v9 ICMP_TYPE (32) is type*256+code for both families (RFC 3954 §8); nfdump's v9 decoder
    // reads only 32, so v6 uses it there too. IPFIX: icmpTypeCodeIPv6 (139) for IPv6.
    out.add(v6 && p == Protocol::ipfix ? kIeIcmpTypeCodeIPv6 : kIeIcmpTypeCodeIPv4, 2,
            FieldSrc::icmp_type_code);
    out.add(kIeIngressInterface, 4, FieldSrc::in_if);
    out.add(kIeEgressInterface, 4, FieldSrc::out_if);
    out.add(kIeFlowDirection, 1, FieldSrc::dir);
    out.add(kIeVlanId, 2, FieldSrc::vlan);
    if (with_mac) {
        out.add(kIeSourceMacAddress, 6, FieldSrc::src_mac);
        out.add(kIeDestinationMacAddress, 6, FieldSrc::dst_mac);
    }
    out.add(kIePacketDeltaCount, 8, FieldSrc::packets);
    out.add(kIeOctetDeltaCount, 8, FieldSrc::octets);
    if (p == Protocol::ipfix) {
        out.add(kIeFlowStartMilliseconds, 8, FieldSrc::start_wall_ms);
        out.add(kIeFlowEndMilliseconds, 8, FieldSrc::end_wall_ms);
    } else {
        out.add(kIeFirstSwitched, 4, FieldSrc::start_uptime);
        out.add(kIeLastSwitched, 4, FieldSrc::end_uptime);
    }
    out.add(kIeFlowEndReason, 1, FieldSrc::end_reason);
    if (with_nat) {
        if (v6) {
            out.add(kIePostNATSourceIPv6Address, 16, FieldSrc::post_src6);
            out.add(kIePostNATDestinationIPv6Address, 16, FieldSrc::post_dst6);
        } else {
            out.add(kIePostNATSourceIPv4Address, 4, FieldSrc::post_src4);
            out.add(kIePostNATDestinationIPv4Address, 4, FieldSrc::post_dst4);
        }
        out.add(kIePostNAPTSourceTransportPort, 2, FieldSrc::post_src_port);
        out.add(kIePostNAPTDestinationTransportPort, 2, FieldSrc::post_dst_port);
    }
    if (biflow) {
        // RFC 5103: the forward fields above are the original (initiating) direction; the
        // reverse direction adds only what differs: its counters. Start/end times are the
        // connection's (one conntrack timestamp pair), so no reverse times.
        out.add(kIePacketDeltaCount, 8, FieldSrc::rev_packets, kPenReverse);
        out.add(kIeOctetDeltaCount, 8, FieldSrc::rev_octets, kPenReverse);
        out.add(kIeBiflowDirection, 1, FieldSrc::biflow_dir);
    }
}

void build_nat44_template(Protocol p, TemplateDesc& out)
{
    (void)p;  // same IE numbers in v9 (nfdump and tshark read 225-230 and 323 there too)
    out = TemplateDesc{};
    out.id = kTidNat44;
    out.add(kIeObservationTimeMilliseconds, 8, FieldSrc::nel_time);
    out.add(kIeSourceIPv4Address, 4, FieldSrc::nel_src4);
    out.add(kIeDestinationIPv4Address, 4, FieldSrc::nel_dst4);
    out.add(kIeSourceTransportPort, 2, FieldSrc::nel_src_port);
    out.add(kIeDestinationTransportPort, 2, FieldSrc::nel_dst_port);
    out.add(kIePostNATSourceIPv4Address, 4, FieldSrc::nel_post_src4);
    out.add(kIePostNATDestinationIPv4Address, 4, FieldSrc::nel_post_dst4);
    out.add(kIePostNAPTSourceTransportPort, 2, FieldSrc::nel_post_src_port);
    out.add(kIePostNAPTDestinationTransportPort, 2, FieldSrc::nel_post_dst_port);
    out.add(kIeProtocolIdentifier, 1, FieldSrc::nel_proto);
    out.add(kIeNatEvent, 1, FieldSrc::nel_event);
}

uint16_t data_template_id(bool v6, bool biflow, bool mark, bool zone)
{
    const int variant = (mark ? 1 : 0) | (zone ? 2 : 0);
    int id = biflow ? kTidDataBiflow + 2 * variant
                    : (variant ? kTidDataCtMeta + 2 * (variant - 1) : kTidDataV4);
    return uint16_t(id + (v6 ? 1 : 0));
}

void add_ct_meta_fields(bool v6, bool mark, bool zone, TemplateDesc& out)
{
    if (!mark && !zone) return;
    const bool biflow = out.id >= kTidDataBiflow;  // build_data_template's ID
    out.id = data_template_id(v6, biflow, mark, zone);
    if (mark) out.add(kIeCommonPropertiesId, 4, FieldSrc::ct_mark);
    if (zone) out.add(kIeIngressVRFID, 4, FieldSrc::ct_zone);
}

// Scope of the per-exporter options records: IPFIX observationDomainId (IE 149, a real IE as
// RFC 7011 §3.4.2.1 requires); v9 scope "System" (RFC 3954 §6.1) carrying the Source ID.
static void add_system_scope(Protocol p, TemplateDesc& out)
{
    out.add(p == Protocol::ipfix ? uint16_t(kIeObservationDomainId) : uint16_t(kV9ScopeSystem),
            4, FieldSrc::scope_odid);
    out.n_scope = 1;
}

// Two sampling options records. 258: SAMPLING_INTERVAL 34 (= rate) alone, deprecated in IPFIX but
// still IANA registered; collectors apply it to every flow of the exporter.
// Deliberately without SAMPLING_ALGORITHM 35: nfcapd 1.7.1 (Debian 12) ignores a 34/35 pair (and
// 48/49/50, 302/304/305/306) and scales nothing; with 34 alone it registers a generic sampler,
// interval 1 / space rate-1, and multiplies packets and bytes (checked against nfcapd 1.7.1 in
// tests/e2e/test_decoders_nfdump.sh). The algorithm is carried by 261. 261: the individual
// sampler (v9 FLOW_SAMPLER 48/49/50, RFC 3954 §8; IPFIX PSAMP 302/304/305/306 or 390/396/397
// for flow sampling, RFC 5477), which collectors apply only to flows that carry its ID.
void build_sampling_template(Protocol p, SamplingKind kind, TemplateDesc& out)
{
    (void)kind;
    out = TemplateDesc{};
    out.id = kTidSampling;
    add_system_scope(p, out);
    out.add(kIeSamplingInterval, 4, FieldSrc::sampling_rate);
}

void build_sampler_template(Protocol p, SamplingKind kind, TemplateDesc& out)
{
    out = TemplateDesc{};
    out.id = kTidSampler;
    add_system_scope(p, out);
    if (p == Protocol::v9) {
        out.add(kIeFlowSamplerId, 1, FieldSrc::sampler_id);
        out.add(kIeFlowSamplerMode, 1, FieldSrc::v9_sampler_mode);
        out.add(kIeFlowSamplerRandomInterval, 4, FieldSrc::sampling_rate);
        return;
    }
    // PSAMP (RFC 5477): 1 selected out of every rate = interval 1, space rate-1.
    out.add(kIeSelectorId, 8, FieldSrc::selector_id);
    if (kind == SamplingKind::flow) {
        out.add(kIeFlowSelectorAlgorithm, 1, FieldSrc::selector_algo);
        out.add(kIeSamplingFlowInterval, 4, FieldSrc::sampling_interval_one);
        out.add(kIeSamplingFlowSpacing, 4, FieldSrc::sampling_space);
    } else {
        out.add(kIeSelectorAlgorithm, 1, FieldSrc::selector_algo);
        out.add(kIeSamplingPacketInterval, 4, FieldSrc::sampling_interval_one);
        out.add(kIeSamplingPacketSpace, 4, FieldSrc::sampling_space);
    }
}

void build_interface_template(Protocol p, TemplateDesc& out)
{
    out = TemplateDesc{};
    out.id = kTidInterfaces;
    out.add(p == Protocol::ipfix ? uint16_t(kIeIngressInterface) : uint16_t(kV9ScopeInterface), 4,
            FieldSrc::scope_ifindex);
    out.n_scope = 1;
    out.add(kIeInterfaceName, 16, FieldSrc::if_name);
    out.add(kIeInterfaceDescription, 32, FieldSrc::if_descr);
}

void build_stats_template(Protocol p, TemplateDesc& out)
{
    out = TemplateDesc{};
    out.id = kTidStats;
    add_system_scope(p, out);
    out.add(kIeExportedMessageTotalCount, 8, FieldSrc::st_messages);
    out.add(kIeExportedFlowRecordTotalCount, 8, FieldSrc::st_flows);
    out.add(kIeExportedOctetTotalCount, 8, FieldSrc::st_octets);
    out.add(kIeIgnoredPacketTotalCount, 8, FieldSrc::st_ignored_packets);
    out.add(kIeIgnoredOctetTotalCount, 8, FieldSrc::st_ignored_octets);
    out.add(kIeNotSentFlowTotalCount, 8, FieldSrc::st_not_sent_flows);
    out.add(kIeNotSentPacketTotalCount, 8, FieldSrc::st_not_sent_packets);
    out.add(kIeNotSentOctetTotalCount, 8, FieldSrc::st_not_sent_octets);
}

} // namespace fa
