// Synchronous waits (sync_wait.h).

#include "sync_wait.h"
#include "fd.h"
#include "processes.h"

#include <errno.h>
#include <poll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

namespace runscript {

namespace {

// One synchronous wait: the script's process, its output, the deadline.
class SyncWait {
public:
    SyncWait(Process& p, long long deadline, int out_fd, const Limits& limits,
             const std::function<void(const std::string&)>& on_line)
        : p_(p), deadline_(deadline), out_fd_(out_fd), limits_(limits), on_line_(on_line),
          buffer_(limits.max_lines) {}

    // Until the script has ended or is killed on time: 1 done, -1 status unknown, 0 killed
    // (timed_out()). The output read so far is delivered.
    int wait(int* status);
    // The script is gone: one wake-up's share of what it wrote (a child of it may still hold
    // the pipe: not waited for), the last line, the dropped-lines line.
    void last_output();
    void close_output() { close_fd(out_fd_); }
    bool timed_out() const { return timed_out_; }

private:
    int wait_ms(long long now, bool reading) const;
    void read_output();
    void deliver(bool check_deadline);

    Process& p_;
    const long long deadline_;
    int out_fd_;
    const Limits& limits_;
    const std::function<void(const std::string&)>& on_line_;
    LineBuffer buffer_;
    std::vector<std::string> lines_;
    long sleep_ms_ = 1;          // look-again interval when there is no pidfd
    long long quiet_until_ = 0;  // discarding: no reading before then
    bool timed_out_ = false;
};

// How long one poll may wait: for the pidfd (or the look-again interval), the end of a quiet
// interval, the deadline.
int SyncWait::wait_ms(long long now, bool reading) const {
    int wait_ms = p_.pidfd >= 0 ? -1 : static_cast<int>(sleep_ms_);
    if (out_fd_ >= 0 && !reading) {
        const int quiet = static_cast<int>(quiet_until_ - now);
        wait_ms = wait_ms < 0 ? quiet : std::min(wait_ms, quiet);
    }
    if (deadline_) {
        long long left = deadline_ - now;
        int until = left > 0 ? static_cast<int>(left) : 0;
        wait_ms = wait_ms < 0 ? until : std::min(wait_ms, until);
    }
    return wait_ms;
}

int SyncWait::wait(int* status) {
    int result = 0;
    while (result == 0) {
        struct pollfd fds[2];
        nfds_t count = 0;
        if (p_.pidfd >= 0) fds[count++] = pollfd{p_.pidfd, POLLIN, 0};
        const long long before = monotonic_ms();
        const bool reading = out_fd_ >= 0 && before >= quiet_until_;
        if (reading) fds[count++] = pollfd{out_fd_, POLLIN, 0};
        const int timeout = wait_ms(before, reading);
        int r = count ? poll(fds, count, timeout) : 0;
        if (!count) {
            struct timespec ts = {0, timeout * 1000000L};
            nanosleep(&ts, 0);
        }
        if (r < 0 && errno != EINTR) break;
        if (reading) read_output();
        deliver(true);
        if (p_.pidfd < 0 || (r > 0 && (fds[0].revents & POLLIN))) {
            result = finish(p_, status, WNOHANG);
            sleep_ms_ = std::min(sleep_ms_ * 2, 10L);
        }
        if (result == 0 && deadline_ && monotonic_ms() >= deadline_ && kill_script(p_)) {
            timed_out_ = true;
            break;
        }
    }
    return result;
}

void SyncWait::read_output() {
    if (!buffer_.read_from(out_fd_, limits_.read_bytes, lines_)) {
        close_fd(out_fd_);
    } else if (buffer_.discarding()) {
        quiet_until_ = monotonic_ms() + DISCARD_INTERVAL_MS;
    }
}

void SyncWait::last_output() {
    if (out_fd_ >= 0) {
        buffer_.read_from(out_fd_, limits_.read_bytes, lines_);
        close_fd(out_fd_);
    }
    buffer_.flush(lines_);
    deliver(false);
}

// Past the deadline, the lines still to log are counted as dropped: killing comes first.
void SyncWait::deliver(bool check_deadline) {
    for (std::size_t i = 0; i < lines_.size(); ++i) {
        if (check_deadline && deadline_ && monotonic_ms() >= deadline_) {
            buffer_.drop(lines_.size() - i);
            break;
        }
        if (on_line_) on_line_(lines_[i]);
    }
    lines_.clear();
}

}  // namespace

Outcome wait_child(Process p, long long deadline, int out_fd, const Limits& limits,
                   const std::function<void(const std::string&)>& on_line) {
    SyncWait w(p, deadline, out_fd, limits, on_line);
    int result = 0;  // as finish(): 1 done, -1 status unknown
    int status = 0;
    try {
        result = w.wait(&status);
        w.last_output();
    } catch (...) {
        w.close_output();
        if (result == 0) kill_and_reap(p);
        else release(p);
        throw;
    }
    const bool timed_out = w.timed_out();
    if (result == 0) result = finish(p, &status, 0);
    const pid_t script = p.script();
    const int not_started = result < 0 && !timed_out ? start_error(p) : 0;
    release(p);
    if (timed_out) return Outcome{Outcome::TIMED_OUT, 0, script};
    if (not_started) return Outcome{Outcome::SPAWN_FAILED, not_started, -1};
    if (result < 0) return Outcome{Outcome::UNKNOWN, 0, script};
    return from_status(script, status);
}

}  // namespace runscript
