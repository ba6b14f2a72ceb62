// The Launcher (launcher.h): synchronous runs, asynchronous slots and their reaper thread, the
// bounded stop. How a script is started is spawn_script.h's; how it is killed and reaped,
// processes.h's; launch memory, launch_memory.h's; a synchronous wait, sync_wait.h's.

#include "launcher.h"
#include "fd.h"
#include "launch_memory.h"
#include "pidfd.h"
#include "processes.h"
#include "signals_blocked.h"
#include "spawn_script.h"
#include "supervisor.h"
#include "sync_wait.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

#include <algorithm>
#include <climits>
#include <new>
#include <utility>

namespace runscript {

namespace {

Limits with_max_async(std::size_t max_async) {
    Limits limits;
    limits.max_async = max_async;
    return limits;
}

// A read budget of 0 would never read (and spin): at least one pipe buffer's page.
Limits usable(Limits limits) {
    limits.read_bytes = std::max<std::size_t>(limits.read_bytes, 4096);
    limits.drain_ms = std::max(limits.drain_ms, 0);
    return limits;
}

// How soon a kill is tried again when a supervisor is about to start the script (kill_script).
const int KILL_RETRY_MS = 2;

}  // namespace

// The reaper's poll set for one wake-up (see wait_for_children).
struct Launcher::PollSet {
    std::vector<struct pollfd> fds;
    std::vector<std::pair<std::size_t, std::size_t> > at;
};

Launcher::Launcher(std::size_t max_async, EventSink sink, LineSink lines)
    : Launcher(with_max_async(max_async), sink, lines) {}

Launcher::Launcher(const Limits& limits, EventSink sink, LineSink lines)
    : max_async_(limits.max_async), limits_(usable(limits)), sink_(sink), lines_(lines), slots_(0),
      wake_fd_(-1), stopping_(false), supervised_(RUNSCRIPT_SUPERVISED && pidfds_usable()) {
    if (max_async_ == 0) return;
    // No allocation after a script is started (run()): room for every slot, now.
    incoming_.reserve(max_async_);
#ifdef __linux__
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
#endif
    // The reaper starts with every signal blocked, as Kea's own threads block SIGCHLD, SIGINT,
    // SIGHUP and SIGTERM: Kea's handlers must not run there.
    try {
        SignalsBlocked blocked;
        reaper_ = std::thread(&Launcher::reaper_loop, this);
    } catch (...) {
        if (wake_fd_ >= 0) close(wake_fd_);
        throw;
    }
    pthread_setname_np(reaper_.native_handle(), "runscript-reap");
}

void Launcher::begin_stop(long long deadline) {
    if (stopping_.load()) return;
    stop_deadline_ = deadline;
    stopping_ = true;
    wake(wake_fd_);
}

Launcher::~Launcher() {
    if (reaper_.joinable()) {
        begin_stop(monotonic_ms() + limits_.drain_ms);
        reaper_.join();
    }
    if (wake_fd_ >= 0) close(wake_fd_);
    drop_free_mappings();
}

// The reaper's report of refused runs (refusals.h), when due or `all`; returns when the next
// one is due (0: none waits).
long long Launcher::report_refusals(long long now, bool all) {
    Refusals::Report r;
    long long due = 0;
    if (refusals_.take(now, all, &r, &due)) {
        report(AsyncEvent{AsyncEvent::LIMITED, r.script, static_cast<pid_t>(max_async_),
                          static_cast<int>(std::min<unsigned long long>(r.runs, INT_MAX)), r.point});
    }
    return due;
}

std::size_t Launcher::running_async() const {
    return slots_.load();
}

Process Launcher::spawn(const char* path, char* const argv[], char* const envp[], int out_fd) {
    const Stdio io = {-1, out_fd, out_fd};
#if RUNSCRIPT_SUPERVISED
    if (supervised_.load(std::memory_order_relaxed)) {
        bool refused;
        Process p = spawn_supervised(path, argv, envp, io, true, &refused);
        if (!refused) return p;
        supervised_ = false;  // nothing ran: plain from now on
    }
#endif
    return spawn_plain(path, argv, envp, io);
}

Outcome Launcher::run(const char* path, char* const argv[], char* const envp[], bool wait,
                      int timeout_ms, bool capture, Completion done) {
    const long long deadline = timeout_ms > 0 ? monotonic_ms() + timeout_ms : 0;
    Child child;
    if (!wait) {
        std::size_t used = slots_.load();
        do {
            if (!reaper_.joinable() || used >= max_async_) {
                if (refusals_.count(path, argv[0] ? argv[1] : 0)) {
                    // the first of a series: reported at once (no reaper: no series either)
                    if (reaper_.joinable()) wake(wake_fd_);
                    else report_refusals(monotonic_ms(), true);
                }
                return Outcome{Outcome::LIMIT, static_cast<int>(used), -1};
            }
        } while (!slots_.compare_exchange_weak(used, used + 1));
        // What allocates comes before the spawn: after it, a throw would lose the script.
        try {
            child.script = path;
            child.buffer = LineBuffer(limits_.max_lines);
            child.done = std::move(done);
        } catch (...) {
            --slots_;
            throw;
        }
    }
    // Both ends close-on-exec: no other process Kea starts may hold the pipe open.
    int out[2] = {-1, -1};
    if (capture) pipe_above_stdio(out);  // no pipe: the output goes to Kea's own
    // Detached in both modes: a supervised script's exec happens in its supervisor, from a
    // copy of the call, and the timeout counts from here (wait_child).
    Process proc = spawn(path, argv, envp, out[1]);
    if (out[1] >= 0) close(out[1]);
    if (out[0] >= 0) fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
    if (proc.pid < 0 && out[0] >= 0) {
        close(out[0]);
        out[0] = -1;
    }
    if (wait) {
        if (proc.pid < 0) return Outcome{Outcome::SPAWN_FAILED, static_cast<int>(-proc.pid), -1};
        const LineSink& sink = lines_;
        // Read at each line: the supervisor may not have started the script at the spawn.
        const Process& shown = proc;
        return wait_child(proc, deadline, out[0], limits_,
                          [&sink, path, &shown](const std::string& line) {
                              if (sink) sink(path, shown.script(), line);
                          });
    }
    if (proc.pid < 0) {
        --slots_;
        return Outcome{Outcome::SPAWN_FAILED, static_cast<int>(-proc.pid), -1};
    }
    // Once queued, the reaper may release the child at any time: read what we need first.
    // (-1 when the supervisor has not started the script yet: it runs on its own.)
    const pid_t script = proc.script();
    const pid_t shown = script > 0 ? script : -1;
    child.proc = proc;
    child.deadline = deadline;
    child.killed = false;
    child.out_fd = out[0];
    try {
#ifdef RUNSCRIPT_FAULT_THROW_AFTER_SPAWN
        static std::atomic<bool> thrown(false);
        if (!thrown.exchange(true)) throw std::bad_alloc();
#endif
        std::lock_guard<std::mutex> lock(mutex_);
        incoming_.push_back(std::move(child));
    } catch (...) {
        if (child.out_fd >= 0) close(child.out_fd);
        kill_and_reap(child.proc);
        --slots_;
        throw;
    }
    wake(wake_fd_);
    return Outcome{Outcome::STARTED, 0, shown};
}

// Reports without letting a sink's exception end the reaper (Kea's logger may throw).
void Launcher::deliver(const Child& c, std::vector<std::string>& lines) {
    if (lines_) {
        const pid_t pid = c.proc.script();
        for (const std::string& line : lines) {
            try {
                lines_(c.script, pid, line);
            } catch (...) {
            }
        }
    }
    lines.clear();
}

void Launcher::report(const AsyncEvent& e) {
    if (!sink_) return;
    try {
        sink_(e);
    } catch (...) {
    }
}

// The script has ended (or was never started): last output, event, slot back.
void Launcher::finished(Child& c, int result, int status, std::vector<std::string>& lines) {
    if (c.out_fd >= 0) {
        c.buffer.read_from(c.out_fd, limits_.read_bytes, lines);
        close_fd(c.out_fd);
    }
    try {
        c.buffer.flush(lines);
    } catch (...) {
        lines.clear();  // the reaper must go on: the summary line is lost, nothing else
    }
    deliver(c, lines);
    const pid_t shown = c.proc.script();
    const int err = start_error(c.proc);
    Outcome end = result > 0 ? from_status(shown, status) : Outcome{Outcome::UNKNOWN, 0, shown};
    if (err != 0) {
        report(AsyncEvent{AsyncEvent::SPAWN_FAILED, c.script, -1, err, std::string()});
        end = Outcome{Outcome::SPAWN_FAILED, err, -1};
    } else if (c.killed) {
        end = Outcome{Outcome::TIMED_OUT, 0, shown};
    } else if (end.kind == Outcome::EXITED && end.code != 0) {
        report(AsyncEvent{AsyncEvent::EXITED_NONZERO, c.script, shown, end.code, std::string()});
    } else if (end.kind == Outcome::SIGNALED) {
        report(AsyncEvent{AsyncEvent::SIGNALED, c.script, shown, end.code, std::string()});
    }
    release(c.proc);
    --slots_;
    Completion done;
    done.swap(c.done);
    if (done) done(end);  // must not throw (launcher.h)
}

// The reaper owns its children: it reads, kills and reaps without the launcher's lock, which
// guards only the hand-over of new children (incoming_). So a launch never waits for output
// being read, and what a script writes is read at most limits_.read_bytes per wake-up and
// logged at most limits_.max_lines per run: nothing queues up.
void Launcher::reaper_loop() {
    std::vector<Child> mine;
    mine.reserve(max_async_);
    PollSet set;
    set.fds.reserve(1 + 2 * max_async_);
    set.at.reserve(max_async_);
    std::vector<std::string> lines;
    long long drain_until = 0;
    for (;;) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            for (Child& c : incoming_) mine.push_back(std::move(c));
            incoming_.clear();
        }
        if (stopping_) {
            if (drain_until == 0) drain_until = std::max(stop_deadline_.load(), 1LL);
            if (mine.empty() || monotonic_ms() >= drain_until) {
                stop_all(mine, lines);
                report_refusals(monotonic_ms(), true);
                return;
            }
        }
        const long long refusals_due = report_refusals(monotonic_ms(), false);
        const long long now = wait_for_children(mine, set, drain_until, refusals_due);
        std::size_t kept = 0;
        for (std::size_t i = 0; i < mine.size(); ++i) {
            Child& c = mine[i];
            if (!look_at(c, set, i, now, lines)) continue;  // ended
            if (kept != i) mine[kept] = std::move(c);
            ++kept;
        }
        mine.resize(kept, Child());
    }
}

