// A synchronous call (handler.h, wait: true) and the lifecycle records: one round trip with
// one worker, under its io lock, bounded by the timeout.

#include "handler.h"
#include "fd.h"
#include "handler_worker.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

namespace runscript {

Outcome HandlerPool::call(std::size_t key, const char* point,
                          const std::vector<std::string>& vars) {
    const std::size_t n = workers_.size();
    const std::size_t first = key % n;
    Worker* w = 0;
    for (std::size_t i = 0; i < n && !w; ++i) {
        Worker& c = *workers_[(first + i) % n];
        if (c.alive.load(std::memory_order_acquire) && c.io.try_lock()) w = &c;
    }
    if (!w) {
        Worker& c = *workers_[first];
        if (!c.alive.load(std::memory_order_acquire)) {
            return Outcome{Outcome::HANDLER_DOWN, 0, -1};
        }
        if (settings_.timeout_ms > 0) {
            if (!c.io.try_lock_until(std::chrono::steady_clock::now() +
                                     std::chrono::milliseconds(settings_.timeout_ms))) {
                report(HandlerEvent{HandlerEvent::BUSY, c.index, c.pid.load(),
                                    settings_.timeout_ms, point});
                return Outcome{Outcome::BUSY, 0, c.pid.load()};
            }
        } else {
            c.io.lock();
        }
        w = &c;
    }
    std::lock_guard<DeadlineMutex> lock(w->io, std::adopt_lock);
    // The kill clock starts here, with the record's first byte: the time this thread waited
    // for the lock was other events' (issue 20: counting it killed healthy handlers).
    const long long deadline =
        settings_.timeout_ms > 0 ? monotonic_ms() + settings_.timeout_ms : 0;
    return round_trip(*w, point, &vars, deadline, settings_.timeout_ms);
}

// With w.io held. vars null: a lifecycle record (no variables). budget_ms: the time the
// handler had until `deadline`, as the timeout message says it.
Outcome HandlerPool::round_trip(Worker& w, const char* point,
                                const std::vector<std::string>* vars, long long deadline,
                                int budget_ms) {
    const pid_t pid = w.pid.load();
    if (!w.alive.load(std::memory_order_acquire) || w.in_fd < 0 || w.in_closed) {
        return Outcome{Outcome::HANDLER_DOWN, 0, -1};
    }
    Outcome o = Outcome{Outcome::HANDLER_DOWN, 0, pid};
    if (!send_record(w, point, vars, deadline, &o) || !await_reply(w, deadline, &o)) {
        {
            std::lock_guard<std::mutex> plock(w.proc_mutex);
            if (w.proc.pid > 0) kill_program(w.proc);
        }
        w.alive = false;
        wake(wake_fd_);
        if (o.kind == Outcome::TIMED_OUT) {
            report(HandlerEvent{HandlerEvent::TIMEOUT, w.index, pid, budget_ms, point});
        }
    }
    return o;
}

namespace {

// Waits until fd is ready for `events` or `deadline` passes; false (*failure set) when it has
// passed or poll fails.
bool ready_by(int fd, short events, long long deadline, Outcome* failure) {
    struct pollfd p = {fd, events, 0};
    const long long wait = remaining(deadline);
    if (wait == 0) {
        failure->kind = Outcome::TIMED_OUT;
        return false;
    }
    if (poll(&p, 1, static_cast<int>(std::min<long long>(wait, INT_MAX))) < 0 && errno != EINTR) {
        failure->kind = Outcome::HANDLER_DOWN;
        return false;
    }
    return true;
}

// Drops the `sent` bytes written from the front of iov[0..*left).
void advance(struct iovec*& at, std::size_t& left, std::size_t sent) {
    while (left > 0 && sent >= at->iov_len) {
        sent -= at->iov_len;
        ++at;
        --left;
    }
    if (left > 0) {
        at->iov_base = static_cast<char*>(at->iov_base) + sent;
        at->iov_len -= sent;
    }
}

}  // namespace

// The record, straight from the caller's strings (each std::string is NUL-terminated in
// memory, so the NUL after each field is written with it): no copy, no allocation. False when
// the handler is gone (HANDLER_DOWN) or did not take it by `deadline` (TIMED_OUT).
bool HandlerPool::send_record(Worker& w, const char* point, const std::vector<std::string>* vars,
                              long long deadline, Outcome* failure) {
    static const char END = '\0';
    const std::size_t nvars = vars ? vars->size() : 0;
    std::size_t next_var = 0;
    bool point_sent = false;
    for (;;) {
        struct iovec iov[IOV_CHUNK];
        std::size_t count = 0;
        if (!point_sent) iov[count++] = iovec{const_cast<char*>(point), std::strlen(point) + 1};
        std::size_t chunk_vars = 0;
        while (count < IOV_CHUNK - 1 && next_var + chunk_vars < nvars) {
            const std::string& v = (*vars)[next_var + chunk_vars++];
            iov[count++] = iovec{const_cast<char*>(v.c_str()), field_length(v) + 1};  // as handler_record()
        }
        const bool last = next_var + chunk_vars == nvars;
        if (last) iov[count++] = iovec{const_cast<char*>(&END), 1};
        struct iovec* at = iov;
        std::size_t left = count;
        while (left > 0) {
            struct msghdr msg;
            std::memset(&msg, 0, sizeof(msg));
            msg.msg_iov = at;
            msg.msg_iovlen = left;
            const ssize_t sent = sendmsg(w.in_fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (sent >= 0) {
                advance(at, left, static_cast<std::size_t>(sent));
            } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (!ready_by(w.in_fd, POLLOUT, deadline, failure)) return false;
            } else if (errno != EINTR) {
                return false;  // it closed its stdin or ended: HANDLER_DOWN
            }
        }
        point_sent = true;
        next_var += chunk_vars;
        if (last) break;
    }
    ++w.outstanding;
    return true;
}

// Replies: earlier records' first (an asynchronous pool's), then ours, in *o. Lines that are
// not replies are output, logged; a malformed reply is reported and answers its record;
// whatever follows ours in what was read is output. False when the handler ended or closed
// its stdout first (HANDLER_DOWN), or did not answer by `deadline` (TIMED_OUT).
bool HandlerPool::await_reply(Worker& w, long long deadline, Outcome* o) {
    // A reply that comes within REPLY_SPIN_US is read without sleeping: asleep in poll(), this
    // thread (Kea's) would be woken by the reply, a context switch and an interrupt to its CPU
    // per record, which the bench measured as the larger part of a record's round trip.
    const std::chrono::steady_clock::time_point spin_end =
        std::chrono::steady_clock::now() + std::chrono::microseconds(REPLY_SPIN_US);
    bool spinning = true;
    for (;;) {
        const bool open = w.out_lines.read_from(w.out_fd, REPLY_CHUNK, w.read);
        bool ours = false;
        for (const std::string& line : w.read) {
            if (ours) {
                report_line(w, line);
                continue;
            }
            ours = take_line(w, line, o);
        }
        w.read.clear();
        if (ours) return true;
        if (!open) return false;  // it closed stdout, or ended: HANDLER_DOWN
        if (spinning && std::chrono::steady_clock::now() < spin_end) continue;
        spinning = false;
        if (!ready_by(w.out_fd, POLLIN, deadline, o)) return false;
    }
}

// cap (0: none): no record waits past it, whatever `timeout` says (unload: the drain's end).
Outcome HandlerPool::lifecycle(const char* point, long long cap) {
    // The unload record is a handler's last: one killed for not answering it stays down.
    if (std::strcmp(point, "unload") == 0) unloading_ = true;
    Outcome first_failure = Outcome{Outcome::EXITED, 0, -1};
    for (auto& wp : workers_) {
        Worker& w = *wp;
        const long long started = monotonic_ms();
        long long deadline = settings_.timeout_ms > 0 ? started + settings_.timeout_ms : 0;
        if (cap > 0 && (deadline == 0 || cap < deadline)) deadline = cap;
        // The timeout, or what was left of the drain when this worker's turn came.
        const int budget_ms = static_cast<int>(std::max(0LL, deadline - started));
        // An asynchronous pool's queued records go first.
        for (;;) {
            {
                std::lock_guard<std::mutex> lock(w.queue_mutex);
                if (w.count == 0) {
                    std::unique_lock<DeadlineMutex> io(w.io, std::try_to_lock);
                    if (io.owns_lock() && w.sending_at == w.sending.size()) break;
                }
            }
            if (!w.alive || (deadline && monotonic_ms() >= deadline)) break;
            wake(wake_fd_);
            usleep(1000);
        }
        Outcome o = Outcome{Outcome::HANDLER_DOWN, 0, -1};
        if (w.alive) {
            bool locked = true;
            if (deadline) {
                locked = w.io.try_lock_until(std::chrono::steady_clock::now() +
                                             std::chrono::milliseconds(remaining(deadline)));
            } else {
                w.io.lock();
            }
            if (locked) {
                std::lock_guard<DeadlineMutex> lock(w.io, std::adopt_lock);
                o = round_trip(w, point, 0, deadline, budget_ms);
            } else {
                o = Outcome{Outcome::TIMED_OUT, 0, w.pid.load()};
            }
        }
        if (first_failure.kind == Outcome::EXITED && first_failure.code == 0 &&
            !(o.kind == Outcome::EXITED && o.code == 0)) {
            first_failure = o;
        }
    }
    return first_failure;
}

}  // namespace runscript
