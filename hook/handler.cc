// Persistent handlers (see handler.h for what the pool promises). Who touches what:
//   - Worker::io (a timed mutex) guards the record socket, the reply pipe, the reply parser's
//     state and `outstanding`: held by one call() for its round trip, or by the pool's thread
//     for one non-blocking pass (asynchronous writing and reading), or at a restart;
//   - Worker::proc_mutex guards the Process: a call() kills it on timeout, the pool's thread
//     reaps it; a Process is never used after reap_program released it;
//   - Worker::queue_mutex guards the asynchronous ring only (O(1) work under it);
//   - everything else of a Worker belongs to the pool's thread.
// Lock order: io, then proc_mutex.

#include "handler.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace runscript {

namespace {

const std::size_t LINE_MAX_BYTES = 4096;       // longer lines are cut, as captured output's
const long long OUTPUT_WINDOW_MS = 1000;        // max_lines per worker per window
const long long DROP_REPORT_MS = 1000;          // QUEUE_FULL at most this often per worker
const long long EXIT_CHECK_MS = 100;            // exit checks without a pidfd
const long long BUSY_RETRY_MS = 2;              // a worker held by a call(): look again
const int FIRST_BACKOFF_MS = 100;
const int MAX_BACKOFF_MS = 10000;
const long long STABLE_RUN_MS = 10000;          // a run this long resets the backoff
const std::size_t SEND_BATCH = 64;              // records per asynchronous write
const std::size_t IOV_CHUNK = 128;              // iovecs per synchronous write

void wake(int fd) {
    if (fd < 0) return;
    uint64_t one = 1;
    ssize_t ignored = write(fd, &one, sizeof(one));
    (void)ignored;
}

void drain_wake(int fd) {
    if (fd < 0) return;
    uint64_t value;
    ssize_t ignored = read(fd, &value, sizeof(value));
    (void)ignored;
}

void close_fd(int& fd) {
    if (fd >= 0) close(fd);
    fd = -1;
}

// Makes fd >= 3 (Kea may run with 0-2 closed), close-on-exec; -1 when that fails.
int above_stdio(int fd) {
    if (fd < 0 || fd >= 3) return fd;
    const int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return moved;
}

void set_nonblocking(int fd) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

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

}  // namespace

struct HandlerPool::Worker {
    std::size_t index = 0;

    DeadlineMutex io;
    int in_fd = -1;                  // our end of the record socket (non-blocking)
    int out_fd = -1;                 // read end of the reply pipe (non-blocking)
    std::string out_partial;         // an unterminated reply-pipe line (capacity reserved)
    bool out_cut = false;            // that line is past LINE_MAX_BYTES
    std::size_t outstanding = 0;     // records written whose reply is not read yet
    std::vector<std::string> sending;  // records taken from the queue, being written
    std::size_t sending_at = 0;      // first record of `sending` not fully written
    std::size_t sent_bytes = 0;      // bytes of that record written
    bool in_closed = false;          // at stop: stdin closed

    std::mutex proc_mutex;
    Process proc = Process{-1, -1, 0};
    std::atomic<pid_t> pid{-1};
    std::atomic<bool> alive{false};  // a handler runs and its pipes may be used

    std::mutex queue_mutex;
    std::vector<std::string> ring;   // capacity `queue`
    std::size_t head = 0;
    std::size_t count = 0;
    std::atomic<unsigned long long> unreported_drops{0};

    std::mutex log_mutex;
    long long window_start = 0;
    std::size_t window_lines = 0;
    std::size_t window_dropped = 0;
    std::atomic<bool> dropping{false};  // window_dropped > 0 (read without the lock)

    // The pool's thread only.
    int err_fd = -1;
    std::string err_partial;
    bool err_cut = false;
    long long started_at = 0;
    long long restart_at = 0;
    int next_delay_ms = 0;
    long long next_exit_check = 0;
    long long last_progress = 0;     // asynchronous: last byte accepted, or pending since
    bool pending = false;
    long long last_drop_report = 0;
    long long busy_until = 0;
    bool err_ready = false;          // poll() said so in this wake-up
    bool out_ready = false;
    long long next_read_at = 0;      // while dropping output lines: when to read again
};