// The poll set: the wake-up fd, then the fds each child has open (its pidfd, its output
// unless it rests), and no others: then the set is never larger than the fds we hold, as
// poll() wants (see poll_or_look). at[i]: child i's entries, 0 when it has none. Waits until
// one is ready, a deadline, the end of a rest or of the drain, or until refused runs are due to
// be reported (refusals_due, 0: none); returns the time then.
long long Launcher::wait_for_children(const std::vector<Child>& mine, PollSet& set,
                                      long long drain_until, long long refusals_due) {
    const long long now = monotonic_ms();
    set.fds.clear();
    set.at.clear();
    auto add = [&set](int fd) {
        set.fds.push_back(pollfd{fd, POLLIN, 0});
        return set.fds.size() - 1;
    };
    add(wake_fd_);
    long long next = drain_until;
    if (refusals_due && (next == 0 || refusals_due < next)) next = refusals_due;
    bool need_polling = wake_fd_ < 0;
    for (const Child& c : mine) {
        const bool quiet = c.out_fd >= 0 && c.quiet_until > now;
        const std::size_t ended = c.proc.pidfd >= 0 ? add(c.proc.pidfd) : 0;
        const std::size_t output = c.out_fd >= 0 && !quiet ? add(c.out_fd) : 0;
        set.at.push_back(std::make_pair(ended, output));
        if (c.proc.pidfd < 0) need_polling = true;
        if (c.deadline && !c.killed && (next == 0 || c.deadline < next)) next = c.deadline;
        if (quiet && (next == 0 || c.quiet_until < next)) next = c.quiet_until;
    }
    int wait_ms = need_polling ? 10 : -1;
    if (next) {
        long long left = next - now;
        int until = left > 0 ? static_cast<int>(std::min(left, 60000LL)) : 0;
        wait_ms = wait_ms < 0 ? until : std::min(wait_ms, until);
    }
    int r = poll_or_look(set.fds.data(), set.fds.size(), wait_ms);
    if (r < 0 && errno != EINTR) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, 0);
    }
    if (wake_fd_ >= 0 && (set.fds[0].revents & POLLIN)) drain_wake(wake_fd_);
    return monotonic_ms();
}

