// SPDX-License-Identifier: GPL-2.0-only
#include "export/ie.h"

namespace fa {

void build_data_template(Protocol p, uint16_t layout, TemplateDesc& out)
{
    out = TemplateDesc{};
    if (p != Protocol::ipfix) layout = uint16_t(layout & ~kDfBiflow);
    out.id = data_template_id(layout);
    const bool v6 = (layout & kDfV6) != 0;
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
    if (layout & kDfTos) out.add(kIeIpClassOfService, 1, FieldSrc::tos);
    // tcpControlBits is unsigned16 since RFC 7125; 1 byte is reduced-size encoding
    // (RFC 7011 §6.2) and carries every flag a FlowRecord keeps.
    if (layout & kDfTcpFlags) out.add(kIeTcpControlBits, 1, FieldSrc::tcp_flags);
    // v9 ICMP_TYPE (32) is type*256+code for both families (RFC 3954 §8); nfdump's v9 decoder
    // reads only 32, so v6 uses it there too. IPFIX: icmpTypeCodeIPv6 (139) for IPv6.
    out.add(v6 && p == Protocol::ipfix ? kIeIcmpTypeCodeIPv6 : kIeIcmpTypeCodeIPv4, 2,
            FieldSrc::icmp_type_code);
    if (layout & kDfInIf) out.add(kIeIngressInterface, 4, FieldSrc::in_if);
    if (layout & kDfOutIf) out.add(kIeEgressInterface, 4, FieldSrc::out_if);
    if (layout & kDfDir) out.add(kIeFlowDirection, 1, FieldSrc::dir);
    if (layout & kDfVlan) out.add(kIeVlanId, 2, FieldSrc::vlan);
    if (layout & kDfMac) {
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
    if (layout & kDfNat) {
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
    if (layout & kDfBiflow) {
        // RFC 5103: the forward fields above are the original (initiating) direction; the
        // reverse direction adds only what differs: its counters. Start/end times are the
        // connection's (one conntrack timestamp pair), so no reverse times.
        out.add(kIePacketDeltaCount, 8, FieldSrc::rev_packets, kPenReverse);
        out.add(kIeOctetDeltaCount, 8, FieldSrc::rev_octets, kPenReverse);
        out.add(kIeBiflowDirection, 1, FieldSrc::biflow_dir);
    }
    if (layout & kDfMark) out.add(kIeCommonPropertiesId, 4, FieldSrc::ct_mark);
    if (layout & kDfZone) out.add(kIeIngressVRFID, 4, FieldSrc::ct_zone);
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

// Scope of the per-exporter options records: IPFIX observationDomainId (IE 149, a real IE as
// RFC 7011 §3.4.2.1 requires); v9 scope "System" (RFC 3954 §6.1) carrying the Source ID.
static void add_system_scope(Protocol p, TemplateDesc& out)
{
    out.add(p == Protocol::ipfix ? uint16_t(kIeObservationDomainId) : uint16_t(kV9ScopeSystem),
            4, FieldSrc::scope_odid);
    out.n_scope = 1;
}

// Two sampling options records, both sent with every template refresh.
// 258: SAMPLING_INTERVAL 34 (= rate) alone, deprecated in IPFIX but still IANA registered; the
// form collectors renormalise from, applied to every flow of the exporter (nfcapd 1.7.1 as a
// generic sampler, interval 1 / space rate-1; nfacctd too). Deliberately without
// SAMPLING_ALGORITHM 35: nfcapd 1.7.1 (Debian 12) ignores a 34/35 pair and scales nothing
// (checked in tests/e2e/test_decoders_nfdump.sh). The algorithm is in 261/263/264.
void build_sampling_template(Protocol p, SamplingKind kind, TemplateDesc& out)
{
    (void)kind;
    out = TemplateDesc{};
    out.id = kTidSampling;
    add_system_scope(p, out);
    out.add(kIeSamplingInterval, 4, FieldSrc::sampling_rate);
}

// The sampler as it really is:
// - packet sampling, v9 (261): FLOW_SAMPLER_ID 48, FLOW_SAMPLER_MODE 49 (1 deterministic,
//   2 random), FLOW_SAMPLER_RANDOM_INTERVAL 50 = N (RFC 3954 §8);
// - deterministic packet sampling, IPFIX (261): PSAMP selectorId 302, selectorAlgorithm 304 = 1
//   (systematic count-based: every Nth packet per CPU), samplingPacketInterval 305 = 1,
//   samplingPacketSpace 306 = N - 1 (RFC 5475 §5.1, RFC 5477 §8.2);
// - random packet sampling, IPFIX (263): selectorAlgorithm 4 (uniform probabilistic: each
//   packet independently with probability 1/N), samplingProbability 311 = 1/N (float64);
// - conntrack flow selection by tuple hash, both protocols (264): selectorId,
//   flowSelectorAlgorithm 390 = 6 (hash-based filtering using BOB, RFC 7014 §6.2.3 / RFC 5475
//   §6.2.3), hashOutputRangeMin/Max 329/330 = 0 / 2^32-1, hashSelectedRangeMin/Max 331/332 =
//   the selected range, hashInitialiserValue 334 (see ct_tuple_hash).
void build_sampler_template(Protocol p, const SamplingInfo& s, TemplateDesc& out)
{
    out = TemplateDesc{};
    out.id = kTidSampler;
    add_system_scope(p, out);
    if (s.kind == SamplingKind::flow) {
        out.id = kTidSamplerFlowHash;
        out.add(kIeSelectorId, 8, FieldSrc::selector_id);
        out.add(kIeFlowSelectorAlgorithm, 1, FieldSrc::flow_selector_algo);
        out.add(kIeHashOutputRangeMin, 4, FieldSrc::zero_value);
        out.add(kIeHashOutputRangeMax, 4, FieldSrc::hash_output_max);
        out.add(kIeHashSelectedRangeMin, 4, FieldSrc::zero_value);
        out.add(kIeHashSelectedRangeMax, 4, FieldSrc::hash_selected_max);
        out.add(kIeHashInitialiserValue, 4, FieldSrc::hash_init);
        return;
    }
    if (p == Protocol::v9) {
        out.add(kIeFlowSamplerId, 1, FieldSrc::sampler_id);
        out.add(kIeFlowSamplerMode, 1, FieldSrc::v9_sampler_mode);
        out.add(kIeFlowSamplerRandomInterval, 4, FieldSrc::sampling_rate);
        return;
    }
    out.add(kIeSelectorId, 8, FieldSrc::selector_id);
    if (s.mode == SamplingMode::random) {
        out.id = kTidSamplerRandom;
        out.add(kIeSelectorAlgorithm, 1, FieldSrc::selector_algo);
        out.add(kIeSamplingProbability, 8, FieldSrc::sampling_probability);
    } else {
        out.add(kIeSelectorAlgorithm, 1, FieldSrc::selector_algo);
        out.add(kIeSamplingPacketInterval, 4, FieldSrc::sampling_interval_one);
        out.add(kIeSamplingPacketSpace, 4, FieldSrc::sampling_space);
    }
}

void build_interface_template(Protocol p, bool with_descr, TemplateDesc& out)
{
    out = TemplateDesc{};
    out.id = with_descr ? kTidInterfaces : kTidInterfaceNames;
    out.add(p == Protocol::ipfix ? uint16_t(kIeIngressInterface) : uint16_t(kV9ScopeInterface), 4,
            FieldSrc::scope_ifindex);
    out.n_scope = 1;
    if (p == Protocol::ipfix) {
        // The strings without their NUL padding (InterfaceInfo keeps them NUL-terminated).
        out.add_var(kIeInterfaceName, sizeof(InterfaceInfo::name) - 1, FieldSrc::if_name);
        if (with_descr)
            out.add_var(kIeInterfaceDescription, sizeof(InterfaceInfo::descr) - 1,
                        FieldSrc::if_descr);
    } else {
        out.add(kIeInterfaceName, sizeof(InterfaceInfo::name), FieldSrc::if_name);
        if (with_descr)
            out.add(kIeInterfaceDescription, sizeof(InterfaceInfo::descr), FieldSrc::if_descr);
    }
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
