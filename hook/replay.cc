#include "replay.h"
#include "fd.h"
#include "logger.h"

#include <dhcp/iface_mgr.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>

namespace runscript {

namespace {

typedef std::chrono::steady_clock Clock;

// IfaceMgr's socket callback took no argument before Kea 1.8 and takes the fd since.
struct Serve {
    std::function<void()> call;
    void operator()() const { call(); }
    void operator()(int) const { call(); }
};

// FNV-1a: the lease database's access string may hold a password, which has no business in
// the process's environment.
std::string digest(const std::string& text) {
    unsigned long long h = 14695981039346656037ULL;
    for (unsigned char c : text) {
        h ^= c;
        h *= 1099511628211ULL;
    }
    char out[17];
    snprintf(out, sizeof(out), "%016llx", h);
    return out;
}

}  // namespace

struct Replayer::Progress {
    std::mutex mutex;
    std::condition_variable changed;
    bool stopping = false;
    bool asked = false;   // the thread wants a page
    bool served = false;  // ... Kea's main thread fetched it
    bool more = false;
    std::string error;
    std::vector<std::size_t> in_flight;  // per target
    std::size_t failed = 0;              // runs that ended with a failure or a non-zero code
};

// Kea unloads and loads the library again at a reconfiguration, so nothing of ours outlives
// it but the process: its environment carries the mark (never a script's: a run gets only
// the variables the hook builds). setenv is not thread-safe, hence only from the callout of
// dhcp4/6_srv_configured, before Kea's packet threads start (or with them stopped) and while
// no thread of ours reads the environment.
bool first_replay(int family, const std::string& identity) {
    const std::string name = "KEA_RUNSCRIPT_REPLAYED" + std::to_string(family);
    const std::string mark = std::to_string(getpid()) + ":" + digest(identity);
    const char* had = getenv(name.c_str());
    if (had && mark == had) return false;
    setenv(name.c_str(), mark.c_str(), 1);
    return true;
}

Replayer::Replayer(const char* point, std::unique_ptr<LeaseSource> source,
                   std::vector<ReplayTarget> targets, unsigned rate, std::size_t max_vars)
    : point_(point), source_(std::move(source)), targets_(std::move(targets)),
      rate_(rate > 0 ? rate : 1), max_vars_(max_vars),
      fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), progress_(new Progress()) {
    if (fd_ < 0) {
        throw std::runtime_error(std::string("replay: cannot create an eventfd: ") + strerror(errno));
    }
    progress_->in_flight.assign(targets_.size(), 0);
    stalled_.assign(targets_.size(), false);
    try {
        isc::dhcp::IfaceMgr::instance().addExternalSocket(fd_, Serve{[this]() { serve(); }});
    } catch (...) {
        close(fd_);
        throw;
    }
    thread_ = std::thread([this]() { run(); });
}

Replayer::~Replayer() {
    stop();
    try {
        isc::dhcp::IfaceMgr::instance().deleteExternalSocket(fd_);
    } catch (...) {
    }
    close(fd_);
}

void Replayer::stop() {
    {
        std::lock_guard<std::mutex> lock(progress_->mutex);
        progress_->stopping = true;
    }
    progress_->changed.notify_all();
    if (thread_.joinable()) thread_.join();
}

void Replayer::serve() {
    drain_wake(fd_);
    {
        std::lock_guard<std::mutex> lock(progress_->mutex);
        if (!progress_->asked || progress_->served) return;
    }
    // The thread waits and does not touch the source until `served`.
    bool more = false;
    std::string error;
    try {
        more = source_->fetch(PAGE);
    } catch (const std::exception& e) {
        error = e.what();
    } catch (...) {
        error = "unknown exception";
    }
    {
        std::lock_guard<std::mutex> lock(progress_->mutex);
        progress_->served = true;
        progress_->more = more;
        progress_->error = error;
    }
    progress_->changed.notify_all();
}

bool Replayer::next_page() {
    std::unique_lock<std::mutex> lock(progress_->mutex);
    progress_->asked = true;
    progress_->served = false;
    lock.unlock();
    wake(fd_);
    lock.lock();
    progress_->changed.wait(lock, [this]() { return progress_->stopping || progress_->served; });
    progress_->asked = false;
    if (progress_->stopping) return false;
    const std::string error = progress_->error;
    lock.unlock();
    if (!error.empty()) {
        LOG_ERROR(logger, RUNSCRIPT_REPLAY_ERROR).arg(point_).arg(error);
        return false;
    }
    return true;
}

