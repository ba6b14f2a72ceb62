#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif
#ifndef __WALL
#define __WALL 0x40000000
#endif

#include <algorithm>
#include <cstring>
#include <new>
#include <atomic>

// glibc 2.34 added posix_spawn_file_actions_addclosefrom_np: with it posix_spawn alone gives
// the child only fds 0-2. Older C libraries take the vfork() path below instead.
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34)) && \
    !defined(RUNSCRIPT_NO_SPAWN_CLOSEFROM)
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
#if defined(SYS_pidfd_open) && !defined(RUNSCRIPT_FAKE_OLD_CLONE)
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

// System calls for the script before its exec and for the supervisor. Both share Kea's
// memory and the thread block (TLS) of the Kea thread that started them, and in async mode
// run alongside it and alongside each other: libc's wrappers would write that thread's errno,
// touch its cancellation state or take libc's locks (glibc's sigaction takes a lock that
// two such processes sharing one thread block deadlock on). So: no libc here, the kernel's
// -errno comes back as the result.
long raw_syscall(long n, long a = 0, long b = 0, long c = 0, long d = 0) {
#if defined(__x86_64__)
    long ret;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return ret;
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
    return x0;
#else
    long ret = syscall(n, a, b, c, d);
    return ret == -1 ? -errno : ret;
#endif
}

void raw_exit(int code) {
    for (;;) raw_syscall(SYS_exit, code);
}

// Closes fds 3 and up, but `keep` (when >= 3).
void close_from_3(int keep = -1) {
// RUNSCRIPT_NO_CLOSE_RANGE: the tests' way to run the fallback below on a newer kernel.
#if defined(SYS_close_range) && !defined(RUNSCRIPT_NO_CLOSE_RANGE)
    const bool ranges_ok = keep < 3
        ? raw_syscall(SYS_close_range, 3, ~0U, 0) == 0
        : (keep == 3 || raw_syscall(SYS_close_range, 3, keep - 1, 0) == 0) &&
              raw_syscall(SYS_close_range, keep + 1, ~0U, 0) == 0;
    if (ranges_ok) return;
#endif
    // Kernels before 5.9: close what /proc/self/fd lists (a loop over every possible fd up
    // to the limit would cost milliseconds per script).
    const long dir = raw_syscall(SYS_openat, AT_FDCWD, reinterpret_cast<long>("/proc/self/fd"),
                                 O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        alignas(8) char buf[1024];
        long n;
        // /proc lists fds by number: closing some does not move the others.
        while ((n = raw_syscall(SYS_getdents64, dir, reinterpret_cast<long>(buf), sizeof(buf))) > 0) {
            for (long at = 0; at < n;) {
                // struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name
                const unsigned short reclen = *reinterpret_cast<unsigned short*>(buf + at + 16);
                const char* name = buf + at + 19;
                long fd = 0;
                bool number = *name != 0;
                for (; *name; ++name) {
                    if (*name < '0' || *name > '9') number = false;
                    fd = fd * 10 + (*name - '0');
                }
                if (number && fd >= 3 && fd != keep && fd != dir) raw_syscall(SYS_close, fd);
                at += reclen;
            }
        }
        raw_syscall(SYS_close, dir);
        if (n == 0) return;
    }
    // No /proc: every fd up to the soft limit.
    unsigned long long limit[2] = {0, 0};  // struct rlimit64: current, maximum
    long top = raw_syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, reinterpret_cast<long>(limit)) == 0
        ? static_cast<long>(std::min<unsigned long long>(limit[0], 65536)) : 65536;
    for (int fd = 3; fd < top; ++fd) {
        if (fd != keep) raw_syscall(SYS_close, fd);
    }
}

