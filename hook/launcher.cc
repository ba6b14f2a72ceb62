#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

#include <algorithm>

// glibc 2.34 added posix_spawn_file_actions_addclosefrom_np: with it posix_spawn alone gives
// the child only fds 0-2. Older C libraries take the vfork() path below instead.
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
#define RUNSCRIPT_SPAWN_CLOSEFROM 1
#else
#define RUNSCRIPT_SPAWN_CLOSEFROM 0
#endif

namespace runscript {

long long monotonic_ms() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<long long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

namespace {

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
    int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    if (fd >= 0) {
        // Kea may spawn processes of its own (posix_spawn/fork): they must not inherit it.
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    return fd;
#else
    (void)pid;
    return -1;
#endif
}

#if !RUNSCRIPT_SPAWN_CLOSEFROM
void close_from_3() {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3, ~0U, 0) == 0) {
        return;
    }
#endif
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536) max = 65536;
    for (int fd = 3; fd < max; ++fd) {
        close(fd);
    }
}
#endif

// Returns the child's pid, or -errno. out_fd >= 0 becomes the child's stdout and stderr.
pid_t spawn(const char* path, char* const argv[], char* const envp[], int out_fd) {
#if RUNSCRIPT_SPAWN_CLOSEFROM
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    if (out_fd >= 0) {
        posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
        posix_spawn_file_actions_adddup2(&actions, out_fd, 2);
    }
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                    POSIX_SPAWN_SETPGROUP);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, path, &actions, &attr, argv, envp);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    return rc == 0 ? pid : -rc;
#else
    // vfork: the child borrows Kea's memory until execve, so it only makes async-signal-safe
    // calls and reports an exec failure through `err`.
    volatile int err = 0;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = vfork();
    if (pid == 0) {
        struct sigaction dfl;
        dfl.sa_handler = SIG_DFL;
        dfl.sa_flags = 0;
        sigemptyset(&dfl.sa_mask);
        for (int sig = 1; sig < NSIG; ++sig) {
            sigaction(sig, &dfl, 0);
        }
        setpgid(0, 0);
        if (out_fd >= 0) {
            dup2(out_fd, 1);
            dup2(out_fd, 2);
        }
        close_from_3();
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, 0);
        execve(path, argv, envp);
        err = errno;
        _exit(127);
    }
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &old, 0);
    if (pid < 0) return -saved;
    if (err != 0) {
        int status;
        waitpid(pid, &status, 0);
        return -err;
    }
    return pid;
#endif
}

Outcome from_status(pid_t pid, int status) {
    if (WIFEXITED(status)) return Outcome{Outcome::EXITED, WEXITSTATUS(status), pid};
    if (WIFSIGNALED(status)) return Outcome{Outcome::SIGNALED, WTERMSIG(status), pid};
    return Outcome{Outcome::UNKNOWN, 0, pid};
}

// waitpid that survives EINTR; returns 0 when the child is gone but was not ours to reap
// (another waiter in the process took it).
pid_t reap(pid_t pid, int* status, int flags) {
    for (;;) {
        pid_t r = waitpid(pid, status, flags);
        if (r >= 0) return r;
        if (errno == EINTR) continue;
        return -1;
    }
}

void kill_group(pid_t pid) {
    // The script leads its own process group: take its children down with it.
    if (kill(-pid, SIGKILL) != 0) {
        kill(pid, SIGKILL);
    }
}

}  // namespace

bool LineBuffer::read_from(int fd, std::vector<std::string>& lines) {
    char buf[4096];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0) {
            for (ssize_t i = 0; i < n; ++i) {
                if (buf[i] == '\n') {
                    lines.push_back(partial_);
                    partial_.clear();
                } else if (partial_.size() < MAX) {
                    partial_ += buf[i];
                }
            }
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
        flush(lines);
        return false;  // end of file or error
    }
}

void LineBuffer::flush(std::vector<std::string>& lines) {
    if (!partial_.empty()) {
        lines.push_back(partial_);
        partial_.clear();
    }
}