HandlerPool::HandlerPool(const HandlerSettings& settings, HandlerSink sink)
    : settings_(settings), sink_(sink), dropped_(0), stopping_(false), unloading_(false),
      stop_deadline_(0),
      wake_fd_(-1) {
    argv_[0] = const_cast<char*>(settings_.name.c_str());
    argv_[1] = 0;
    for (const std::string& v : settings_.env) envp_.push_back(const_cast<char*>(v.c_str()));
    envp_.push_back(0);
    const std::size_t n = std::max<std::size_t>(settings_.workers, 1);
    for (std::size_t i = 0; i < n; ++i) {
        std::unique_ptr<Worker> w(new Worker());
        w->index = i;
        w->out_partial.reserve(LINE_MAX_BYTES);
        w->err_partial.reserve(LINE_MAX_BYTES);
        if (!settings_.wait) {
            w->ring.resize(std::max<std::size_t>(settings_.queue, 1));
            w->sending.reserve(SEND_BATCH);
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
    // Every signal blocked: Kea's handlers must not run in our thread.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    try {
        monitor_ = std::thread(&HandlerPool::monitor_loop, this);
    } catch (...) {
        pthread_sigmask(SIG_SETMASK, &old, 0);
        release_all();
        throw;
    }
    pthread_sigmask(SIG_SETMASK, &old, 0);
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

// Creates the worker's pipes and starts its handler. With w.io held, or before the thread.
bool HandlerPool::start(Worker& w) {
    close_fd(w.in_fd);
    close_fd(w.out_fd);
    close_fd(w.err_fd);
    w.out_partial.clear();
    w.out_cut = false;
    w.err_partial.clear();
    w.err_cut = false;
    w.outstanding = 0;
    // A record cut short by the previous handler's end must not reach the new one.
    if (w.sent_bytes > 0 && w.sending_at < w.sending.size()) ++w.sending_at;
    w.sent_bytes = 0;
    w.in_closed = false;
    // Every end close-on-exec: no other process Kea starts may hold one open.
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    int error = 0;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0 ||
        pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
        error = errno;
    }
    int* ends[6] = {&in[0], &in[1], &out[0], &out[1], &err[0], &err[1]};
    for (int* e : ends) {
        *e = above_stdio(*e);
        if (*e < 0 && error == 0) error = EMFILE;
    }
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
    auto give_up = [&](Outcome::Kind kind) {
        {
            std::lock_guard<std::mutex> plock(w.proc_mutex);
            if (w.proc.pid > 0) kill_program(w.proc);
        }
        w.alive = false;
        wake(wake_fd_);
        if (kind == Outcome::TIMED_OUT) {
            report(HandlerEvent{HandlerEvent::TIMEOUT, w.index, pid, budget_ms, point});
        }
        return Outcome{kind, 0, pid};
    };

    // The record, straight from the caller's strings (each std::string is NUL-terminated in
    // memory, so the NUL after each field is written with it): no copy, no allocation.
    static const char END = '\0';
    const std::size_t nvars = vars ? vars->size() : 0;
    std::size_t next_var = 0;
    bool point_sent = false;
    bool end_sent = false;
    while (!end_sent) {
        struct iovec iov[IOV_CHUNK];
        std::size_t count = 0;
        if (!point_sent) {
            iov[count].iov_base = const_cast<char*>(point);
            iov[count].iov_len = std::strlen(point) + 1;
            ++count;
        }
        std::size_t chunk_vars = 0;
        while (count < IOV_CHUNK - 1 && next_var + chunk_vars < nvars) {
            const std::string& v = (*vars)[next_var + chunk_vars];
            iov[count].iov_base = const_cast<char*>(v.c_str());
            iov[count].iov_len = field_length(v) + 1;  // as handler_record()
            ++count;
            ++chunk_vars;
        }
        const bool last = next_var + chunk_vars == nvars;
        if (last) {
            iov[count].iov_base = const_cast<char*>(&END);
            iov[count].iov_len = 1;
            ++count;
        }
        struct iovec* at = iov;
        std::size_t left = count;
        while (left > 0) {
            struct msghdr msg;
            std::memset(&msg, 0, sizeof(msg));
            msg.msg_iov = at;
            msg.msg_iovlen = left;
            const ssize_t sent = sendmsg(w.in_fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (sent < 0) {
                if (errno == EINTR) continue;
                if (errno != EAGAIN && errno != EWOULDBLOCK) {
                    return give_up(Outcome::HANDLER_DOWN);  // it closed its stdin or ended
                }
                struct pollfd p = {w.in_fd, POLLOUT, 0};
                const long long wait = remaining(deadline);
                if (wait == 0) return give_up(Outcome::TIMED_OUT);
                if (poll(&p, 1, static_cast<int>(std::min<long long>(wait, INT_MAX))) < 0 &&
                    errno != EINTR) {
                    return give_up(Outcome::HANDLER_DOWN);
                }
                continue;
            }
            std::size_t done = static_cast<std::size_t>(sent);
            while (left > 0 && done >= at->iov_len) {
                done -= at->iov_len;
                ++at;
                --left;
            }
            if (left > 0) {
                at->iov_base = static_cast<char*>(at->iov_base) + done;
                at->iov_len -= done;
            }
        }
        point_sent = true;
        next_var += chunk_vars;
        end_sent = last;
    }
    ++w.outstanding;

    // Replies: earlier records' first (an asynchronous pool's), then ours.
    char buf[4096];
    for (;;) {
        const ssize_t got = read(w.out_fd, buf, sizeof(buf));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = {w.out_fd, POLLIN, 0};
            const long long wait = remaining(deadline);
            if (wait == 0) return give_up(Outcome::TIMED_OUT);
            if (poll(&p, 1, static_cast<int>(std::min<long long>(wait, INT_MAX))) < 0 &&
                errno != EINTR) {
                return give_up(Outcome::HANDLER_DOWN);
            }
            continue;
        }
        if (got <= 0) return give_up(Outcome::HANDLER_DOWN);  // it closed stdout, or ended
        const char* at = buf;
        const char* const end = buf + got;
        while (at < end) {
            const char* nl = static_cast<const char*>(std::memchr(at, '\n', end - at));
            const char* stop = nl ? nl : end;
            if (!nl) {
                if (!w.out_cut) {
                    const std::size_t room = LINE_MAX_BYTES - w.out_partial.size();
                    const std::size_t take = std::min<std::size_t>(stop - at, room);
                    w.out_partial.append(at, take);
                    if (take < static_cast<std::size_t>(stop - at)) w.out_cut = true;
                }
                break;
            }
            const char* line = at;
            std::size_t len = static_cast<std::size_t>(stop - at);
            if (!w.out_partial.empty() || w.out_cut) {
                if (!w.out_cut) {
                    const std::size_t room = LINE_MAX_BYTES - w.out_partial.size();
                    w.out_partial.append(at, std::min(len, room));
                }
                line = w.out_partial.data();
                len = w.out_partial.size();
            }
            int code = 0;
            const ReplyKind kind = parse_reply(line, len, &code);
            if (kind == REPLY_OTHER) {
                report_line(w, std::string(line, len));
            } else if (kind == REPLY_MALFORMED) {
                report_line(w, "reply '" + std::string(line, std::min<std::size_t>(len, 80)) +
                                   "' is not 'exit <0-255>'", HandlerEvent::PROTOCOL);
            }
            w.out_partial.clear();
            w.out_cut = false;
            at = nl + 1;
            if (kind != 0 && w.outstanding > 0 && --w.outstanding == 0) {
                // Ours. Anything after it in buf is output beyond the protocol: logged.
                if (at < end) {
                    const char* tail = at;
                    while (tail < end) {
                        const char* tnl = static_cast<const char*>(std::memchr(tail, '\n', end - tail));
                        if (!tnl) {
                            w.out_partial.assign(tail, std::min<std::size_t>(end - tail, LINE_MAX_BYTES));
                            break;
                        }
                        report_line(w, std::string(tail, tnl - tail));
                        tail = tnl + 1;
                    }
                }
                if (kind == REPLY_MALFORMED) return Outcome{Outcome::UNKNOWN, 0, pid};
                return Outcome{Outcome::EXITED, code, pid};
            }
        }
    }
}

Outcome HandlerPool::post(std::size_t key, std::string&& record) {
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
        w.ring[(w.head + w.count) % w.ring.size()].swap(record);
        was_empty = w.count++ == 0;
    }
    // The pool's thread looks at the queue after every wake-up: only an empty queue's first
    // record needs to wake it.
    if (was_empty) wake(wake_fd_);
    return Outcome{Outcome::STARTED, 0, w.pid.load()};
}