// Runs in the child while it still shares Kea's memory (vfork semantics): raw system calls
// only (see raw_syscall); an exec failure is reported through *err.
void exec_child(const char* path, char* const argv[], char* const envp[], int out_fd,
                volatile int* err) {
    // The kernel's struct sigaction, all zero: SIG_DFL, no flags, empty mask, whatever
    // the architecture's field order. The last argument is the kernel's sigset size.
    unsigned long dfl[4] = {0, 0, 0, 0};
    const long sigset_bytes = 64 / 8;
    for (int sig = 1; sig <= 64; ++sig) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        raw_syscall(SYS_rt_sigaction, sig, reinterpret_cast<long>(dfl), 0, sigset_bytes);
    }
    raw_syscall(SYS_setpgid, 0, 0);
    if (out_fd >= 0) {
        raw_syscall(SYS_dup3, out_fd, 1, 0);
        raw_syscall(SYS_dup3, out_fd, 2, 0);
    }
    close_from_3();
    unsigned long none = 0;
    raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&none), 0, sigset_bytes);
    long r = raw_syscall(SYS_execve, reinterpret_cast<long>(path), reinterpret_cast<long>(argv),
                         reinterpret_cast<long>(envp));
    *err = static_cast<int>(-r);
    raw_exit(127);
}

}  // namespace

// Memory shared by the hook and a script's supervisor (see spawn_supervised).
struct Supervision {
    const char* path;
    char* const* argv;
    char* const* envp;
    int out_fd;
    char* script_stack;               // the script's vfork-style stack, inside this mapping
    volatile int exec_err;            // errno of a failed execve, written by the script
    volatile pid_t script_pid;        // written by the supervisor once started
    volatile int status;              // the script's wait status
    volatile int done;                // 1 once status is valid
    int launched;                     // futex: 1 once the script has exec'd (or failed)
};

namespace {

// Copies path, argv and envp into `area` (pointer arrays first, then the strings) so the
// caller's copies may go before the script has exec'd. False when they do not fit.
bool copy_call(char* area, std::size_t size, const char* path, char* const argv[],
               char* const envp[], const char** path_out, char*** argv_out,
               char*** envp_out) {
    std::size_t argc = 0, envc = 0, bytes = std::strlen(path) + 1;
    for (; argv[argc]; ++argc) bytes += std::strlen(argv[argc]) + 1;
    for (; envp[envc]; ++envc) bytes += std::strlen(envp[envc]) + 1;
    const std::size_t pointers = (argc + 1 + envc + 1) * sizeof(char*);
    if (pointers + bytes > size) return false;
    char** arrays = reinterpret_cast<char**>(area);
    char* text = area + pointers;
    auto put = [&text](const char* from) {
        const std::size_t n = std::strlen(from) + 1;
        std::memcpy(text, from, n);
        char* at = text;
        text += n;
        return at;
    };
    *path_out = put(path);
    *argv_out = arrays;
    for (std::size_t i = 0; i < argc; ++i) arrays[i] = put(argv[i]);
    arrays[argc] = 0;
    *envp_out = arrays + argc + 1;
    for (std::size_t i = 0; i < envc; ++i) (*envp_out)[i] = put(envp[i]);
    (*envp_out)[envc] = 0;
    return true;
}

}  // namespace

pid_t Process::script() const {
    return sup ? sup->script_pid : pid;
}

