// The handler pool itself (handler.h): its workers' start, end and restart with backoff, the
// reporting of their output within max_lines per second, the stop. A call's round trip is
// handler_call.cc's, the asynchronous queue handler_queue.cc's, the pool's thread
// handler_monitor.cc's.

#include "handler.h"
#include "fd.h"
#include "handler_worker.h"
#include "signals_blocked.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

#include <algorithm>
#include <stdexcept>

namespace runscript {

std::string how_ended(int result, int status) {
    if (result < 0) return "exit status lost";
    if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
    return "ended";
}

long long remaining(long long deadline) {
    if (!deadline) return -1;
    const long long left = deadline - monotonic_ms();
    return left > 0 ? left : 0;
}

HandlerPool::HandlerPool(const HandlerSettings& settings, HandlerSink sink)
    : settings_(settings), sink_(sink), dropped_(0), stopping_(false), unloading_(false),
      stop_deadline_(0), lingering_(false), wrote_records_(false),
      wake_fd_(-1) {
    argv_[0] = const_cast<char*>(settings_.name.c_str());
    argv_[1] = 0;
    for (const std::string& v : settings_.env) envp_.push_back(const_cast<char*>(v.c_str()));
    envp_.push_back(0);
    const std::size_t n = std::max<std::size_t>(settings_.workers, 1);
    for (std::size_t i = 0; i < n; ++i) {
        std::unique_ptr<Worker> w(new Worker());
        w->index = i;
        w->read.reserve(64);  // a call() reads its reply without allocating
        w->err_read.reserve(64);
        if (!settings_.wait) {
            w->ring.resize(std::max<std::size_t>(settings_.queue, 1));
            w->sending.reserve(SEND_BATCH);
            if (settings_.park) {
                w->ring_done.resize(w->ring.size());
                w->sending_done.reserve(SEND_BATCH);
            }
        }
        workers_.push_back(std::move(w));
    }
#ifdef __linux__
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
#endif
    std::size_t started = 0;
    for (auto& w : workers_) {
        if (start(*w)) ++started;
    }
    if (started == 0) {
        release_all();
        throw std::runtime_error("handler " + settings_.path + " could not be started");
    }
    try {
        SignalsBlocked blocked;  // Kea's signal handlers must not run in our thread
        monitor_ = std::thread(&HandlerPool::monitor_loop, this);
    } catch (...) {
        release_all();
        throw;
    }
    pthread_setname_np(monitor_.native_handle(), "runscript-hdl");
}

HandlerPool::~HandlerPool() {
    begin_stop(monotonic_ms() + std::max(settings_.drain_ms, 0));
    if (monitor_.joinable()) monitor_.join();
    release_all();
}

// Without the pool's thread: kills and reaps what still runs, closes every fd.
void HandlerPool::release_all() {
    stopping_ = true;
    stop_all();
    // Drops not yet reported (the report comes at most once a second) are not lost at stop.
    for (auto& w : workers_) {
        const unsigned long long n = w->unreported_drops.exchange(0);
        if (n > 0) {
            report(HandlerEvent{HandlerEvent::QUEUE_FULL, w->index, w->pid.load(),
                                static_cast<long long>(n), ""});
        }
    }
    // Parked queries never outlive the pool: what was not answered fails now.
    for (auto& w : workers_) fail_parked(*w, true);
    for (auto& w : workers_) {
        close_fd(w->in_fd);
        close_fd(w->out_fd);
        close_fd(w->err_fd);
    }
    close_fd(wake_fd_);
    drop_kept_mappings();
}

std::vector<pid_t> HandlerPool::pids() const {
    std::vector<pid_t> out;
    for (const auto& w : workers_) out.push_back(w->alive ? w->pid.load() : -1);
    return out;
}

void HandlerPool::report(const HandlerEvent& e) const {
    if (!sink_) return;
    try {
        sink_(e);
    } catch (...) {
        // Kea's logger may throw: a report never takes the pool down.
    }
}

// With w.log_mutex held: once a window is over, says how many lines it dropped and opens the
// next one. The pool's thread also calls it when no line comes (flush_output).
void HandlerPool::end_window(Worker& w, long long now) {
    if (now - w.window_start < OUTPUT_WINDOW_MS) return;
    if (w.window_dropped > 0) {
        report(HandlerEvent{HandlerEvent::OUTPUT, w.index, w.pid.load(), 0,
                            "... " + std::to_string(w.window_dropped) +
                                " more lines dropped (max-output-lines per second)"});
    }
    w.window_start = now;
    w.window_lines = 0;
    w.window_dropped = 0;
    w.dropping = false;
}

// When the next window ends, if lines were dropped in this one (0: none dropped).
long long HandlerPool::flush_output(Worker& w, long long now) {
    if (!w.dropping.load(std::memory_order_relaxed)) return 0;
    std::lock_guard<std::mutex> lock(w.log_mutex);
    end_window(w, now);
    return w.window_dropped > 0 ? w.window_start + OUTPUT_WINDOW_MS : 0;
}

// Called with w.io held (reply pipe) or from the pool's thread (fd 2). Output lines and
// malformed replies share one budget: a handler printing either in a loop is one flood.
void HandlerPool::report_line(Worker& w, const std::string& line, HandlerEvent::Kind kind) {
    std::lock_guard<std::mutex> lock(w.log_mutex);
    end_window(w, monotonic_ms());
    if (w.window_lines < settings_.max_lines) {
        ++w.window_lines;
        report(HandlerEvent{kind, w.index, w.pid.load(), 0, line});
    } else {
        ++w.window_dropped;
        w.dropping = true;
    }
}

// With w.io held. A reply line ("exit N", or a malformed one, a line that starts with "exit"
// but is not "exit <0-255>", reported) gives its outcome in *reply; any other line is output,
// logged, and false is returned.
bool HandlerPool::reply_of(Worker& w, const std::string& line, Outcome* reply) {
    int code = 0;
    const ReplyKind kind = parse_reply(line.data(), line.size(), &code);
    if (kind == REPLY_OTHER) {
        report_line(w, line);
        return false;
    }
    if (kind == REPLY_MALFORMED) {
        report_line(w, "reply '" + line.substr(0, 80) + "' is not 'exit <0-255>'", HandlerEvent::PROTOCOL);
    }
    reply->kind = kind == REPLY_MALFORMED ? Outcome::UNKNOWN : Outcome::EXITED;
    reply->code = kind == REPLY_MALFORMED ? 0 : code;
    return true;
}

// With w.io held. A reply answers the oldest outstanding record. True when the line answered
// the last outstanding record: *reply is then that answer (its pid left as it was).
bool HandlerPool::take_line(Worker& w, const std::string& line, Outcome* reply) {
    Outcome got = *reply;
    if (!reply_of(w, line, &got)) return false;
    if (w.outstanding == 0 || --w.outstanding > 0) return false;
    *reply = got;
    return true;
}

// Creates the worker's pipes and starts its handler. With w.io held, or before the thread.
bool HandlerPool::start(Worker& w) {
    close_fd(w.in_fd);
    close_fd(w.out_fd);
    close_fd(w.err_fd);
    w.out_lines = LineBuffer();
    w.err_lines = LineBuffer();
    w.outstanding = 0;
    fail_parked(w, false);
    // A record cut short by the previous handler's end must not reach the new one.
    if (w.sent_bytes > 0 && w.sending_at < w.sending.size()) {
        if (settings_.park && w.sending_at < w.sending_done.size()) {
            w.awaiting.push_back(Worker::Awaiting{std::move(w.sending_done[w.sending_at]), 0,
                                                  std::string()});
            fail_parked(w, false);
        }
        ++w.sending_at;
    }
    w.sent_bytes = 0;
    w.in_closed = false;
    // Every end close-on-exec: no other process Kea starts may hold one open.
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    int error = 0;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0) {
        error = errno;
    } else if (!pipe_above_stdio(out) || !pipe_above_stdio(err)) {
        error = errno;
    }
    in[0] = above_stdio(in[0]);
    in[1] = above_stdio(in[1]);
    if (error == 0 && (in[0] < 0 || in[1] < 0)) error = EMFILE;
    Process p = Process{-error, -1, 0};
    if (error == 0) {
        // The handler reads its records from in[1], writes replies to out[1], logs to err[1].
        const Stdio io = {in[1], out[1], err[1]};
        p = start_program(settings_.path.c_str(), argv_, envp_.data(), io);
    }
    close_fd(in[1]);
    close_fd(out[1]);
    close_fd(err[1]);
    const long long now = monotonic_ms();
    if (p.pid < 0) {
        close_fd(in[0]);
        close_fd(out[0]);
        close_fd(err[0]);
        const int e = static_cast<int>(-p.pid);
        report(HandlerEvent{HandlerEvent::EXITED, w.index, -1, 0,
                            std::string("could not start: ") + strerror(e)});
        w.started_at = now;
        handle_exit(w, 0, -1);  // schedules the next try
        return false;
    }
    set_nonblocking(in[0]);
    set_nonblocking(out[0]);
    set_nonblocking(err[0]);
    w.in_fd = in[0];
    w.out_fd = out[0];
    w.err_fd = err[0];
    {
        std::lock_guard<std::mutex> lock(w.proc_mutex);
        w.proc = p;
    }
    w.pid = p.script();
    w.started_at = now;
    w.next_exit_check = now + EXIT_CHECK_MS;
    w.last_progress = now;
    w.alive = true;
    report(HandlerEvent{HandlerEvent::STARTED, w.index, w.pid.load(), 0, ""});
    return true;
}

