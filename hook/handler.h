// Persistent handlers (`"persistent": true`): a pool of long-running programs, each fed one
// record per event on its stdin and answering one "exit N" line per record on its stdout.
// Independent of Kea so it can be tested on its own (tests/unit/test_handler.py through
// tests/support/handler_driver.cc tests each guarantee below).
//
// Protocol (byte exact, see docs/hook.md and protocol.h): records on fd 0, one reply per
// record, in order, on fd 1. Any other line on fd 1 is outside the protocol and logged (a malformed "exit" line is a
// PROTOCOL event and counts as the reply); fd 2's lines are logged.
//
// What it guarantees:
// - Each handler is started by start_program (launcher.h): only fds 0-2 (0 = one end of a UNIX
//   stream socket pair, so that writing to a handler that died raises no SIGPIPE in Kea;
//   1 and 2 = pipes), default signal dispositions, empty mask, its own process group,
//   argv = [base name], environment = the entry's `environment` only.
// - call() (wait: true) returns within 2 x timeout_ms plus the time to SIGKILL a process
//   group, whatever the handler does: it waits at most timeout_ms for a worker's lock (else
//   BUSY: other events held every worker, nobody is killed), then the kill clock starts when
//   the record is written: a handler that takes longer than timeout_ms to take it and reply
//   has its group killed and is restarted (TIMED_OUT). So a handler is only killed for its own
//   slowness, never for time other threads spent before it. A worker without a running
//   handler fails at once (HANDLER_DOWN). Nothing is allocated.
// - post() (wait: false) never blocks beyond one short mutex (O(1) work under it): the record
//   goes to its worker's bounded queue, or is dropped and counted (LIMIT) when the queue is
//   full. A parking pool (`park: true`) answers every posted record exactly once, within
//   timeout_ms of its writing (else the handler is killed), or at its end, or at the stop. Records of one worker are written in order. A handler that accepts no byte of a
//   pending record for timeout_ms is killed and restarted. Drops are reported at most once per
//   second per worker, with the count.
// - Worker choice: call() takes an idle running worker, preferring `key % workers`, else waits
//   (bounded) for that one; post() always uses `key % workers`: events with one key stay in
//   order.
// - A handler that exits is reaped, reported (EXITED), and restarted (RESTART) after 0 s, then
//   0.1 s doubling up to 10 s; the delay starts again at 0 once a handler has run 10 s.
// - Output (fd 2 lines, out-of-protocol fd 1 lines) is read at most Limits-like read_bytes per
//   wake-up; at most max_lines lines per worker per second are reported, then one line saying
//   how many were dropped. Memory does not grow with what handlers write.
// - The pool's thread (named runscript-hdl) runs with every signal blocked: Kea's signal
//   handlers never run there.
// - The destructor is bounded by drain_ms plus the time SIGKILLed processes take to end: the
//   queued records get written, each handler's stdin is closed once its queue is empty, those
//   still running at drain_ms have their process groups SIGKILLed, all are reaped (no zombie).

#ifndef RUNSCRIPT_HANDLER_H
#define RUNSCRIPT_HANDLER_H