namespace {

const std::size_t STACK_SIZE = 64 * 1024;

int script_entry(void* arg) {
    Supervision* s = static_cast<Supervision*>(arg);
    exec_child(s->path, s->argv, s->envp, s->out_fd, &s->exec_err);
    return 127;
}

// Runs as a separate process in the hook's memory, with every signal blocked and only raw
// system calls: starts the script as its own child, waits for it and leaves the status in
// shared memory. It never calls exec, so it keeps exit signal 0: Kea's own child handling
// (waitpid(-1) when kea-lfc ends) cannot see it, and cannot see the script either, which is
// the supervisor's child. The hook learns the end through the supervisor's pidfd.
void wake_launcher(Supervision* s) {
    __atomic_store_n(&s->launched, 1, __ATOMIC_RELEASE);
    raw_syscall(SYS_futex, reinterpret_cast<long>(&s->launched), FUTEX_WAKE, 1);
}

int supervisor_entry(void* arg) {
    Supervision* s = static_cast<Supervision*>(arg);
#ifdef RUNSCRIPT_FAULT_SUPERVISOR_DIES
    raw_exit(1);
#endif
    // First of all, drop the copies of Kea's descriptors (sockets, lease files): Kea may
    // close and reopen them (a reconfiguration) while this still runs.
    close_from_3(s->out_fd);
    // CLONE_VFORK: this returns once the script has exec'd (or failed to). (glibc's clone
    // wrapper touches errno only when clone itself fails.)
    pid_t pid = clone(script_entry, s->script_stack + STACK_SIZE,
                      CLONE_VM | CLONE_VFORK | SIGCHLD, s);
    if (pid < 0) {
        s->exec_err = EAGAIN;
        wake_launcher(s);
        raw_exit(1);
    }
    s->script_pid = pid;
    wake_launcher(s);
    // The output pipe is the script's now: the hook must see its end when the script ends.
    close_from_3();
    int status = 0;
    while (raw_syscall(SYS_wait4, pid, reinterpret_cast<long>(&status), 0, 0) == -EINTR) {
    }
    if (s->exec_err != 0) raw_exit(1);
    s->status = status;
    __atomic_store_n(&s->done, 1, __ATOMIC_RELEASE);
    raw_exit(0);
    return 0;
}

#if defined(__linux__) && defined(CLONE_VM) && defined(CLONE_VFORK) && !defined(RUNSCRIPT_NO_PIDFD)
#define RUNSCRIPT_SUPERVISED 1
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

// Mappings (shared block + both stacks) are kept for reuse: an munmap in a multi-threaded
// Kea costs a TLB shootdown on every core, per script run.
// Layout: the Supervision block (one page), a copy of an asynchronous call's path, argv
// and envp, the script's stack, the supervisor's stack.
const std::size_t CALL_AREA_SIZE = 64 * 1024;
const std::size_t MAPPING_SIZE = 4096 + CALL_AREA_SIZE + 2 * STACK_SIZE;
const std::size_t MAPPINGS_KEPT = 64;
std::mutex mappings_mutex;
std::vector<void*> free_mappings;

void* take_mapping() {
    {
        std::lock_guard<std::mutex> lock(mappings_mutex);
        if (!free_mappings.empty()) {
            void* mem = free_mappings.back();
            free_mappings.pop_back();
            return mem;
        }
    }
    void* mem = mmap(0, MAPPING_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    return mem == MAP_FAILED ? 0 : mem;
}

void give_mapping(void* mem) {
    {
        std::lock_guard<std::mutex> lock(mappings_mutex);
        if (free_mappings.size() < MAPPINGS_KEPT) {
            free_mappings.push_back(mem);
            return;
        }
    }
    munmap(mem, MAPPING_SIZE);
}

// Unmaps the kept mappings: each Kea reconfiguration unloads the library, whose static
// memory goes, but mappings would stay behind.
void drop_free_mappings() {
    std::vector<void*> kept;
    {
        std::lock_guard<std::mutex> lock(mappings_mutex);
        kept.swap(free_mappings);
    }
    for (void* mem : kept) munmap(mem, MAPPING_SIZE);
}

// Returns the supervisor as a Process, or pid = -errno. detach: the caller will not wait for
// the script (async): when the call fits in the mapping, it is copied there and this returns
// as soon as the supervisor exists, leaving the script's exec to the supervisor, on another
// core if there is one. An exec failure then shows in Supervision::exec_err.
Process spawn_supervised(const char* path, char* const argv[], char* const envp[], int out_fd,
                         bool detach) {
    const std::size_t page = 4096;
    void* mem = take_mapping();
    if (!mem) return Process{-ENOMEM, -1, 0};
    Supervision* s = new (mem) Supervision();
    char* call_area = static_cast<char*>(mem) + page;
    char** argv_copy = 0;
    char** envp_copy = 0;
    const char* path_copy = 0;
    detach = detach && copy_call(call_area, CALL_AREA_SIZE, path, argv, envp, &path_copy,
                                 &argv_copy, &envp_copy);
    s->path = detach ? path_copy : path;
    s->argv = detach ? argv_copy : argv;
    s->envp = detach ? envp_copy : envp;
    s->out_fd = out_fd;
    s->script_stack = call_area + CALL_AREA_SIZE;
    char* supervisor_stack = s->script_stack + STACK_SIZE;
    // No signal handler of Kea may run in the supervisor or the script before its execve.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int pidfd = -1;
    // Exit signal 0 (no SIGCHLD): see supervisor_entry.
#ifdef RUNSCRIPT_FAKE_OLD_CLONE
    const int pidfd_flag = 0;
#else
    const int pidfd_flag = CLONE_PIDFD;
#endif
    pid_t pid = clone(supervisor_entry, supervisor_stack + STACK_SIZE, CLONE_VM | pidfd_flag,
                      s, &pidfd);
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &old, 0);
    if (pid < 0) {
        give_mapping(mem);
        return Process{-saved, -1, 0};
    }
    if (detach && pidfd >= 0) return Process{pid, pidfd, s};
    // argv and envp belong to the caller: wait until the script has exec'd (a few hundred
    // microseconds) before they may go.
    while (!__atomic_load_n(&s->launched, __ATOMIC_ACQUIRE)) {
        syscall(SYS_futex, &s->launched, FUTEX_WAIT, 0, 0, 0, 0);
    }
    if (s->exec_err != 0 || pidfd < 0) {
        // Exec failed, or a kernel without CLONE_PIDFD: reap the supervisor, report.
        int err = s->exec_err ? s->exec_err : EINVAL;
        int status;
        while (waitpid(pid, &status, __WALL) < 0 && errno == EINTR) {
        }
        if (pidfd >= 0) close(pidfd);
        give_mapping(mem);
        return Process{-err, -1, 0};
    }
    return Process{pid, pidfd, s};
}
#else
#define RUNSCRIPT_SUPERVISED 0
#endif

// A plain child that signals SIGCHLD as usual, for kernels without CLONE_PIDFD (< 5.2).
Process spawn_plain(const char* path, char* const argv[], char* const envp[], int out_fd) {
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
    return Process{rc == 0 ? pid : -rc, -1, 0};
#else
    volatile int err = 0;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = vfork();
    if (pid == 0) {
        exec_child(path, argv, envp, out_fd, &err);
    }
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &old, 0);
    if (pid < 0) return Process{-saved, -1, 0};
    if (err != 0) {
        int status;
        waitpid(pid, &status, 0);
        return Process{-err, -1, 0};
    }
    return Process{pid, -1, 0};
#endif
}

