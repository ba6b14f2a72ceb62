// The pool's thread (handler.h): waits for the handlers' ends, their output and, for an
// asynchronous pool, room on their stdin; writes the queue, reads replies and output, reaps,
// restarts, reports drops, and drains at stop.

#include "handler.h"
#include "fd.h"
#include "handler_worker.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>

namespace runscript {

// The poll set of one wake-up: fds, and whose each is (0 pidfd, 1 err, 2 out, 3 in).
struct HandlerPool::PollSet {
    std::vector<struct pollfd> fds;
    std::vector<std::pair<Worker*, int> > what;
};

void HandlerPool::monitor_loop() {
    long long drain_deadline = 0;
    long long next_flush = 0;  // when a window with dropped output lines ends
    // Batching of asynchronous records (lingering_): never when a parked query waits for them.
    const bool may_linger = !settings_.wait && !settings_.park;
    PollSet set;
    set.fds.reserve(workers_.size() * 4 + 1);
    set.what.reserve(workers_.size() * 4 + 1);
    for (;;) {
        long long now = monotonic_ms();
        const bool stopping = stopping_.load();
        bool act_now = false;  // the stop has just begun: close stdins before any wait
        if (stopping && !drain_deadline) {
            drain_deadline = std::max(stop_deadline_.load(), 1LL);
            act_now = true;
        }
        if (stopping) {
            bool any = false;
            for (auto& w : workers_) any = any || w->proc.pid > 0;
            if (!any) break;
            if (now >= drain_deadline) break;  // the destructor kills what is left
        }
        long long wait_ms = poll_set(set, now, stopping);
        if (next_flush) wait_ms = std::min(wait_ms, std::max(next_flush - now, 0LL));
        next_flush = 0;
        if (stopping) wait_ms = std::min(wait_ms, std::max(drain_deadline - now, 0LL));
        if (act_now) wait_ms = 0;
        int r;
        if (lingering_.load(std::memory_order_relaxed) && wait_ms > 0 && !stopping) {
            const struct timespec linger = {0, QUEUE_LINGER_US * 1000};
            r = ppoll(set.fds.data(), set.fds.size(), &linger, 0);
        } else {
            r = poll(set.fds.data(), set.fds.size(), static_cast<int>(wait_ms));
        }
        if (r < 0 && errno != EINTR) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, 0);
        }
        if (set.fds[0].revents) drain_wake(wake_fd_);
        // Asked to stop while waiting: start draining now, not one wait later.
        if (!stopping && stopping_.load()) continue;
        now = monotonic_ms();
        mark_ready(set);
        wrote_records_ = false;
        for (auto& wp : workers_) {
            const long long flush_at = look_at(*wp, now, stopping);
            if (flush_at) next_flush = next_flush ? std::min(next_flush, flush_at) : flush_at;
        }
        if (may_linger) linger_or_not();
    }
    // Leftover output of the last wake-up is not waited for; the destructor kills the rest.
}

// After a look (asynchronous pool without park): linger while records flow; stop lingering
// after a look that wrote nothing, then look at the queues once more, since a record posted
// meanwhile did not wake this thread (post() reads lingering_ after queuing: seq_cst on both
// sides and the queue's mutex make one of the two see the other).
void HandlerPool::linger_or_not() {
    if (wrote_records_) {
        lingering_.store(true);
        return;
    }
    if (!lingering_.load(std::memory_order_relaxed)) return;
    lingering_.store(false);
    for (auto& wp : workers_) {
        std::lock_guard<std::mutex> lock(wp->queue_mutex);
        if (wp->count > 0 && wp->alive.load()) {
            lingering_.store(true);  // its record is written at the next look, QUEUE_LINGER_US on
            return;
        }
    }
}