Outcome wait_child(pid_t pid, int timeout_ms, int out_fd,
                   const std::function<void(const std::string&)>& on_line) {
    const long long deadline = timeout_ms > 0 ? monotonic_ms() + timeout_ms : 0;
    LineBuffer buffer;
    std::vector<std::string> lines;
    auto deliver = [&]() {
        for (const std::string& line : lines) {
            if (on_line) on_line(line);
        }
        lines.clear();
    };
    bool timed_out = false;
    bool exited = false;
    int status = 0;
    bool reaped = false;
    int pidfd = open_pidfd(pid);
    long sleep_ms = 1;  // look-again interval when there is no pidfd
    while (!exited) {
        struct pollfd fds[2];
        nfds_t count = 0;
        if (pidfd >= 0) {
            fds[count].fd = pidfd;
            fds[count].events = POLLIN;
            fds[count].revents = 0;
            ++count;
        }
        if (out_fd >= 0) {
            fds[count].fd = out_fd;
            fds[count].events = POLLIN;
            fds[count].revents = 0;
            ++count;
        }
        int wait_ms = pidfd >= 0 ? -1 : static_cast<int>(sleep_ms);
        if (deadline) {
            long long left = deadline - monotonic_ms();
            int until = left > 0 ? static_cast<int>(left) : 0;
            wait_ms = wait_ms < 0 ? until : std::min(wait_ms, until);
        }
        int r = count ? poll(fds, count, wait_ms) : 0;
        if (!count) {
            struct timespec ts = {0, wait_ms * 1000000L};
            nanosleep(&ts, 0);
        }
        if (r < 0 && errno != EINTR) break;
        if (out_fd >= 0 && !buffer.read_from(out_fd, lines)) {
            close(out_fd);
            out_fd = -1;
        }
        deliver();
        if (pidfd >= 0) {
            exited = r > 0 && (fds[0].revents & POLLIN);
        } else {
            pid_t got = reap(pid, &status, WNOHANG);
            if (got == pid) {
                exited = reaped = true;
            } else if (got < 0) {
                break;  // not ours any more: someone else reaped it
            }
            sleep_ms = std::min(sleep_ms * 2, 10L);
        }
        if (!exited && deadline && monotonic_ms() >= deadline) {
            timed_out = true;
            kill_group(pid);
            break;
        }
    }
    if (pidfd >= 0) close(pidfd);
    if (out_fd >= 0) {
        // The script is gone: take what it wrote, without waiting for any child of it that
        // still holds the pipe.
        buffer.read_from(out_fd, lines);
        buffer.flush(lines);
        deliver();
        close(out_fd);
    }
    if (!reaped) {
        pid_t r = reap(pid, &status, 0);
        if (timed_out) return Outcome{Outcome::TIMED_OUT, 0, pid};
        if (r != pid) return Outcome{Outcome::UNKNOWN, 0, pid};
    }
    if (timed_out) return Outcome{Outcome::TIMED_OUT, 0, pid};
    return from_status(pid, status);
}

Launcher::Launcher(std::size_t max_async, EventSink sink, LineSink lines)
    : max_async_(max_async), sink_(sink), lines_(lines), reserved_(0), wake_fd_(-1),
      stopping_(false) {
    if (max_async_ == 0) return;
#ifdef __linux__
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
#endif
    reaper_ = std::thread(&Launcher::reaper_loop, this);
}

Launcher::~Launcher() {
    if (reaper_.joinable()) {
        stopping_ = true;
        if (wake_fd_ >= 0) {
            uint64_t one = 1;
            ssize_t ignored = write(wake_fd_, &one, sizeof(one));
            (void)ignored;
        }
        reaper_.join();
    }
    finish_all_at_stop();
    if (wake_fd_ >= 0) close(wake_fd_);
}

std::size_t Launcher::running_async() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return children_.size();
}

Outcome Launcher::run(const char* path, char* const argv[], char* const envp[], bool wait,
                      int timeout_ms, bool capture) {
    if (!wait) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!reaper_.joinable() || children_.size() + reserved_ >= max_async_) {
            return Outcome{Outcome::LIMIT, static_cast<int>(children_.size()), -1};
        }
        ++reserved_;
    }
    // Both ends close-on-exec: no other process Kea starts may hold the pipe open.
    int out[2] = {-1, -1};
    if (capture && pipe2(out, O_CLOEXEC) != 0) {
        out[0] = out[1] = -1;
    }
    pid_t pid = spawn(path, argv, envp, out[1]);
    if (out[1] >= 0) close(out[1]);
    if (out[0] >= 0) fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
    if (pid < 0 && out[0] >= 0) {
        close(out[0]);
        out[0] = -1;
    }
    if (wait) {
        if (pid < 0) return Outcome{Outcome::SPAWN_FAILED, static_cast<int>(-pid), -1};
        const LineSink& sink = lines_;
        const std::string script(path);
        return wait_child(pid, timeout_ms, out[0], [&sink, &script, pid](const std::string& line) {
            if (sink) sink(script, pid, line);
        });
    }
    Child child;
    child.pid = pid;
    child.pidfd = pid > 0 ? open_pidfd(pid) : -1;
    child.deadline = timeout_ms > 0 ? monotonic_ms() + timeout_ms : 0;
    child.killed = false;
    child.script = path;
    child.out_fd = out[0];
    if (out[0] >= 0) child.buffer = std::make_shared<LineBuffer>();
    {
        std::lock_guard<std::mutex> lock(mutex_);
        --reserved_;
        if (pid > 0) children_.push_back(child);
    }
    if (pid < 0) return Outcome{Outcome::SPAWN_FAILED, static_cast<int>(-pid), -1};
    if (wake_fd_ >= 0) {
        uint64_t one = 1;
        ssize_t ignored = write(wake_fd_, &one, sizeof(one));
        (void)ignored;
    }
    return Outcome{Outcome::STARTED, 0, pid};
}

