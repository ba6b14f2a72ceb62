// The asynchronous queue (handler.h, wait: false): post() from Kea's threads, the writing of
// queued records and the reading of their replies by the pool's thread, never blocking.

#include "handler.h"
#include "fd.h"
#include "handler_worker.h"

#include <errno.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstring>

namespace runscript {

Outcome HandlerPool::post(std::size_t key, std::string&& record, Completion done) {
    Worker& w = *workers_[key % workers_.size()];
    bool was_empty = false;
    {
        std::lock_guard<std::mutex> lock(w.queue_mutex);
        if (w.count == w.ring.size() || stopping_.load(std::memory_order_relaxed)) {
            const unsigned long long total = ++dropped_;
            const bool first = w.unreported_drops.fetch_add(1) == 0;
            if (first) wake(wake_fd_);
            return Outcome{Outcome::LIMIT, static_cast<int>(std::min<unsigned long long>(total, INT_MAX)), -1};
        }
        const std::size_t slot = (w.head + w.count) % w.ring.size();
        w.ring[slot].swap(record);
        if (settings_.park) w.ring_done[slot].swap(done);
        was_empty = w.count++ == 0;
    }
    // The pool's thread looks at the queue after every wake-up: only an empty queue's first
    // record needs to wake it, and not while it lingers (it looks again within
    // QUEUE_LINGER_US). A wake-up costs this thread, Kea's, an interrupt to another CPU: a
    // few records per exchange, each woken for, cost more than writing them in one batch.
    if (was_empty && !lingering_.load()) wake(wake_fd_);
    return Outcome{Outcome::STARTED, 0, w.pid.load()};
}

// The pool's thread, with w.io held: reads what the handler wrote on its stdout, one
// wake-up's share. Replies only count down `outstanding` (asynchronous: nobody waits for them).
void HandlerPool::read_stdout(Worker& w) {
    if (w.out_fd < 0) return;
    if (!w.out_lines.read_from(w.out_fd, settings_.read_bytes, w.read)) {
        // The handler closed its stdout, or ended: the exit check follows.
        close_fd(w.out_fd);
        w.next_exit_check = 0;
    }
    if (settings_.park) {
        // Each reply answers the oldest record written: its parked query waits for it.
        for (const std::string& line : w.read) {
            Outcome reply = Outcome{Outcome::EXITED, 0, w.pid.load()};
            if (!reply_of(w, line, &reply) || w.outstanding == 0) continue;
            --w.outstanding;
            answer_parked(w, reply);
        }
        w.read.clear();
        return;
    }
    Outcome ignored = Outcome{Outcome::EXITED, 0, -1};  // nobody waits for these replies
    for (const std::string& line : w.read) take_line(w, line, &ignored);
    w.read.clear();
}

// The pool's thread: the oldest record written gets its answer.
void HandlerPool::answer_parked(Worker& w, const Outcome& o) {
    if (w.awaiting.empty()) return;
    Completion done;
    done.swap(w.awaiting.front().done);
    w.awaiting.pop_front();
    if (!done) return;
    try {
        done(o);
    } catch (...) {
    }
}

// The handler ended (or the pool stops): every record written and not answered gets
// HANDLER_DOWN; with queued_too (the stop), every record not written yet as well.
void HandlerPool::fail_parked(Worker& w, bool queued_too) {
    if (!settings_.park) return;
    const Outcome down = Outcome{Outcome::HANDLER_DOWN, 0, -1};
    while (!w.awaiting.empty()) answer_parked(w, down);
    if (!queued_too) return;
    std::vector<Completion> left;
    for (std::size_t i = w.sending_at; i < w.sending_done.size(); ++i) {
        left.push_back(std::move(w.sending_done[i]));
    }
    w.sending_done.clear();
    {
        std::lock_guard<std::mutex> lock(w.queue_mutex);
        for (std::size_t i = 0; i < w.count; ++i) {
            left.push_back(std::move(w.ring_done[(w.head + i) % w.ring.size()]));
        }
    }
    for (Completion& done : left) {
        if (!done) continue;
        try {
            done(down);
        } catch (...) {
        }
    }
}

// The pool's thread, with w.io held: writes queued records without blocking. True when
// something was written.
bool HandlerPool::write_queued(Worker& w, long long now) {
    if (w.in_fd < 0 || w.in_closed) return false;
    bool progress = false;
    for (;;) {
        if (w.sending_at == w.sending.size()) {
            w.sending.clear();
            w.sending_done.clear();
            w.sending_at = 0;
            std::lock_guard<std::mutex> lock(w.queue_mutex);
            while (w.count > 0 && w.sending.size() < SEND_BATCH) {
                w.sending.emplace_back();
                w.sending.back().swap(w.ring[w.head]);
                if (settings_.park) {
                    w.sending_done.emplace_back();
                    w.sending_done.back().swap(w.ring_done[w.head]);
                }
                w.head = (w.head + 1) % w.ring.size();
                --w.count;
            }
        }
        if (w.sending.empty()) {
            w.pending = false;
            return progress;
        }
        if (!w.pending) {
            w.pending = true;
            w.last_progress = now;
        }
        struct iovec iov[SEND_BATCH];
        std::size_t count = 0;
        for (std::size_t i = w.sending_at; i < w.sending.size(); ++i, ++count) {
            const std::size_t skip = i == w.sending_at ? w.sent_bytes : 0;
            iov[count].iov_base = const_cast<char*>(w.sending[i].data()) + skip;
            iov[count].iov_len = w.sending[i].size() - skip;
        }
        struct msghdr msg;
        std::memset(&msg, 0, sizeof(msg));
        msg.msg_iov = iov;
        msg.msg_iovlen = count;
        const ssize_t sent = sendmsg(w.in_fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return progress;
            // Its stdin is gone: it ended or closed it. The exit check decides.
            w.in_closed = true;
            w.next_exit_check = 0;
            return progress;
        }
        progress = true;
        wrote_records_ = true;
        w.last_progress = now;
        std::size_t done = static_cast<std::size_t>(sent);
        while (done > 0 && w.sending_at < w.sending.size()) {
            const std::size_t left = w.sending[w.sending_at].size() - w.sent_bytes;
            if (done >= left) {
                done -= left;
                if (settings_.park) {
                    const long long by = settings_.timeout_ms > 0 ? now + settings_.timeout_ms : 0;
                    w.awaiting.push_back(Worker::Awaiting{std::move(w.sending_done[w.sending_at]), by,
                                                          std::move(w.sending[w.sending_at])});
                }
                w.sending[w.sending_at].clear();
                ++w.sending_at;
                w.sent_bytes = 0;
                ++w.outstanding;
            } else {
                w.sent_bytes += done;
                done = 0;
            }
        }
    }
}

}  // namespace runscript