// Supervised where the kernel allows it (decided on first use), else a plain child.
Process spawn(const char* path, char* const argv[], char* const envp[], int out_fd,
              bool detach) {
#if RUNSCRIPT_SUPERVISED
    static std::atomic<bool> supervised_works(true);
    if (supervised_works) {
        Process p = spawn_supervised(path, argv, envp, out_fd, detach);
        if (p.pid != -EINVAL && p.pid != -ENOSYS) return p;
        supervised_works = false;
    }
#else
    (void)detach;
#endif
    return spawn_plain(path, argv, envp, out_fd);
}

void release(Process& p) {
    if (p.pidfd >= 0) close(p.pidfd);
    p.pidfd = -1;
    if (p.sup) give_mapping(p.sup);
    p.sup = 0;
}

Outcome from_status(pid_t pid, int status) {
    if (WIFEXITED(status)) return Outcome{Outcome::EXITED, WEXITSTATUS(status), pid};
    if (WIFSIGNALED(status)) return Outcome{Outcome::SIGNALED, WTERMSIG(status), pid};
    return Outcome{Outcome::UNKNOWN, 0, pid};
}

// waitpid that survives EINTR. __WALL: silent children (no SIGCHLD) need it.
pid_t reap(pid_t pid, int* status, int flags) {
    for (;;) {
        pid_t r = waitpid(pid, status, flags | __WALL);
        if (r >= 0) return r;
        if (errno == EINTR) continue;
        return -1;
    }
}

void kill_group(pid_t pid) {
    if (pid <= 0) return;
    // The script leads its own process group: take its children down with it.
    if (kill(-pid, SIGKILL) != 0) {
        kill(pid, SIGKILL);
    }
}

