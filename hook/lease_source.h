// The Kea-typed side of the lease replay (replay.h): included by the callouts of the replay
// events (callouts.cc), for a Kea that pages its lease database (1.5 and later).

#ifndef RUNSCRIPT_LEASE_SOURCE_H
#define RUNSCRIPT_LEASE_SOURCE_H

#include "replay.h"

#include <asiolink/io_address.h>
#include <cc/data.h>
#include <dhcpsrv/lease.h>
#include <dhcpsrv/lease_mgr.h>
#include <dhcpsrv/lease_mgr_factory.h>
#include <hooks/callout_handle.h>

#include <memory>
#include <string>

namespace runscript {

inline isc::dhcp::Lease4Collection lease_page(const isc::asiolink::IOAddress& after,
                                              std::size_t page, const isc::dhcp::Lease4Ptr&) {
    return isc::dhcp::LeaseMgrFactory::instance().getLeases4(after, isc::dhcp::LeasePageSize(page));
}

inline isc::dhcp::Lease6Collection lease_page(const isc::asiolink::IOAddress& after,
                                              std::size_t page, const isc::dhcp::Lease6Ptr&) {
    return isc::dhcp::LeaseMgrFactory::instance().getLeases6(after, isc::dhcp::LeasePageSize(page));
}

// Which lease database the configuration being applied opens: its `lease-database` as
// configured (dhcp4/6_srv_configured's json_config is the Dhcp4 / Dhcp6 map).
inline std::string lease_database(isc::hooks::CalloutHandle& handle) {
    isc::data::ConstElementPtr config;
    handle.getArgument("json_config", config);
    isc::data::ConstElementPtr db = config ? config->get("lease-database") : config;
    return db ? db->str() : std::string("(Kea's default)");
}

// Lease: Lease4Ptr or Lease6Ptr; Emit: the catalogue's variables of the lease (callouts.cc).
template <class Lease>
class KeaLeaseSource : public LeaseSource {
public:
    typedef void (*Emit)(Environment&, const Lease&);
    KeaLeaseSource(int family, Emit emit)
        : after_(family == 4 ? "0.0.0.0" : "::"), emit_(emit) {}

    bool fetch(std::size_t page) override {
        leases_ = lease_page(after_, page, Lease());
        if (!leases_.empty()) after_ = leases_.back()->addr_;
        return leases_.size() == page;
    }
    std::size_t size() const override { return leases_.size(); }
    bool active(std::size_t i) const override {
        return leases_[i]->state_ == isc::dhcp::Lease::STATE_DEFAULT && !leases_[i]->expired();
    }
    void emit(std::size_t i, Environment& env) const override { emit_(env, leases_[i]); }

private:
    isc::asiolink::IOAddress after_;
    std::vector<Lease> leases_;
    Emit emit_;
};

}  // namespace runscript

#endif
