// Parked queries (`park: true`): the callout parks the query in its hook point's parking lot,
// the scripts run without any Kea thread waiting for them, and once the last of them has ended
// their exit codes (`exit-codes`) and failures (`on-failure`) decide: the query goes on
// (unparked: Kea answers it) or is dropped.
//
// Runs end on the launcher's reaper thread or a handler pool's thread. With multi-threading
// off, Kea's processing of an unparked query (the answer's pkt4_send/pkt6_send callouts and its
// sending) runs on the thread that unparks it and must be Kea's main thread; with it on, Kea
// hands it to its thread pool. So every resumption goes through Kea's main thread in both
// modes: a Resumer registers an eventfd with Kea's IfaceMgr, which wakes Kea's main loop at once
// and calls back on its thread.

#ifndef RUNSCRIPT_PARKING_H
#define RUNSCRIPT_PARKING_H

#include "parameters.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace runscript {

// A query Kea parked at a hook point, without Kea's types (made by the callout: the Kea-typed
// side is parked_query.h's, which needs a Kea with parking, 1.4 and later).
class ParkedQuery {
public:
    virtual ~ParkedQuery() {}
    // Holds the query parked (Kea counts who does); throws when Kea did not park it.
    virtual void reference() = 0;
    // Lets go of it without a decision (no run started): another library's unpark then
    // resumes it on its own.
    virtual void dereference() = 0;
    // Kea's main thread: the query goes on (unparked) or is dropped (never answered). False
    // when Kea no longer held it (its parking lots were cleared: reconfiguration, stop).
    virtual bool resume(bool drop) = 0;
    virtual std::string label() const = 0;
};

// The runs one parked query waits for, and their verdict so far (the strongest wins).
struct ParkedRuns {
    std::unique_ptr<ParkedQuery> query;
    const char* point = "";
    std::atomic<int> pending{1};  // runs not ended, plus 1 while the callout still starts them
    std::atomic<int> verdict{STEP_CONTINUE};

    void settle(NextStep step) {
        int now = verdict.load();
        while (step > now && !verdict.compare_exchange_weak(now, step)) {
        }
    }
};

class Resumer {
public:
    // Registers the eventfd with Kea's IfaceMgr (throws when it cannot).
    Resumer();
    // Resumes what is left on the calling thread (unload: Kea's main thread), unregisters.
    ~Resumer();
    Resumer(const Resumer&) = delete;
    Resumer& operator=(const Resumer&) = delete;

    // Any thread: the query's runs have all ended. O(1) under a mutex, then one eventfd write.
    void push(const std::shared_ptr<ParkedRuns>& runs);
    // Kea's main thread (the IfaceMgr callback): unparks or drops every query pushed so far.
    void resume_ready();
private:
    int fd_;
    std::mutex mutex_;
    std::vector<std::shared_ptr<ParkedRuns> > ready_;
    std::vector<std::shared_ptr<ParkedRuns> > taking_;  // resume_ready's, reused
};

}  // namespace runscript

#endif