// What to wait for: the wake-up fd, each handler's pidfd, fd 2 (unless resting after dropped
// lines), and for an asynchronous pool (or at stop) fd 1 and room on fd 0. Returns how long
// the wait may be: the next exit check without a pidfd, restart, end of a rest or of a busy
// worker's turn, a pending record's timeout, drop report.
long long HandlerPool::poll_set(PollSet& set, long long now, bool stopping) {
    const bool async = !settings_.wait;
    set.fds.clear();
    set.what.clear();
    auto add = [&set](Worker* w, int fd, short events, int what) {
        set.fds.push_back(pollfd{fd, events, 0});
        set.what.push_back(std::make_pair(w, what));
    };
    long long wait_ms = 1000;
    add(0, wake_fd_, POLLIN, -1);
    for (auto& wp : workers_) {
        Worker& w = *wp;
        if (w.proc.pid > 0) {
            if (w.proc.pidfd >= 0) add(&w, w.proc.pidfd, POLLIN, 0);
            else wait_ms = std::min(wait_ms, std::max(w.next_exit_check - now, 0LL));
        } else if (!stopping) {
            wait_ms = std::min(wait_ms, std::max(w.restart_at - now, 0LL));
        }
        const bool read_later = w.next_read_at > now && w.dropping.load();
        if (read_later) wait_ms = std::min(wait_ms, w.next_read_at - now);
        if (w.err_fd >= 0 && !read_later) add(&w, w.err_fd, POLLIN, 1);
        if ((async || stopping) && w.busy_until > now) {
            wait_ms = std::min(wait_ms, w.busy_until - now);
        } else if (async || stopping) {
            // Lingering, replies are read at every look instead: nobody waits for them.
            if (w.out_fd >= 0 && async && !read_later && !lingering_.load(std::memory_order_relaxed)) {
                add(&w, w.out_fd, POLLIN, 2);
            }
            if (!w.awaiting.empty() && w.awaiting.front().by > 0 && w.alive) {
                wait_ms = std::min(wait_ms, std::max(w.awaiting.front().by - now, 0LL));
            }
            if (w.pending && w.in_fd >= 0 && !w.in_closed) {
                add(&w, w.in_fd, POLLOUT, 3);
                if (settings_.timeout_ms > 0) {
                    wait_ms = std::min(wait_ms, std::max(w.last_progress + settings_.timeout_ms - now, 0LL));
                }
            }
        }
        if (w.unreported_drops.load() > 0) {
            wait_ms = std::min(wait_ms, std::max(w.last_drop_report + DROP_REPORT_MS - now, 0LL));
        }
    }
    return wait_ms;
}

void HandlerPool::mark_ready(const PollSet& set) {
    for (std::size_t i = 1; i < set.fds.size(); ++i) {
        if (!set.fds[i].revents) continue;
        Worker& w = *set.what[i].first;
        if (set.what[i].second == 0) w.next_exit_check = 0;
        if (set.what[i].second == 1) w.err_ready = true;
        if (set.what[i].second == 2) w.out_ready = true;
    }
}

// One worker after a wake-up. Returns when its window of dropped output lines ends (0: none).
long long HandlerPool::look_at(Worker& w, long long now, bool stopping) {
    if (w.err_fd >= 0 && w.err_ready) read_stderr(w, now);
    if ((!settings_.wait || stopping) && w.busy_until <= now) {
        std::unique_lock<DeadlineMutex> io(w.io, std::try_to_lock);
        if (io.owns_lock()) {
            exchange(w, now, stopping);
        } else {
            w.busy_until = now + BUSY_RETRY_MS;  // a call() or lifecycle() has it
        }
    }
    check_exit(w, now);
    // Restart when due.
    if (!stopping && !unloading_ && w.proc.pid <= 0 && now >= w.restart_at) {
        std::unique_lock<DeadlineMutex> io(w.io, std::try_to_lock);
        if (io.owns_lock()) {
            start(w);
        } else {
            w.restart_at = now + BUSY_RETRY_MS;
        }
    }
    // The dropped-lines line of a window in which the handler went quiet.
    const long long flush_at = flush_output(w, now);
    // Drops, at most once per second per worker.
    if (w.unreported_drops.load() > 0 && now - w.last_drop_report >= DROP_REPORT_MS) {
        const unsigned long long n = w.unreported_drops.exchange(0);
        w.last_drop_report = now;
        report(HandlerEvent{HandlerEvent::QUEUE_FULL, w.index, w.pid.load(),
                            static_cast<long long>(n), ""});
    }
    return flush_at;
}