#include "launcher.h"
#include "protocol.h"

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace runscript {

// A mutex whose lock can wait until a deadline, as std::timed_mutex. Made of std::mutex and
// std::condition_variable so that ThreadSanitizer sees it: its runtime (GCC 12, clang 14) does
// not intercept pthread_mutex_clocklock, through which std::timed_mutex waits, and reported
// every unlock after such a wait as the unlock of an unlocked mutex (`nox -s tsan`).
class DeadlineMutex {
public:
    void lock() {
        std::unique_lock<std::mutex> guard(m_);
        free_.wait(guard, [this] { return !held_; });
        held_ = true;
    }
    bool try_lock() {
        std::lock_guard<std::mutex> guard(m_);
        if (held_) return false;
        held_ = true;
        return true;
    }
    template <class Clock, class Duration>
    bool try_lock_until(const std::chrono::time_point<Clock, Duration>& deadline) {
        std::unique_lock<std::mutex> guard(m_);
        if (!free_.wait_until(guard, deadline, [this] { return !held_; })) return false;
        held_ = true;
        return true;
    }
    void unlock() {
        {
            std::lock_guard<std::mutex> guard(m_);
            held_ = false;
        }
        free_.notify_one();
    }

private:
    std::mutex m_;
    std::condition_variable free_;
    bool held_ = false;
};

struct HandlerSettings {
    std::string path;                // absolute path of the program
    std::string name;                // argv[0]
    std::vector<std::string> env;    // its whole environment, NAME=value
    std::size_t workers = 1;
    bool wait = true;                // call() (true) or post() (false)
    std::size_t queue = 1024;        // post(): records waiting per worker
    int timeout_ms = 10000;          // <= 0: none
    std::size_t max_lines = 100;     // output lines reported per worker per second
    std::size_t read_bytes = 64 * 1024;  // output read per worker per wake-up
    int drain_ms = 2000;             // at stop
    bool park = false;               // post() with a Completion: replies are matched to records
};

// What the pool reports (from its thread, or from a call()'s thread for TIMEOUT, OUTPUT and
// PROTOCOL lines read during a call). The sink must not call back into the pool.
struct HandlerEvent {
    enum Kind {
        STARTED,     // pid = the handler
        EXITED,      // text = how ("exit status 3", "killed by signal 9", "could not start: ...");
                     // value = 1 when the pool is stopping (the end was asked for)
        RESTART,     // value = delay in ms
        TIMEOUT,     // text = hook point, value = ms; the handler was killed
        BUSY,        // text = hook point, value = ms waited for a worker (nobody killed)
        QUEUE_FULL,  // value = records dropped since the last report
        OUTPUT,      // text = a line of fd 2, or of fd 1 outside the protocol
        PROTOCOL     // text = what was wrong
    } kind;
    std::size_t worker;
    pid_t pid;
    long long value;
    std::string text;
};
typedef std::function<void(const HandlerEvent&)> HandlerSink;

class HandlerPool {
public:
    // Starts every worker's handler. A handler that cannot be started counts as one that
    // exited (restarted with backoff); throws std::runtime_error only when none could start.
    HandlerPool(const HandlerSettings& settings, HandlerSink sink);
    ~HandlerPool();  // bounded, see above

    HandlerPool(const HandlerPool&) = delete;
    HandlerPool& operator=(const HandlerPool&) = delete;

    // wait: true. One round trip: EXITED (code = the reply's), TIMED_OUT, BUSY, HANDLER_DOWN
    // (no running handler, or it ended before replying), UNKNOWN (a malformed reply).
    Outcome call(std::size_t key, const char* point, const std::vector<std::string>& vars);

    // wait: false. STARTED (queued) or LIMIT (queue full: dropped, code = drops so far).
    // park (settings): `done` gets the record's answer once, from the pool's thread: EXITED
    // (the reply's code), UNKNOWN (malformed reply), TIMED_OUT (no reply within timeout_ms of
    // its writing: the handler is killed), HANDLER_DOWN (the handler ended first, or the stop
    // came before the record was answered); never when post() returns LIMIT.
    Outcome post(std::size_t key, std::string&& record, Completion done = Completion());

    // "load" / "unload" records (no variables), to every worker in turn, each a round trip
    // bounded by timeout_ms and by `cap` (monotonic ms, 0: none; at unload, the drain's end),
    // an asynchronous pool's queue written first. After "unload" no handler is restarted.
    // Returns the first outcome that is not EXITED 0, else EXITED 0.
    Outcome lifecycle(const char* point, long long cap = 0);

    // Unload: the stop begins now and ends by `deadline` (monotonic ms): queued records
    // written, stdins closed, then what still runs is killed. The destructor waits for it
    // (without begin_stop, it begins one with drain_ms itself).
    void begin_stop(long long deadline);

    std::size_t workers() const { return workers_.size(); }
    // Records dropped (queue full) since start.
    unsigned long long dropped() const { return dropped_.load(); }
    // Running handlers' pids (tests).
    std::vector<pid_t> pids() const;

    struct Worker;

private:
    struct PollSet;

    // handler_pool.cc: workers' lives, output reporting, the stop.
    bool start(Worker& w);
    void handle_exit(Worker& w, int result, int status);
    void report(const HandlerEvent& e) const;
    void report_line(Worker& w, const std::string& line,
                     HandlerEvent::Kind kind = HandlerEvent::OUTPUT);
    bool reply_of(Worker& w, const std::string& line, Outcome* reply);
    bool take_line(Worker& w, const std::string& line, Outcome* reply);
    void end_window(Worker& w, long long now);
    long long flush_output(Worker& w, long long now);
    void stop_all();
    void release_all();
    // handler_call.cc: a synchronous round trip.
    Outcome round_trip(Worker& w, const char* point, const std::vector<std::string>* vars,
                       long long deadline, int budget_ms);
    bool send_record(Worker& w, const char* point, const std::vector<std::string>* vars,
                     long long deadline, Outcome* failure);
    bool await_reply(Worker& w, long long deadline, Outcome* o);
    // handler_queue.cc: the asynchronous queue.
    void read_stdout(Worker& w);
    bool write_queued(Worker& w, long long now);
    void answer_parked(Worker& w, const Outcome& o);
    void fail_parked(Worker& w, bool queued_too);
    // handler_monitor.cc: the pool's thread.
    void monitor_loop();
    long long poll_set(PollSet& set, long long now, bool stopping);
    void linger_or_not();
    void mark_ready(const PollSet& set);
    long long look_at(Worker& w, long long now, bool stopping);
    void read_stderr(Worker& w, long long now);
    void exchange(Worker& w, long long now, bool stopping);
    void check_exit(Worker& w, long long now);

    const HandlerSettings settings_;
    HandlerSink sink_;
    std::vector<std::unique_ptr<Worker> > workers_;
    std::vector<char*> envp_;        // into settings_.env
    char* argv_[2];
    std::atomic<unsigned long long> dropped_;
    std::atomic<bool> stopping_;
    std::atomic<bool> unloading_;           // the unload record went out: no more restarts
    std::atomic<long long> stop_deadline_;  // monotonic ms, set before stopping_
    // The pool's thread wrote records at its last look and looks again within QUEUE_LINGER_US
    // without being woken (wait: false without park: no query waits for a record's reply).
    std::atomic<bool> lingering_;
    bool wrote_records_;  // the pool's thread's own: write_queued() wrote at this look
    int wake_fd_;
    std::thread monitor_;
};

}  // namespace runscript

#endif
