// Lease replay (`replay: true`): once Kea's configuration is in force at start, the script gets
// one event per active lease (argv[1] lease4_replay / lease6_replay), so that state it keeps
// outside Kea (routes, firewall sets) is rebuilt after a restart or a reboot.
//
// Kea's lease database is read a page at a time on Kea's main thread (with multi-threading off
// the memfile backend is not locked, and the main thread is the only one that may touch it):
// the replay thread asks for a page through an eventfd registered with Kea's IfaceMgr, as the
// Resumer does (parking.h), and waits. The events are asynchronous runs whose ends are
// counted: at most `window` run at once per script, at most `rate` start per second, none is
// dropped for want of a slot (it waits for one), and the whole replay stops at unload.

#ifndef RUNSCRIPT_REPLAY_H
#define RUNSCRIPT_REPLAY_H

#include "environment.h"
#include "launcher.h"

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace runscript {

// Kea's leases of one family, without Kea's types (lease_source.h has the Kea-typed side).
class LeaseSource {
public:
    virtual ~LeaseSource() {}
    // Kea's main thread: replaces the page held with the next (at most `page` leases, in
    // address order); false when the database has no more after it.
    virtual bool fetch(std::size_t page) = 0;
    // The replay thread, between fetches: the page held.
    virtual std::size_t size() const = 0;
    // In the default state and not expired: the leases a client holds now.
    virtual bool active(std::size_t i) const = 0;
    virtual void emit(std::size_t i, Environment& env) const = 0;
};

// One script that asked for the replay: hands it one event (its end calls `done`).
struct ReplayTarget {
    std::function<Outcome(const Environment&, Completion)> submit;
    std::size_t window;  // its runs at once
    bool completes;      // STARTED: `done` is called at the run's end (else the outcome is all)
    int retry_ms;        // how long an event waits for a slot before it counts as failed
};

// How long one replay event waits for room (max-async, a handler's queue) before it counts
// as failed, at most (the script's `timeout` when shorter); after that the script's next
// events are tried once each until one finds room.
const int REPLAY_RETRY_MS = 10000;

// Whether this process has not replayed the lease database `identity` (a reconfiguration
// that keeps it replays nothing); marks it replayed. Kea's main thread, before Kea's packet
// threads start or while they are stopped (dhcp4/6_srv_configured).
bool first_replay(int family, const std::string& identity);

class Replayer {
public:
    // Registers its eventfd with Kea's IfaceMgr (throws when it cannot); starts the thread.
    Replayer(const char* point, std::unique_ptr<LeaseSource> source,
             std::vector<ReplayTarget> targets, unsigned rate, std::size_t max_vars);
    // stop(), then unregisters (Kea's main thread).
    ~Replayer();
    Replayer(const Replayer&) = delete;
    Replayer& operator=(const Replayer&) = delete;

    // Ends the replay: no event starts after it returns (runs started end on their own
    // bounds). Bounded: the thread waits only on a condition this sets.
    void stop();

    static const std::size_t PAGE = 500;

private:
    struct Progress;
    void run();                 // the replay's thread: replay(), whatever it throws
    void replay();
    bool next_page();           // the replay thread: asks Kea's main thread, waits
    void serve();               // Kea's main thread (IfaceMgr callback)
    bool send(const Environment& env, std::size_t target);  // waits for a slot and the rate

    const char* point_;
    std::unique_ptr<LeaseSource> source_;
    std::vector<ReplayTarget> targets_;
    unsigned rate_;
    std::size_t max_vars_;
    int fd_;
    // What the thread waits on, shared with the runs' completions (which may come after the
    // Replayer is gone).
    std::shared_ptr<Progress> progress_;
    std::vector<bool> stalled_;  // per target: no room within retry_ms (the replay thread's)
    std::thread thread_;
};

}  // namespace runscript

#endif