// After a handler ended (result as reap_program's; status -1: it never started): reports
// the end (unless it never started: start() did) and schedules the restart.
void HandlerPool::handle_exit(Worker& w, int result, int status) {
    w.alive = false;
    // Its records written and not answered never will be: their parked queries go on now
    // (as at any failure), not at the restart.
    fail_parked(w, false);
    const long long now = monotonic_ms();
    if (status != -1 || result != 0) {
        report(HandlerEvent{HandlerEvent::EXITED, w.index, w.pid.load(), stopping_ ? 1 : 0,
                            how_ended(result, status)});
    }
    if (stopping_ || unloading_) return;
    if (now - w.started_at >= STABLE_RUN_MS) w.next_delay_ms = 0;
    const int delay = w.next_delay_ms;
    w.next_delay_ms = delay == 0 ? FIRST_BACKOFF_MS : std::min(delay * 2, MAX_BACKOFF_MS);
    w.restart_at = now + delay;
    report(HandlerEvent{HandlerEvent::RESTART, w.index, w.pid.load(), delay, ""});
}

void HandlerPool::stop_all() {
    for (auto& w : workers_) {
        std::lock_guard<std::mutex> lock(w->proc_mutex);
        if (w->proc.pid > 0) kill_program(w->proc);
    }
    for (auto& w : workers_) {
        std::lock_guard<std::mutex> lock(w->proc_mutex);
        if (w->proc.pid > 0) {
            int status = 0;
            const int result = reap_program(w->proc, &status, true);
            w->alive = false;
            report(HandlerEvent{HandlerEvent::EXITED, w->index, w->pid.load(), 1,
                                how_ended(result, status)});
        }
    }
}

void HandlerPool::begin_stop(long long deadline) {
    if (stopping_.load()) return;
    stop_deadline_ = deadline;
    stopping_ = true;
    wake(wake_fd_);
}

}  // namespace runscript