// fd 2: every line is the handler's log.
void HandlerPool::read_stderr(Worker& w, long long now) {
    w.err_ready = false;
    if (w.dropping.load()) w.next_read_at = now + DISCARD_INTERVAL_MS;
    if (!w.err_lines.read_from(w.err_fd, settings_.read_bytes, w.err_read)) {
        w.err_lines.flush(w.err_read);  // its last line, unterminated
        close_fd(w.err_fd);
        w.next_exit_check = 0;
    }
    for (const std::string& line : w.err_read) report_line(w, line);
    w.err_read.clear();
}

// With w.io held: asynchronous records and replies, and, at stop, closing stdin once the
// queue is written; a handler that takes no byte of a pending record for `timeout` is killed.
void HandlerPool::exchange(Worker& w, long long now, bool stopping) {
    const bool async = !settings_.wait;
    const bool read_anyway = lingering_.load(std::memory_order_relaxed) &&
                             !(w.dropping.load() && w.next_read_at > now);
    if (async && (w.out_ready || read_anyway)) {
        w.out_ready = false;
        if (w.dropping.load()) w.next_read_at = now + DISCARD_INTERVAL_MS;
        read_stdout(w);
    }
    if (async && w.alive) write_queued(w, now);
    if (stopping && w.in_fd >= 0 && !w.in_closed) {
        bool empty = !w.pending || !w.alive;
        if (empty) {
            std::lock_guard<std::mutex> lock(w.queue_mutex);
            empty = w.count == 0 || !w.alive;
        }
        if ((empty && w.sending_at == w.sending.size()) || !w.alive) {
            // EOF on its stdin: the handler's cue to finish and exit.
            shutdown(w.in_fd, SHUT_WR);
            w.in_closed = true;
        }
    }
    if (async && w.alive && !w.awaiting.empty() && w.awaiting.front().by > 0 &&
        now >= w.awaiting.front().by) {
        // A parked query's record had no reply in time: the handler is killed, as a
        // synchronous call's would be; the others written to it fail at its end.
        {
            std::lock_guard<std::mutex> plock(w.proc_mutex);
            if (w.proc.pid > 0) kill_program(w.proc);
        }
        w.alive = false;
        w.next_exit_check = 0;
        report(HandlerEvent{HandlerEvent::TIMEOUT, w.index, w.pid.load(), settings_.timeout_ms,
                            w.awaiting.front().record.c_str()});
        if (w.outstanding > 0) --w.outstanding;
        answer_parked(w, Outcome{Outcome::TIMED_OUT, 0, w.pid.load()});
        return;
    }
    if (async && w.alive && w.pending && settings_.timeout_ms > 0 &&
        now - w.last_progress >= settings_.timeout_ms) {
        const std::string point = w.sending_at < w.sending.size()
            ? std::string(w.sending[w.sending_at].c_str()) : std::string();
        {
            std::lock_guard<std::mutex> plock(w.proc_mutex);
            if (w.proc.pid > 0) kill_program(w.proc);
        }
        w.alive = false;
        w.next_exit_check = 0;
        report(HandlerEvent{HandlerEvent::TIMEOUT, w.index, w.pid.load(), settings_.timeout_ms,
                            point});
    }
}

// Has it ended? (Through its pidfd, or every EXIT_CHECK_MS without one.)
void HandlerPool::check_exit(Worker& w, long long now) {
    if (w.proc.pid <= 0 || now < w.next_exit_check) return;
    int status = 0;
    int result;
    {
        std::lock_guard<std::mutex> plock(w.proc_mutex);
        result = reap_program(w.proc, &status, false);
    }
    if (result != 0) {
        handle_exit(w, result, status);
    } else {
        w.next_exit_check = now + EXIT_CHECK_MS;
    }
}

}  // namespace runscript