// Child i after a wake-up: its output read, its end reaped, its deadline kept. False once it
// has ended (finished: its slot is back).
bool Launcher::look_at(Child& c, const PollSet& set, std::size_t i, long long now,
                       std::vector<std::string>& lines) {
    const short ended = set.at[i].first ? set.fds[set.at[i].first].revents : 0;
    const short output = set.at[i].second ? set.fds[set.at[i].second].revents : 0;
    if (c.out_fd >= 0 && output) {
        if (!c.buffer.read_from(c.out_fd, limits_.read_bytes, lines)) {
            close_fd(c.out_fd);
        } else if (c.buffer.discarding()) {
            c.quiet_until = now + DISCARD_INTERVAL_MS;
        }
        deliver(c, lines);
    }
    int status = 0;
    const int result = c.proc.pidfd < 0 || (ended & POLLIN) ? finish(c.proc, &status, WNOHANG) : 0;
    if (result != 0) {
        finished(c, result, status, lines);
        return false;
    }
    if (c.deadline && !c.killed && now >= c.deadline) {
        if (kill_script(c.proc)) {
            c.killed = true;
            report(AsyncEvent{AsyncEvent::TIMED_OUT, c.script, c.proc.script(), 0, std::string()});
        } else {
            c.deadline = now + KILL_RETRY_MS;
        }
    }
    return true;
}

}  // namespace runscript
