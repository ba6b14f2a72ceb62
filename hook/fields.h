// Extractors: one function per catalogue `field`, turning a Kea object into the text the
// script receives. They are templates over the object type so the same code serves every
// Kea version (pointer types such as Subnet4Ptr / ConstSubnet4Ptr differ by release).
// Each writes NAME=value into the environment; conditional variables are simply not added.

#ifndef RUNSCRIPT_FIELDS_H
#define RUNSCRIPT_FIELDS_H

#include "environment.h"
#include "field_text.h"

#include <dhcp/pkt4.h>
#include <dhcp/pkt6.h>
#include <dhcp/dhcp4.h>
#include <dhcp/duid.h>
#include <dhcp/option6_ia.h>
#include <dhcpsrv/lease.h>

#include <string>
#include <vector>

namespace runscript {
namespace fields {

// ---- any packet (Pkt4Ptr or Pkt6Ptr) ----

template <typename P> void pkt_type(Environment& env, const char* name, const P& p) {
    env.add(name, p->getName());
}
template <typename P> void pkt_interface(Environment& env, const char* name, const P& p) {
    env.add(name, p->getIface());
}
template <typename P> void pkt_ifindex(Environment& env, const char* name, const P& p) {
    // getIndex() is uint32_t up to Kea 1.9.10 and int from 1.9.11: let overloading pick.
    env.add(name, std::to_string(p->getIndex()));
}
template <typename P> void pkt_local_address(Environment& env, const char* name, const P& p) {
    address(env, name, p->getLocalAddr());
}
template <typename P> void pkt_local_port(Environment& env, const char* name, const P& p) {
    env.add(name, std::to_string(p->getLocalPort()));
}
template <typename P> void pkt_remote_address(Environment& env, const char* name, const P& p) {
    address(env, name, p->getRemoteAddr());
}
template <typename P> void pkt_remote_port(Environment& env, const char* name, const P& p) {
    env.add(name, std::to_string(p->getRemotePort()));
}
template <typename P> void pkt_label(Environment& env, const char* name, const P& p) {
    env.add(name, p->getLabel());
}
template <typename P> void pkt_transid(Environment& env, const char* name, const P& p) {
    env.add(name, std::to_string(p->getTransid()));
}
template <typename P> void pkt_debug(Environment& env, const char* name, const P& p) {
    env.add(name, p->toText());
}

// ---- DHCPv4 packet ----

template <typename P> void pkt4_hwaddr(Environment& env, const char* name, const P& p) {
    hwaddr_text(env, name, p->getHWAddr());
}
template <typename P> void pkt4_hwaddr_type(Environment& env, const char* name, const P& p) {
    hwaddr_type(env, name, p->getHWAddr());
}
template <typename P> void pkt4_hwaddr_source(Environment& env, const char* name, const P& p) {
    hwaddr_source(env, name, p->getHWAddr());
}
template <typename P> void pkt4_relayed(Environment& env, const char* name, const P& p) {
    put_bool(env, name, p->isRelayed());
}
template <typename P> void pkt4_hops(Environment& env, const char* name, const P& p) {
    env.add(name, std::to_string(p->getHops()));
}
template <typename P> void pkt4_option60(Environment& env, const char* name, const P& p) {
    isc::dhcp::OptionPtr opt = p->getOption(isc::dhcp::DHO_VENDOR_CLASS_IDENTIFIER);
    if (opt) {
        // Kea parses option 60 as a string option: toString() is its text (as in 1.4).
        env.add(name, opt->toString());
    }
}
template <typename P> void pkt4_ciaddr(Environment& env, const char* name, const P& p) {
    address(env, name, p->getCiaddr());
}
template <typename P> void pkt4_siaddr(Environment& env, const char* name, const P& p) {
    address(env, name, p->getSiaddr());
}
template <typename P> void pkt4_yiaddr(Environment& env, const char* name, const P& p) {
    address(env, name, p->getYiaddr());
}
template <typename P> void pkt4_giaddr(Environment& env, const char* name, const P& p) {
    address(env, name, p->getGiaddr());
}
template <typename P> void pkt4_rai(Environment& env, const char* name, const P& p) {
    isc::dhcp::OptionPtr rai = p->getOption(isc::dhcp::DHO_DHCP_AGENT_OPTIONS);
    if (rai) {
        env.add(name, rai->toHexString());
    }
}
// RFC 3046 sub-option codes; Kea's own constants changed kind across releases.
const uint16_t RAI_CIRCUIT_ID = 1;
const uint16_t RAI_REMOTE_ID = 2;

template <typename P> void rai_suboption(Environment& env, const char* name, const P& p,
                                         uint16_t code) {
    isc::dhcp::OptionPtr rai = p->getOption(isc::dhcp::DHO_DHCP_AGENT_OPTIONS);
    if (rai) {
        isc::dhcp::OptionPtr sub = rai->getOption(code);
        if (sub) {
            env.add(name, sub->toHexString());
        }
    }
}
template <typename P> void pkt4_rai_circuit_id(Environment& env, const char* name, const P& p) {
    rai_suboption(env, name, p, RAI_CIRCUIT_ID);
}
template <typename P> void pkt4_rai_remote_id(Environment& env, const char* name, const P& p) {
    rai_suboption(env, name, p, RAI_REMOTE_ID);
}

// ---- DHCPv6 packet ----

template <typename P> void pkt6_duid(Environment& env, const char* name, const P& p) {
    isc::dhcp::DuidPtr duid = p->getClientId();
    if (duid) {
        hex_pairs(env, name, duid->getDuid());  // duid->toText()
    } else {
        env.add(name, "");
    }
}
template <typename P> void pkt6_hwaddr(Environment& env, const char* name, const P& p) {
    hwaddr_text(env, name, p->getMAC(isc::dhcp::HWAddr::HWADDR_SOURCE_ANY));
}
template <typename P> void pkt6_hwaddr_type(Environment& env, const char* name, const P& p) {
    hwaddr_type(env, name, p->getMAC(isc::dhcp::HWAddr::HWADDR_SOURCE_ANY));
}
template <typename P> void pkt6_hwaddr_source(Environment& env, const char* name, const P& p) {
    hwaddr_source(env, name, p->getMAC(isc::dhcp::HWAddr::HWADDR_SOURCE_ANY));
}

// ---- subnet (may be null: no subnet selected, 1.4 then sends empty values) ----

template <typename S> void subnet_prefix(Environment& env, const char* name, const S& s) {
    if (s) {
        address(env, name, s->get().first);
    } else {
        env.add(name, "");
    }
}
template <typename S> void subnet_prefixlen(Environment& env, const char* name, const S& s) {
    env.add(name, s ? std::to_string(static_cast<unsigned>(s->get().second)) : std::string());
}
template <typename S> void subnet_text(Environment& env, const char* name, const S& s) {
    if (s) {  // s->toText()
        address(env, name, s->get().first);
        env.append("/" + std::to_string(static_cast<unsigned>(s->get().second)));
    } else {
        env.add(name, "");
    }
}

// ---- plain callout arguments ----

inline void bool_value(Environment& env, const char* name, bool value) {
    put_bool(env, name, value);
}

// ---- leases (Lease4Ptr or Lease6Ptr) ----

template <typename L> void lease_address(Environment& env, const char* name, const L& l) {
    address(env, name, l->addr_);
}
template <typename L> void lease_state(Environment& env, const char* name, const L& l) {
    env.add(name, isc::dhcp::Lease::basicStatesToText(l->state_));
}
template <typename L> void lease_is_expired(Environment& env, const char* name, const L& l) {
    put_bool(env, name, l->expired());
}
template <typename L> void lease_hwaddr(Environment& env, const char* name, const L& l) {
    hwaddr_text(env, name, l->hwaddr_);
}
template <typename L> void lease_hostname(Environment& env, const char* name, const L& l) {
    env.add(name, l->hostname_);
}
template <typename L> void lease_cltt(Environment& env, const char* name, const L& l) {
    env.add(name, std::to_string(static_cast<long long>(l->cltt_)));
}
template <typename L> void lease_valid_lifetime(Environment& env, const char* name, const L& l) {
    env.add(name, std::to_string(l->valid_lft_));
}
template <typename L> void lease_debug(Environment& env, const char* name, const L& l) {
    env.add(name, l->toText());
}
template <typename L> void lease4_type(Environment& env, const char* name, const L&) {
    env.add(name, "V4");
}
template <typename L> void lease6_type(Environment& env, const char* name, const L& l) {
    env.add(name, isc::dhcp::Lease::typeToText(l->type_));
}
template <typename L> void lease6_delegated_prefix(Environment& env, const char* name, const L& l) {
    if (l->type_ == isc::dhcp::Lease::TYPE_PD) {
        env.add(name, l->addr_.toText() + "/" + std::to_string(static_cast<unsigned>(l->prefixlen_)));
    }
}
template <typename L> void lease6_delegated_prefixlen(Environment& env, const char* name, const L& l) {
    if (l->type_ == isc::dhcp::Lease::TYPE_PD) {
        env.add(name, std::to_string(static_cast<unsigned>(l->prefixlen_)));
    }
}
template <typename L> void lease6_duid(Environment& env, const char* name, const L& l) {
    if (l->duid_) {
        hex_pairs(env, name, l->duid_->getDuid());  // l->duid_->toText()
    } else {
        env.add(name, "");
    }
}
template <typename L> void lease6_preferred_lifetime(Environment& env, const char* name, const L& l) {
    env.add(name, std::to_string(l->preferred_lft_));
}
template <typename L> void lease6_iaid(Environment& env, const char* name, const L& l) {
    env.add(name, std::to_string(l->iaid_));
}

// ---- operator-chosen options (`options4` / `options6`), names computed at load() ----

struct OptionVariable {
    uint16_t code;
    int sub;           // -1: the option itself
    std::string name;  // "KEA_QUERY4_OPTION12=" (see the catalogue's patterns)
};

// Whether the operator listed the option whose variable is `name` ("KEA_QUERY4_OPTION60="):
// a catalogue variable of that name then gives way to the option's hex form, so that no name
// appears twice in the environment.
inline bool option_listed(const std::vector<OptionVariable>& wanted, const char* name) {
    for (const OptionVariable& o : wanted) {
        if (o.name == name) return true;
    }
    return false;
}

template <typename P>
void pkt4_options(Environment& env, const P& p, const std::vector<OptionVariable>& wanted) {
    for (const OptionVariable& o : wanted) {
        isc::dhcp::OptionPtr opt = p->getOption(o.code);
        if (opt && o.sub >= 0) opt = opt->getOption(static_cast<uint16_t>(o.sub));
        if (opt) env.add(o.name.c_str(), opt->toHexString());
    }
}

template <typename P>
void pkt6_options(Environment& env, const P& p, const std::vector<OptionVariable>& wanted) {
    for (const OptionVariable& o : wanted) {
        isc::dhcp::OptionPtr opt = p->getOption(o.code);
        if (!opt && !p->relay_info_.empty()) {
            opt = p->getAnyRelayOption(o.code, isc::dhcp::Pkt6::RELAY_SEARCH_FROM_CLIENT);
        }
        if (opt) env.add(o.name.c_str(), opt->toHexString());
    }
}

// ---- ISC's dialect only (the catalogue's `isc`): its formats where they differ from ours ----

inline void put_uint(Environment& env, const char* name, uint64_t value) {
    env.add(name, std::to_string(value));
}
inline void bool_text(Environment& env, const char* name, bool value) {
    env.add(name, value ? "true" : "false");
}
// ISC's hook prints the index as an unsigned 64-bit number (Kea's -1, "unknown", included).
template <typename P> void isc_ifindex(Environment& env, const char* name, const P& p) {
    put_uint(env, name, static_cast<uint64_t>(p->getIndex()));
}
template <typename P> void pkt4_secs(Environment& env, const char* name, const P& p) {
    put_uint(env, name, p->getSecs());
}
template <typename P> void pkt4_flags(Environment& env, const char* name, const P& p) {
    put_uint(env, name, p->getFlags());
}
template <typename P> void pkt4_relayed_text(Environment& env, const char* name, const P& p) {
    bool_text(env, name, p->isRelayed());
}
template <typename P> void pkt_local_hwaddr(Environment& env, const char* name, const P& p) {
    hwaddr_text(env, name, p->getLocalHWAddr());
}
template <typename P> void pkt_local_hwaddr_type(Environment& env, const char* name, const P& p) {
    hwaddr_type(env, name, p->getLocalHWAddr());
}
template <typename P> void pkt_remote_hwaddr(Environment& env, const char* name, const P& p) {
    hwaddr_text(env, name, p->getRemoteHWAddr());
}
template <typename P> void pkt_remote_hwaddr_type(Environment& env, const char* name, const P& p) {
    hwaddr_type(env, name, p->getRemoteHWAddr());
}
template <typename P> void pkt6_proto(Environment& env, const char* name, const P& p) {
    env.add(name, p->getProto() == isc::dhcp::Pkt6::UDP ? "UDP" : "TCP");
}
// A relay's option (RFC 8415 codes), searched from the relay closest to the client outwards;
// only the relays' options, not the client's.
template <typename P> void pkt6_relay_option(Environment& env, const char* name, const P& p,
                                             uint16_t code) {
    isc::dhcp::OptionPtr opt = p->getAnyRelayOption(code, isc::dhcp::Pkt6::RELAY_SEARCH_FROM_CLIENT);
    if (opt) env.add(name, opt->toHexString());
}
template <typename P> void pkt6_relay_interface_id(Environment& env, const char* name, const P& p) {
    pkt6_relay_option(env, name, p, 18);
}
template <typename P> void pkt6_relay_remote_id(Environment& env, const char* name, const P& p) {
    pkt6_relay_option(env, name, p, 37);
}
template <typename P> void pkt6_relay_subscriber_id(Environment& env, const char* name, const P& p) {
    pkt6_relay_option(env, name, p, 38);
}
template <typename S> void subnet_id(Environment& env, const char* name, const S& s) {
    env.add(name, s ? std::to_string(s->getID()) : std::string());
}
inline void client_id_text(Environment& env, const char* name, const isc::dhcp::ClientIdPtr& c) {
    if (c) {
        hex_pairs(env, name, c->getClientId());  // c->toText()
    } else {
        env.add(name, "");
    }
}
template <typename L> void lease_hwaddr_type(Environment& env, const char* name, const L& l) {
    hwaddr_type(env, name, l->hwaddr_);
}
// The lease class's own names (Lease4 / Lease6 may know more states than Lease's basic ones).
template <typename L> void lease_states_text(Environment& env, const char* name, const L& l) {
    env.add(name, l->statesToText(l->state_));
}
template <typename L> void lease_subnet_id(Environment& env, const char* name, const L& l) {
    put_uint(env, name, l->subnet_id_);
}
template <typename L> void lease4_client_id(Environment& env, const char* name, const L& l) {
    client_id_text(env, name, l->client_id_);
}
template <typename L> void lease6_prefixlen(Environment& env, const char* name, const L& l) {
    put_uint(env, name, l->prefixlen_);
}
template <typename I> void ia_iaid(Environment& env, const char* name, const I& ia) {
    put_uint(env, name, ia->getIAID());
}
template <typename I> void ia_type(Environment& env, const char* name, const I& ia) {
    put_uint(env, name, ia->getType());
}
template <typename I> void ia_t1(Environment& env, const char* name, const I& ia) {
    put_uint(env, name, ia->getT1());
}
template <typename I> void ia_t2(Environment& env, const char* name, const I& ia) {
    put_uint(env, name, ia->getT2());
}
template <typename A> void ioaddress_text(Environment& env, const char* name, const A& a) {
    address(env, name, a);
}

// ---- lease collections (leases4_committed / leases6_committed) ----

template <typename C> void leases_count(Environment& env, const char* name, const C& c) {
    env.add(name, std::to_string(c ? c->size() : 0));
}
template <typename C> void leases_addresses(Environment& env, const char* name, const C& c) {
    std::string text;
    if (c) {
        for (const auto& lease : *c) {
            if (!text.empty()) text += ' ';
            text += lease->addr_.toText();
        }
    }
    env.add(name, text);
}
template <typename C> void leases6_addresses(Environment& env, const char* name, const C& c) {
    std::string text;
    if (c) {
        for (const auto& lease : *c) {
            if (lease->type_ == isc::dhcp::Lease::TYPE_PD) continue;
            if (!text.empty()) text += ' ';
            text += lease->addr_.toText();
        }
    }
    env.add(name, text);
}
template <typename C> void leases6_prefixes(Environment& env, const char* name, const C& c) {
    std::string text;
    if (c) {
        for (const auto& lease : *c) {
            if (lease->type_ != isc::dhcp::Lease::TYPE_PD) continue;
            if (!text.empty()) text += ' ';
            text += lease->addr_.toText() + "/" +
                    std::to_string(static_cast<unsigned>(lease->prefixlen_));
        }
    }
    env.add(name, text);
}

}  // namespace fields
}  // namespace runscript

#endif
