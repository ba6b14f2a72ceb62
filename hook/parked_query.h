// The Kea-typed side of a parked query (parking.h): included by the callouts of the hook points
// where this Kea parks queries (callouts.cc), as hooks/parking_lots.h exists from Kea 1.4 on.

#ifndef RUNSCRIPT_PARKED_QUERY_H
#define RUNSCRIPT_PARKED_QUERY_H

#include "parking.h"

#include <hooks/callout_handle.h>
#include <hooks/parking_lots.h>

#include <memory>
#include <string>

namespace runscript {

template <class Query>
class KeaParkedQuery : public ParkedQuery {
public:
    KeaParkedQuery(const isc::hooks::ParkingLotHandlePtr& lot, const Query& query)
        : lot_(lot), query_(query) {}
    void reference() override { lot_->reference(query_); }
    void dereference() override { lot_->dereference(query_); }
    bool resume(bool drop) override { return drop ? lot_->drop(query_) : lot_->unpark(query_); }
    std::string label() const override { return query_ ? query_->getLabel() : std::string("?"); }

private:
    isc::hooks::ParkingLotHandlePtr lot_;
    Query query_;
};

// The query argument of a hook point that parks ("query4" / "query6"), as a ParkedQuery.
template <class Query>
std::unique_ptr<ParkedQuery> parked_query(isc::hooks::CalloutHandle& handle, const char* argument) {
    Query query;
    handle.getArgument(argument, query);
    return std::unique_ptr<ParkedQuery>(
        new KeaParkedQuery<Query>(handle.getParkingLotHandlePtr(), query));
}

}  // namespace runscript

#endif