// The pool's thread, with w.io held: reads what the handler wrote on its stdout, one
// wake-up's share. Replies only count down `outstanding` (asynchronous: nobody waits for them).
void HandlerPool::read_stdout(Worker& w) {
    if (w.out_fd < 0) return;
    char buf[16 * 1024];
    std::size_t total = 0;
    while (total < settings_.read_bytes) {
        const ssize_t got = read(w.out_fd, buf, sizeof(buf));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                // The handler closed its stdout, or ended: the exit check follows.
                close_fd(w.out_fd);
                w.next_exit_check = 0;
            }
            return;
        }
        total += static_cast<std::size_t>(got);
        const char* at = buf;
        const char* const end = buf + got;
        while (at < end) {
            const char* nl = static_cast<const char*>(std::memchr(at, '\n', end - at));
            const char* stop = nl ? nl : end;
            if (!w.out_cut) {
                const std::size_t room = LINE_MAX_BYTES - w.out_partial.size();
                const std::size_t take = std::min<std::size_t>(stop - at, room);
                w.out_partial.append(at, take);
                if (take < static_cast<std::size_t>(stop - at)) w.out_cut = true;
            }
            if (!nl) break;
            int code = 0;
            const ReplyKind kind = parse_reply(w.out_partial.data(), w.out_partial.size(), &code);
            if (kind == REPLY_OTHER) {
                report_line(w, w.out_partial);
            } else {
                if (kind == REPLY_MALFORMED) {
                    report_line(w, "reply '" + w.out_partial.substr(0, 80) +
                                       "' is not 'exit <0-255>'", HandlerEvent::PROTOCOL);
                }
                if (w.outstanding > 0) --w.outstanding;
            }
            w.out_partial.clear();
            w.out_cut = false;
            at = nl + 1;
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
            w.sending_at = 0;
            std::lock_guard<std::mutex> lock(w.queue_mutex);
            while (w.count > 0 && w.sending.size() < SEND_BATCH) {
                w.sending.emplace_back();
                w.sending.back().swap(w.ring[w.head]);
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
        w.last_progress = now;
        std::size_t done = static_cast<std::size_t>(sent);
        while (done > 0 && w.sending_at < w.sending.size()) {
            const std::size_t left = w.sending[w.sending_at].size() - w.sent_bytes;
            if (done >= left) {
                done -= left;
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

void HandlerPool::begin_stop(long long deadline) {
    if (stopping_.load()) return;
    stop_deadline_ = deadline;
    stopping_ = true;
    wake(wake_fd_);
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

void HandlerPool::monitor_loop() {
    const bool async = !settings_.wait;
    long long drain_deadline = 0;
    long long next_flush = 0;  // when a window with dropped output lines ends
    std::vector<struct pollfd> fds;
    std::vector<std::pair<Worker*, int> > what;  // 0 pidfd, 1 err, 2 out, 3 in
    fds.reserve(workers_.size() * 4 + 1);
    what.reserve(workers_.size() * 4 + 1);
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

        // What to wait for.
        fds.clear();
        what.clear();
        long long wait_ms = 1000;
        fds.push_back(pollfd{wake_fd_, POLLIN, 0});
        what.push_back(std::make_pair(static_cast<Worker*>(0), -1));
        for (auto& wp : workers_) {
            Worker& w = *wp;
            if (w.proc.pid > 0) {
                if (w.proc.pidfd >= 0) {
                    fds.push_back(pollfd{w.proc.pidfd, POLLIN, 0});
                    what.push_back(std::make_pair(&w, 0));
                } else {
                    wait_ms = std::min(wait_ms, std::max(w.next_exit_check - now, 0LL));
                }
            } else if (!stopping) {
                wait_ms = std::min(wait_ms, std::max(w.restart_at - now, 0LL));
            }
            const bool read_later = w.next_read_at > now && w.dropping.load();
            if (read_later) wait_ms = std::min(wait_ms, w.next_read_at - now);
            if (w.err_fd >= 0 && !read_later) {
                fds.push_back(pollfd{w.err_fd, POLLIN, 0});
                what.push_back(std::make_pair(&w, 1));
            }
            if (async || stopping) {
                if (w.busy_until > now) {
                    wait_ms = std::min(wait_ms, w.busy_until - now);
                } else {
                    if (w.out_fd >= 0 && async && !read_later) {
                        fds.push_back(pollfd{w.out_fd, POLLIN, 0});
                        what.push_back(std::make_pair(&w, 2));
                    }
                    if (w.pending && w.in_fd >= 0 && !w.in_closed) {
                        fds.push_back(pollfd{w.in_fd, POLLOUT, 0});
                        what.push_back(std::make_pair(&w, 3));
                        if (settings_.timeout_ms > 0) {
                            wait_ms = std::min(wait_ms, std::max(w.last_progress +
                                                                 settings_.timeout_ms - now, 0LL));
                        }
                    }
                }
            }
            if (w.unreported_drops.load() > 0) {
                wait_ms = std::min(wait_ms, std::max(w.last_drop_report + DROP_REPORT_MS - now,
                                                     0LL));
            }
        }
        if (next_flush) wait_ms = std::min(wait_ms, std::max(next_flush - now, 0LL));
        next_flush = 0;
        if (stopping) wait_ms = std::min(wait_ms, std::max(drain_deadline - now, 0LL));
        if (act_now) wait_ms = 0;
        const int r = poll(fds.data(), fds.size(), static_cast<int>(wait_ms));
        if (r < 0 && errno != EINTR) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, 0);
        }
        if (fds[0].revents) drain_wake(wake_fd_);
        // Asked to stop while waiting: start draining now, not one wait later.
        if (!stopping && stopping_.load()) continue;
        now = monotonic_ms();

        for (std::size_t i = 1; i < fds.size(); ++i) {
            if (!fds[i].revents) continue;
            Worker& w = *what[i].first;
            if (what[i].second == 0) w.next_exit_check = 0;
            if (what[i].second == 1) w.err_ready = true;
            if (what[i].second == 2) w.out_ready = true;
        }

        for (auto& wp : workers_) {
            Worker& w = *wp;
            // fd 2: every line is the handler's log.
            if (w.err_fd >= 0 && w.err_ready) {
                w.err_ready = false;
                if (w.dropping.load()) w.next_read_at = now + DISCARD_INTERVAL_MS;
                char buf[16 * 1024];
                std::size_t total = 0;
                while (total < settings_.read_bytes) {
                    const ssize_t got = read(w.err_fd, buf, sizeof(buf));
                    if (got < 0 && errno == EINTR) continue;
                    if (got <= 0) {
                        if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                            if (!w.err_partial.empty()) report_line(w, w.err_partial);
                            w.err_partial.clear();
                            close_fd(w.err_fd);
                            w.next_exit_check = 0;
                        }
                        break;
                    }
                    total += static_cast<std::size_t>(got);
                    const char* at = buf;
                    const char* const end = buf + got;
                    while (at < end) {
                        const char* nl = static_cast<const char*>(std::memchr(at, '\n', end - at));
                        const char* stop = nl ? nl : end;
                        if (!w.err_cut) {
                            const std::size_t room = LINE_MAX_BYTES - w.err_partial.size();
                            const std::size_t take = std::min<std::size_t>(stop - at, room);
                            w.err_partial.append(at, take);
                            if (take < static_cast<std::size_t>(stop - at)) w.err_cut = true;
                        }
                        if (!nl) break;
                        report_line(w, w.err_partial);
                        w.err_partial.clear();
                        w.err_cut = false;
                        at = nl + 1;
                    }
                }
            }

            // Asynchronous records and replies (and, at stop, closing stdin once the queue
            // is written).
            if ((async || stopping) && w.busy_until <= now) {
                std::unique_lock<DeadlineMutex> io(w.io, std::try_to_lock);
                if (!io.owns_lock()) {
                    w.busy_until = now + BUSY_RETRY_MS;  // a call() or lifecycle() has it
                } else {
                    if (async && w.out_ready) {
                        w.out_ready = false;
                        if (w.dropping.load()) w.next_read_at = now + DISCARD_INTERVAL_MS;
                        read_stdout(w);
                    }
                    if (async) {
                        if (w.alive) write_queued(w, now);
                    }
                    if (stopping && w.in_fd >= 0 && !w.in_closed) {
                        bool empty = !w.pending || !w.alive;
                        if (empty) {
                            std::lock_guard<std::mutex> lock(w.queue_mutex);
                            empty = w.count == 0 || !w.alive;
                        }
                        if (empty && w.sending_at == w.sending.size()) {
                            // EOF on its stdin: the handler's cue to finish and exit.
                            shutdown(w.in_fd, SHUT_WR);
                            w.in_closed = true;
                        } else if (!w.alive) {
                            shutdown(w.in_fd, SHUT_WR);
                            w.in_closed = true;
                        }
                    }
                    // A handler that takes no byte of a pending record for `timeout`.
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
                        report(HandlerEvent{HandlerEvent::TIMEOUT, w.index, w.pid.load(),
                                            settings_.timeout_ms, point});
                    }
                }
            }

            // Has it ended?
            if (w.proc.pid > 0 && now >= w.next_exit_check) {
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
            if (flush_at) next_flush = next_flush ? std::min(next_flush, flush_at) : flush_at;

            // Drops, at most once per second per worker.
            if (w.unreported_drops.load() > 0 && now - w.last_drop_report >= DROP_REPORT_MS) {
                const unsigned long long n = w.unreported_drops.exchange(0);
                w.last_drop_report = now;
                report(HandlerEvent{HandlerEvent::QUEUE_FULL, w.index, w.pid.load(),
                                    static_cast<long long>(n), ""});
            }
        }
    }
    // Leftover output of the last wake-up is not waited for; the destructor kills the rest.
}

}  // namespace runscript