void Launcher::reaper_loop() {
    std::vector<struct pollfd> fds;
    while (!stopping_) {
        fds.clear();
        struct pollfd wake;
        wake.fd = wake_fd_;
        wake.events = POLLIN;
        wake.revents = 0;
        fds.push_back(wake);
        long long next_deadline = 0;
        bool need_polling = wake_fd_ < 0;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            for (const Child& c : children_) {
                struct pollfd p;
                p.fd = c.pidfd;  // poll() ignores negative fds
                p.events = POLLIN;
                p.revents = 0;
                fds.push_back(p);
                if (c.out_fd >= 0) {
                    p.fd = c.out_fd;
                    fds.push_back(p);
                }
                if (c.pidfd < 0) need_polling = true;
                if (c.deadline && !c.killed &&
                    (next_deadline == 0 || c.deadline < next_deadline)) {
                    next_deadline = c.deadline;
                }
            }
        }
        int wait_ms = need_polling ? 10 : -1;
        if (next_deadline) {
            long long left = next_deadline - monotonic_ms();
            int until = left > 0 ? static_cast<int>(std::min(left, 60000LL)) : 0;
            wait_ms = wait_ms < 0 ? until : std::min(wait_ms, until);
        }
        int r = poll(fds.data(), fds.size(), wait_ms);
        if (r < 0 && errno != EINTR) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, 0);
        }
        if (wake_fd_ >= 0 && (fds[0].revents & POLLIN)) {
            uint64_t count;
            ssize_t ignored = read(wake_fd_, &count, sizeof(count));
            (void)ignored;
        }
        std::vector<AsyncEvent> events;
        std::vector<std::pair<Child, std::vector<std::string> > > output;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            const long long now = monotonic_ms();
            for (std::size_t i = 0; i < children_.size();) {
                Child& c = children_[i];
                if (c.out_fd >= 0) {
                    std::vector<std::string> lines;
                    if (!c.buffer->read_from(c.out_fd, lines)) {
                        close(c.out_fd);
                        c.out_fd = -1;
                    }
                    if (!lines.empty()) output.push_back(std::make_pair(c, lines));
                }
                int status = 0;
                pid_t got = reap(c.pid, &status, WNOHANG);
                if (got == c.pid || got < 0) {
                    if (c.out_fd >= 0) {
                        std::vector<std::string> lines;
                        c.buffer->read_from(c.out_fd, lines);
                        c.buffer->flush(lines);
                        close(c.out_fd);
                        if (!lines.empty()) output.push_back(std::make_pair(c, lines));
                    }
                    if (got == c.pid && !c.killed) {
                        if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
                            events.push_back(AsyncEvent{AsyncEvent::EXITED_NONZERO, c.script,
                                                        c.pid, WEXITSTATUS(status)});
                        } else if (WIFSIGNALED(status)) {
                            events.push_back(AsyncEvent{AsyncEvent::SIGNALED, c.script, c.pid,
                                                        WTERMSIG(status)});
                        }
                    }
                    if (c.pidfd >= 0) close(c.pidfd);
                    children_[i] = children_.back();
                    children_.pop_back();
                    continue;
                }
                if (c.deadline && !c.killed && now >= c.deadline) {
                    kill_group(c.pid);
                    c.killed = true;
                    events.push_back(AsyncEvent{AsyncEvent::TIMED_OUT, c.script, c.pid, 0});
                }
                ++i;
            }
        }
        // Report outside the lock: the sinks log, which may take their own locks.
        for (const auto& entry : output) {
            for (const std::string& line : entry.second) {
                if (lines_) lines_(entry.first.script, entry.first.pid, line);
            }
        }
        for (const AsyncEvent& e : events) {
            if (sink_) sink_(e);
        }
    }
}

void Launcher::finish_all_at_stop() {
    std::vector<Child> left;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        left.swap(children_);
    }
    for (Child& c : left) {
        if (c.pidfd >= 0) close(c.pidfd);
        if (c.out_fd >= 0) close(c.out_fd);
        long long remaining = c.deadline ? c.deadline - monotonic_ms() : 0;
        if (c.killed || (c.deadline && remaining <= 0)) {
            kill_group(c.pid);
            int status;
            reap(c.pid, &status, 0);
        } else {
            wait_child(c.pid, c.deadline ? static_cast<int>(remaining) : 0);
        }
    }
}

}  // namespace runscript