// 1: finished, *status valid; 0: still running (only with WNOHANG); -1: finished, status
// unknown (a plain child reaped by someone else).
int finish(Process& p, int* status, int flags) {
    pid_t got = reap(p.pid, status, flags);
    if (got == 0) return 0;
    if (p.sup) {
        // The supervisor is gone (reaped now, or never visible to anyone else).
        if (__atomic_load_n(&p.sup->done, __ATOMIC_ACQUIRE)) {
            *status = p.sup->status;
            return 1;
        }
        return -1;
    }
    return got == p.pid ? 1 : -1;
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

namespace {

// Waits for a started script for at most timeout_ms (<= 0: forever); kills its process
// group on timeout. When out_fd >= 0 (non-blocking read end of the script's output), lines
// go to on_line as they arrive; out_fd is closed. Releases the Process.
Outcome wait_child(Process p, int timeout_ms, int out_fd,
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
    int result = 0;  // as finish(): 1 done, -1 status unknown
    int status = 0;
    if (p.pidfd < 0) p.pidfd = open_pidfd(p.pid);
    long sleep_ms = 1;  // look-again interval when there is no pidfd
    while (result == 0) {
        struct pollfd fds[2];
        nfds_t count = 0;
        if (p.pidfd >= 0) {
            fds[count].fd = p.pidfd;
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
        int wait_ms = p.pidfd >= 0 ? -1 : static_cast<int>(sleep_ms);
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
        if (p.pidfd < 0 || (r > 0 && (fds[0].revents & POLLIN))) {
            result = finish(p, &status, WNOHANG);
            sleep_ms = std::min(sleep_ms * 2, 10L);
        }
        if (result == 0 && deadline && monotonic_ms() >= deadline) {
            timed_out = true;
            kill_group(p.script());
            break;
        }
    }
    if (out_fd >= 0) {
        // The script is gone: take what it wrote, without waiting for any child of it that
        // still holds the pipe.
        buffer.read_from(out_fd, lines);
        buffer.flush(lines);
        deliver();
        close(out_fd);
    }
    if (result == 0) result = finish(p, &status, 0);
    const pid_t script = p.script();
    release(p);
    if (timed_out) return Outcome{Outcome::TIMED_OUT, 0, script};
    if (result < 0) return Outcome{Outcome::UNKNOWN, 0, script};
    return from_status(script, status);
}

}  // namespace

namespace {
Limits with_max_async(std::size_t max_async) {
    Limits limits;
    limits.max_async = max_async;
    return limits;
}
}  // namespace

Launcher::Launcher(std::size_t max_async, EventSink sink, LineSink lines)
    : Launcher(with_max_async(max_async), sink, lines) {}

Launcher::Launcher(const Limits& limits, EventSink sink, LineSink lines)
    : max_async_(limits.max_async), limits_(limits), sink_(sink), lines_(lines), reserved_(0),
      wake_fd_(-1), stopping_(false) {
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
#if RUNSCRIPT_SUPERVISED
    drop_free_mappings();
#endif
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
    Process proc = spawn(path, argv, envp, out[1], !wait);
    if (out[1] >= 0) close(out[1]);
    if (out[0] >= 0) fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
    if (proc.pid < 0 && out[0] >= 0) {
        close(out[0]);
        out[0] = -1;
    }
    if (wait) {
        if (proc.pid < 0) return Outcome{Outcome::SPAWN_FAILED, static_cast<int>(-proc.pid), -1};
        const LineSink& sink = lines_;
        const std::string script(path);
        const pid_t shown = proc.script();
        return wait_child(proc, timeout_ms, out[0], [&sink, &script, shown](const std::string& line) {
            if (sink) sink(script, shown, line);
        });
    }
    // Once listed, the reaper may release the child at any time: read what we need first.
    // (-1 too when the supervisor has not started the script yet: it runs on its own.)
    const pid_t shown = proc.pid > 0 && proc.script() > 0 ? proc.script() : -1;
#ifdef RUNSCRIPT_FAULT_THROW_AFTER_SPAWN
    static bool thrown = false;
    if (!thrown) {
        thrown = true;
        throw std::bad_alloc();
    }
#endif
    Child child;
    child.proc = proc;
    if (proc.pid > 0 && child.proc.pidfd < 0) child.proc.pidfd = open_pidfd(proc.pid);
    child.deadline = timeout_ms > 0 ? monotonic_ms() + timeout_ms : 0;
    child.killed = false;
    child.script = path;
    child.out_fd = out[0];
    if (out[0] >= 0) child.buffer = std::make_shared<LineBuffer>();
    {
        std::lock_guard<std::mutex> lock(mutex_);
        --reserved_;
        if (proc.pid > 0) children_.push_back(child);
    }
    if (proc.pid < 0) return Outcome{Outcome::SPAWN_FAILED, static_cast<int>(-proc.pid), -1};
    if (wake_fd_ >= 0) {
        uint64_t one = 1;
        ssize_t ignored = write(wake_fd_, &one, sizeof(one));
        (void)ignored;
    }
    return Outcome{Outcome::STARTED, 0, shown};
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
                p.fd = c.proc.pidfd;  // poll() ignores negative fds
                p.events = POLLIN;
                p.revents = 0;
                fds.push_back(p);
                if (c.out_fd >= 0) {
                    p.fd = c.out_fd;
                    fds.push_back(p);
                }
                if (c.proc.pidfd < 0) need_polling = true;
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
        // (script, pid, lines): copied out, since the children's memory is released below.
        struct Output {
            std::string script;
            pid_t pid;
            std::vector<std::string> lines;
        };
        std::vector<Output> output;
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
                    if (!lines.empty()) output.push_back(Output{c.script, c.proc.script(), lines});
                }
                int status = 0;
                const pid_t shown = c.proc.script();
                int result = finish(c.proc, &status, WNOHANG);
                if (result != 0) {
                    if (c.out_fd >= 0) {
                        std::vector<std::string> lines;
                        c.buffer->read_from(c.out_fd, lines);
                        c.buffer->flush(lines);
                        close(c.out_fd);
                        if (!lines.empty()) output.push_back(Output{c.script, shown, lines});
                    }
                    const int exec_err = c.proc.sup ? c.proc.sup->exec_err : 0;
                    if (exec_err != 0) {
                        events.push_back(AsyncEvent{AsyncEvent::SPAWN_FAILED, c.script, -1,
                                                    exec_err});
                    } else if (result > 0 && !c.killed) {
                        if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
                            events.push_back(AsyncEvent{AsyncEvent::EXITED_NONZERO, c.script,
                                                        shown, WEXITSTATUS(status)});
                        } else if (WIFSIGNALED(status)) {
                            events.push_back(AsyncEvent{AsyncEvent::SIGNALED, c.script, shown,
                                                        WTERMSIG(status)});
                        }
                    }
                    release(c.proc);
                    children_[i] = children_.back();
                    children_.pop_back();
                    continue;
                }
                if (c.deadline && !c.killed && now >= c.deadline) {
                    kill_group(c.proc.script());
                    c.killed = true;
                    events.push_back(AsyncEvent{AsyncEvent::TIMED_OUT, c.script, c.proc.script(), 0});
                }
                ++i;
            }
        }
        // Report outside the lock: the sinks log, which may take their own locks.
        for (const Output& entry : output) {
            for (const std::string& line : entry.lines) {
                if (lines_) lines_(entry.script, entry.pid, line);
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
        if (c.out_fd >= 0) close(c.out_fd);
        long long remaining = c.deadline ? c.deadline - monotonic_ms() : 0;
        if (c.killed || (c.deadline && remaining <= 0)) {
            kill_group(c.proc.script());
            int status;
            finish(c.proc, &status, 0);
            release(c.proc);
        } else {
            wait_child(c.proc, c.deadline ? static_cast<int>(remaining) : 0, -1,
                       std::function<void(const std::string&)>());
        }
    }
}

std::size_t kept_mappings() {
#if RUNSCRIPT_SUPERVISED
    std::lock_guard<std::mutex> lock(mappings_mutex);
    return free_mappings.size();
#else
    return 0;
#endif
}

}  // namespace runscript
