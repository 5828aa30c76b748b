// SPDX-License-Identifier: GPL-2.0-only
// ARPHRD link type -> the entries attached (platform/linux/bpf_attach.cpp): Ethernet-framed
// devices get the L2 programs, devices whose packets start at the IP header the L3 programs,
// anything else is refused. Numbers are the kernel's (include/uapi/linux/if_arp.h), written
// out here so a changed mapping cannot hide behind the same macro on both sides.
#include <CppUTest/TestHarness.h>

#include <cstring>

#include "linux/bpf_loader.h"

using namespace fa;

TEST_GROUP(LinkKind){};

TEST(LinkKind, EthernetFramed)
{
    CHECK(link_kind_for_arphrd(1) == LinkKind::ether);    // ETHER: veth, bridges, VLANs, tap
    CHECK(link_kind_for_arphrd(772) == LinkKind::ether);  // LOOPBACK
    STRCMP_EQUAL("ether", arphrd_name(1));
}

TEST(LinkKind, IpFirst)
{
    const uint16_t l3[] = {512,     // PPP: pppoe-wan
                           0xfffe,  // NONE: tun, WireGuard
                           768,     // TUNNEL: ipip
                           769,     // TUNNEL6: ip6tnl
                           776,     // SIT: 6in4
                           778,     // IPGRE
                           823,     // IP6GRE
                           519};    // RAWIP
    for (uint16_t t : l3) CHECK(link_kind_for_arphrd(t) == LinkKind::l3);
    STRCMP_EQUAL("ppp", arphrd_name(512));
    STRCMP_EQUAL("none", arphrd_name(0xfffe));
}

TEST(LinkKind, Refused)
{
    const uint16_t other[] = {6,      // IEEE802 (token ring framing)
                              24,     // IEEE1394
                              32,     // INFINIBAND
                              280,    // CAN
                              801,    // IEEE80211
                              803,    // IEEE80211_RADIOTAP
                              804,    // IEEE802154
                              824,    // NETLINK (nlmon)
                              0xffff};
    for (uint16_t t : other) CHECK(link_kind_for_arphrd(t) == LinkKind::unsupported);
    STRCMP_EQUAL("ieee802.15.4", arphrd_name(804));
    STRCMP_EQUAL("unknown", arphrd_name(0xffff));
}
