#include "parking.h"
#include "fd.h"
#include "logger.h"

#include <dhcp/iface_mgr.h>

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <stdexcept>

namespace runscript {

namespace {

// IfaceMgr's socket callback took no argument before Kea 1.8 and takes the fd since: this
// fits both.
struct Wake {
    Resumer* resumer;
    void operator()() const { resumer->resume_ready(); }
    void operator()(int) const { resumer->resume_ready(); }
};

}  // namespace

Resumer::Resumer() : fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (fd_ < 0) {
        throw std::runtime_error(std::string("park: cannot create an eventfd: ") + strerror(errno));
    }
    try {
        isc::dhcp::IfaceMgr::instance().addExternalSocket(fd_, Wake{this});
    } catch (...) {
        close(fd_);
        throw;
    }
}

Resumer::~Resumer() {
    try {
        isc::dhcp::IfaceMgr::instance().deleteExternalSocket(fd_);
    } catch (...) {
    }
    resume_ready();
    close(fd_);
}

void Resumer::push(const std::shared_ptr<ParkedRuns>& runs) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        ready_.push_back(runs);
    }
    wake(fd_);
}

void Resumer::resume_ready() {
    drain_wake(fd_);
    taking_.clear();
    {
        std::lock_guard<std::mutex> lock(mutex_);
        taking_.swap(ready_);
    }
    for (const std::shared_ptr<ParkedRuns>& runs : taking_) {
        const bool drop = runs->verdict.load() == STEP_DROP;
        try {
            LOG_DEBUG(logger, isc::log::DBGLVL_TRACE_BASIC, RUNSCRIPT_PARK_RESUMED)
                .arg(runs->query->label()).arg(runs->point).arg(drop ? "dropped" : "unparked");
            if (!runs->query->resume(drop)) {
                LOG_WARN(logger, RUNSCRIPT_PARK_LOST).arg(runs->query->label()).arg(runs->point)
                    .arg("Kea no longer holds it");
            }
        } catch (const std::exception& e) {
            // Kea cleared its parking lots (a reconfiguration): the query is gone already.
            try {
                LOG_WARN(logger, RUNSCRIPT_PARK_LOST).arg(runs->query->label()).arg(runs->point)
                    .arg(e.what());
            } catch (...) {
            }
        } catch (...) {
        }
    }
    taking_.clear();
}

}  // namespace runscript