bool Replayer::send(const Environment& env, std::size_t target) {
    const ReplayTarget& t = targets_[target];
    const std::shared_ptr<Progress> progress = progress_;
    // A script that found no room for retry_ms is tried once per event until it takes one
    // again: a handler that cannot start costs the replay retry_ms, not retry_ms per lease.
    Clock::time_point give_up = Clock::now() + std::chrono::milliseconds(stalled_[target] ? 0 : t.retry_ms);
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(progress->mutex);
            progress->changed.wait(lock, [&]() {
                return progress->stopping || progress->in_flight[target] < t.window;
            });
            if (progress->stopping) return false;
            ++progress->in_flight[target];
        }
        Completion done = [progress, target](const Outcome& o) {
            {
                std::lock_guard<std::mutex> lock(progress->mutex);
                --progress->in_flight[target];
                if (!(o.kind == Outcome::EXITED && o.code == 0)) ++progress->failed;
            }
            progress->changed.notify_all();
        };
        const Outcome o = t.submit(env, t.completes ? std::move(done) : Completion());
        stalled_[target] = false;
        if (o.kind == Outcome::STARTED && t.completes) return true;
        {
            std::lock_guard<std::mutex> lock(progress->mutex);
            --progress->in_flight[target];
            if (o.kind == Outcome::STARTED) return true;  // queued
            if (o.kind == Outcome::EXITED) {              // answered (a synchronous handler)
                if (o.code != 0) ++progress->failed;
                return true;
            }
        }
        progress->changed.notify_all();
        // Live traffic holds the slots (max-async) or the queue: wait for room, within bounds.
        const bool room_later = o.kind == Outcome::LIMIT || o.kind == Outcome::BUSY ||
                                o.kind == Outcome::HANDLER_DOWN;
        if (!room_later || Clock::now() >= give_up) {
            stalled_[target] = room_later;
            std::lock_guard<std::mutex> lock(progress->mutex);
            ++progress->failed;
            return true;
        }
        std::unique_lock<std::mutex> lock(progress->mutex);
        progress->changed.wait_for(lock, std::chrono::milliseconds(10),
                                   [&]() { return progress->stopping; });
        if (progress->stopping) return false;
    }
}

void Replayer::run() {
    // Nothing may leave a thread of Kea's process: an exception there would end Kea.
    try {
        replay();
    } catch (const std::exception& e) {
        try {
            LOG_ERROR(logger, RUNSCRIPT_REPLAY_ERROR).arg(point_).arg(e.what());
        } catch (...) {
        }
    } catch (...) {
    }
}

void Replayer::replay() {
    const Clock::time_point start = Clock::now();
    const std::chrono::nanoseconds gap(1000000000LL / rate_);
    std::size_t sent = 0, skipped = 0;
    bool stopped = false;
    LOG_INFO(logger, RUNSCRIPT_REPLAY_STARTED).arg(point_).arg(rate_);
    for (bool more = true; more && !stopped;) {
        if (!next_page()) {
            std::lock_guard<std::mutex> lock(progress_->mutex);
            stopped = progress_->stopping;
            break;
        }
        {
            std::lock_guard<std::mutex> lock(progress_->mutex);
            more = progress_->more;
        }
        for (std::size_t i = 0; i < source_->size() && !stopped; ++i) {
            if (!source_->active(i)) {
                ++skipped;
                continue;
            }
            Environment env(max_vars_);
            source_->emit(i, env);
            {  // at most `rate` per second, from the start
                std::unique_lock<std::mutex> lock(progress_->mutex);
                progress_->changed.wait_until(lock, start + gap * sent,
                                              [this]() { return progress_->stopping; });
            }
            for (std::size_t t = 0; t < targets_.size() && !stopped; ++t) {
                stopped = !send(env, t);
            }
            ++sent;
        }
    }
    std::unique_lock<std::mutex> lock(progress_->mutex);
    if (!stopped) {  // the last runs' ends, bounded by their own timeouts
        progress_->changed.wait(lock, [this]() {
            if (progress_->stopping) return true;
            for (std::size_t n : progress_->in_flight) {
                if (n) return false;
            }
            return true;
        });
        stopped = progress_->stopping;
    }
    const double seconds =
        std::chrono::duration<double>(Clock::now() - start).count();
    char took[32];
    snprintf(took, sizeof(took), "%.1f", seconds);
    if (stopped) {
        LOG_WARN(logger, RUNSCRIPT_REPLAY_STOPPED).arg(point_).arg(sent).arg(took);
    } else {
        LOG_INFO(logger, RUNSCRIPT_REPLAY_DONE).arg(point_).arg(sent).arg(took)
            .arg(progress_->failed).arg(skipped);
    }
}

}  // namespace runscript
