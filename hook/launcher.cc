// The process launcher (see launcher.h for what it promises). Sections, each with the
// invariant it relies on stated once:
//   1. build switches: every kernel- or libc-dependent path can be forced off at build time;
//   2. code without libc: what runs in the supervisor and in the script before its exec, is
//      supervisor.cc's (supervisor.h);
//   3. the kernel's support for pidfds, decided once, without running a script;
//   4. the supervisor, the script's pid and the kill protocol;
//   5. launch memory (kept for reuse, with guard pages);
//   6. spawning (supervised or plain), killing and reaping;
//   7. captured output, bounded per wake-up and per run;
//   8. synchronous waits;
//   9. the Launcher: asynchronous slots, the reaper, the bounded stop.

#include "launcher.h"
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/auxv.h>
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
#include <atomic>
#include <cstring>
#include <new>
#include <utility>

// ---- 1. Build switches ------------------------------------------------------------------------
//
// RUNSCRIPT_NO_CLOSE_RANGE: close fds through /proc/self/fd (kernels before 5.9).
// RUNSCRIPT_NO_PIDFD: no pidfds and no supervisor (kernels before 5.3): plain children.
// RUNSCRIPT_NO_SPAWN_CLOSEFROM: vfork() instead of posix_spawn (glibc before 2.34).
// Test-only fault injection: RUNSCRIPT_FAKE_OLD_CLONE (the kernel ignores CLONE_PIDFD and has
// no pidfd_open, as before 5.2), RUNSCRIPT_FAKE_CLONE_IGNORES_PIDFD (only the clone ignores it),
// RUNSCRIPT_FAULT_SUPERVISOR_DIES (the supervisor exits before waking the caller),
// RUNSCRIPT_FAULT_SUPERVISOR_CRASHES (it dies of a core-dumping signal instead),
// RUNSCRIPT_FAULT_SLOW_EXEC (the script's exec takes 1.5 s),
// RUNSCRIPT_FAULT_SLOW_SUPERVISOR=MS (it starts the script MS milliseconds late, MS < 1000),
// RUNSCRIPT_FAULT_THROW_AFTER_SPAWN (the first async launch throws once the script is started).

// glibc 2.34 added posix_spawn_file_actions_addclosefrom_np: with it posix_spawn alone gives
// the child only fds 0-2. Older C libraries take the vfork() path below instead.
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34)) && \
    !defined(RUNSCRIPT_NO_SPAWN_CLOSEFROM)
#define RUNSCRIPT_SPAWN_CLOSEFROM 1
#else
#define RUNSCRIPT_SPAWN_CLOSEFROM 0
#endif


#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

namespace runscript {

long long monotonic_ms() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<long long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

namespace {

// ---- 3. Kernel support for pidfds ------------------------------------------------------------

#ifdef RUNSCRIPT_FAKE_OLD_CLONE
long sys_pidfd_open(pid_t, unsigned) { return -ENOSYS; }
long sys_pidfd_send_signal(int, int) { return -ENOSYS; }
#else
long sys_pidfd_open(pid_t pid, unsigned flags) {
    long fd = syscall(SYS_pidfd_open, pid, flags);
    return fd < 0 ? -errno : fd;
}
long sys_pidfd_send_signal(int pidfd, int sig) {
    return syscall(SYS_pidfd_send_signal, pidfd, sig, 0, 0) == 0 ? 0 : -errno;
}
#endif

// Pollable pidfds (Linux 5.3, which also has CLONE_PIDFD, 5.2, and pidfd_send_signal, 5.1).
// Asked once per library load, of the kernel, on our own pid: never by running a script.
bool pidfds_usable() {
#if RUNSCRIPT_PIDFD
    static const bool usable = []() {
        const long fd = sys_pidfd_open(getpid(), 0);
        if (fd < 0) return false;
        close(static_cast<int>(fd));
        return true;
    }();
    return usable;
#else
    return false;
#endif
}

int open_pidfd(pid_t pid) {
    if (!pidfds_usable()) return -1;
    // The kernel sets close-on-exec: no process Kea starts inherits it.
    const long fd = sys_pidfd_open(pid, 0);
    return fd < 0 ? -1 : static_cast<int>(fd);
}

}  // namespace

// ---- 4. The supervisor ----------------------------------------------------------------------
//
// A separate process in Kea's memory, with every signal blocked and no libc: it starts the
// script as its own child, waits for it and leaves the status in this block. It never calls
// exec, so it keeps exit signal 0: Kea's own child handling (waitpid(-1) when kea-lfc ends)
// cannot see it, and cannot see the script either, which is the supervisor's child. The hook
// learns the end through the supervisor's pidfd.
//
// Killing the script without a pid-reuse race: the script's pid cannot be reused while the
// script is unreaped, and only the supervisor reaps it. `state` decides who goes first: the
// hook moves RUNNING -> KILLING, signals the script's group, moves back to RUNNING; the
// supervisor, once waitid(WNOWAIT) says the script has ended, moves RUNNING -> REAPING (waiting
// on the futex while the hook holds KILLING), and only then reaps.
//
// Whether the script starts at all is decided the same way, before the clone: the supervisor
// moves NOT_STARTED -> RUNNING and starts it, or finds CANCELLED (the hook gave up: timeout,
// stop) and ends. So the hook never kills a supervisor that may still start a script: such a
// script would run this library's code, before its exec, after the library is unmapped.

namespace {

// Copies path, argv and envp into `area` (pointer arrays first, then the strings) so the
// caller's copies may go before the script has exec'd. False when they do not fit.
[[maybe_unused]] bool copy_call(char* area, std::size_t size, const char* path, char* const argv[],
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

#if RUNSCRIPT_SUPERVISED
// ---- 5. Launch memory -----------------------------------------------------------------------
//
// Layout: the Supervision block (one page), a copy of an asynchronous call's path, argv and
// envp, a guard page, the script's stack, a guard page, the supervisor's stack. The guard pages
// turn a stack overflow into a crash of that process instead of a silent write into the other
// stack or the call. Mappings are kept for reuse: an munmap in a multi-threaded Kea costs a TLB
// shootdown on every core, per script run.
//
// Pages are the kernel's, asked once when the library is loaded: arm64 kernels have 4, 16
// (Raspberry Pi 5) or 64 KiB pages (Ubuntu's and RHEL's -64k kernels), and mprotect refuses a
// guard page that does not start on a page boundary. Every part is a whole number of pages, so
// that every offset is a page boundary.
std::size_t kernel_page_size() {
    long size = sysconf(_SC_PAGESIZE);
    if (size <= 0) size = static_cast<long>(getauxval(AT_PAGESZ));
    return size > 0 ? static_cast<std::size_t>(size) : 4096;
}
const std::size_t PAGE = kernel_page_size();
std::size_t page_rounded(std::size_t bytes) {
    return (bytes + PAGE - 1) / PAGE * PAGE;
}
const std::size_t STACK_SIZE = page_rounded(64 * 1024);
const std::size_t CALL_AREA_SIZE = page_rounded(64 * 1024);
const std::size_t SCRIPT_STACK_AT = PAGE + CALL_AREA_SIZE + PAGE;
const std::size_t SUPERVISOR_STACK_AT = SCRIPT_STACK_AT + STACK_SIZE + PAGE;
const std::size_t MAPPING_SIZE = SUPERVISOR_STACK_AT + STACK_SIZE;
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
    if (mem == MAP_FAILED) return 0;
    char* base = static_cast<char*>(mem);
    if (mprotect(base + SCRIPT_STACK_AT - PAGE, PAGE, PROT_NONE) != 0 ||
        mprotect(base + SUPERVISOR_STACK_AT - PAGE, PAGE, PROT_NONE) != 0) {
        munmap(mem, MAPPING_SIZE);
        return 0;
    }
    return mem;
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
#endif  // RUNSCRIPT_SUPERVISED

}  // namespace

pid_t Process::script() const {
    return sup ? __atomic_load_n(&sup->script_pid, __ATOMIC_ACQUIRE) : pid;
}

namespace {

// ---- 6. Spawning, killing, reaping ----------------------------------------------------------

// waitpid that survives EINTR. __WALL: silent children (no SIGCHLD) need it.
pid_t reap(pid_t pid, int* status, int flags) {
    for (;;) {
        pid_t r = waitpid(pid, status, flags | __WALL);
        if (r >= 0) return r;
        if (errno == EINTR) continue;
        return -1;
    }
}

// True once `pid` (our child) has ended, without reaping it.
bool has_ended(pid_t pid) {
    siginfo_t info;
    info.si_pid = 0;
    for (;;) {
        if (waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT | __WALL) == 0) {
            return info.si_pid == pid;
        }
        if (errno != EINTR) return true;  // ECHILD: nothing left to wait for
    }
}

void futex_wake_all(int* word) {
    syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, 0, 0, 0);
}

void kill_group(pid_t pid) {
    if (pid <= 0) return;
    // The script leads its own process group: take its children down with it. The script
    // itself by its pid too: before its setpgid the group does not exist yet, and it may have
    // left the group (setpgid, setsid) with its children still there.
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
}

// Kills the script's process group, or makes sure a supervisor that has not started it never
// will (it then ends on its own). False only while a supervisor is between deciding to start
// the script and its clone, a few microseconds: try again shortly. Supervised scripts: see
// section 4 (no pid reuse). Plain children (no supervisor): by pid; Kea's waitpid(-1) may reap
// such a child under us, and its pid may then be reused: the residual race of kernels without
// pidfds.
bool kill_script(const Process& p) {
    if (!p.sup) {
        kill_group(p.pid);
        return true;
    }
    Supervision* s = p.sup;
    int not_started = NOT_STARTED;
    if (__atomic_compare_exchange_n(&s->state, &not_started, static_cast<int>(CANCELLED), false,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) ||
        not_started == CANCELLED) {
        return true;
    }
    const pid_t pid = __atomic_load_n(&s->script_pid, __ATOMIC_ACQUIRE);
    if (pid <= 0) return false;
    int expected = RUNNING;
    if (__atomic_compare_exchange_n(&s->state, &expected, static_cast<int>(KILLING), false,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        kill_group(pid);
        __atomic_store_n(&s->state, static_cast<int>(RUNNING), __ATOMIC_RELEASE);
        futex_wake_all(&s->state);
    }
    // REAPING: the script has ended already.
    return true;
}

// Kills the process we wait for itself (a supervisor: through its pidfd when there is one;
// its pid cannot be reused before we reap it either). A supervisor only once kill_script has
// succeeded: it must not leave a script behind that runs this library's code before its exec.
void kill_waited(const Process& p) {
    if (p.pid <= 0) return;
    if (p.pidfd >= 0 && sys_pidfd_send_signal(p.pidfd, SIGKILL) == 0) return;
    kill(p.pid, SIGKILL);
}

#if RUNSCRIPT_SUPERVISED
// Waits for the supervisor's word that the script has exec'd; false when the supervisor died
// without giving it (checked every 20 ms: a Kea thread never hangs on a dead supervisor).
bool wait_launched(const Process& p) {
    while (!__atomic_load_n(&p.sup->launched, __ATOMIC_ACQUIRE)) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        syscall(SYS_futex, &p.sup->launched, FUTEX_WAIT, 0, &ts, 0, 0);
        if (__atomic_load_n(&p.sup->launched, __ATOMIC_ACQUIRE)) break;
        if (has_ended(p.pid)) return __atomic_load_n(&p.sup->launched, __ATOMIC_ACQUIRE) != 0;
    }
    return true;
}

// Returns the supervisor as a Process, or pid = -errno. detach: the caller does not need the
// script's exec done (Launcher::run, both modes): when the call fits in the mapping, it is copied there and this returns
// as soon as the supervisor exists, leaving the script's exec to the supervisor, on another
// core if there is one. An exec failure then shows in Supervision::exec_err.
// *refused: the kernel refused the supervisor's own clone (EINVAL under qemu-user, EPERM or
// ENOSYS from a seccomp filter): nothing ran, and no later launch can be supervised. Only
// then: a script's exec fails with EPERM or EINVAL too (a file capability outside the
// bounding set, a seccomp filter on one path), and that is the one run's failure.
Process spawn_supervised(const char* path, char* const argv[], char* const envp[], Stdio io,
                         bool detach, bool* refused) {
    *refused = false;
    void* mem = take_mapping();
    if (!mem) return Process{-ENOMEM, -1, 0};
    Supervision* s = new (mem) Supervision();
    char* base = static_cast<char*>(mem);
    char* call_area = base + PAGE;
    char** argv_copy = 0;
    char** envp_copy = 0;
    const char* path_copy = 0;
    detach = detach && copy_call(call_area, CALL_AREA_SIZE, path, argv, envp, &path_copy,
                                 &argv_copy, &envp_copy);
    s->path = detach ? path_copy : path;
    s->argv = detach ? argv_copy : argv;
    s->envp = detach ? envp_copy : envp;
    s->io = io;
    s->io_placed = 0;
    s->script_stack_top = base + SCRIPT_STACK_AT + STACK_SIZE;
    // No signal handler of Kea may run in the supervisor or the script before its execve.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
#if defined(RUNSCRIPT_FAKE_OLD_CLONE) || defined(RUNSCRIPT_FAKE_CLONE_IGNORES_PIDFD)
    const unsigned long pidfd_flag = 0;  // an old kernel ignores the flag
#else
    const unsigned long pidfd_flag = CLONE_PIDFD;
#endif
    int pidfd = -1;
    // Exit signal 0 (no SIGCHLD): see section 4.
    const long pid = runscript_clone(CLONE_VM | pidfd_flag, base + SUPERVISOR_STACK_AT + STACK_SIZE,
                                     &pidfd, supervisor_entry, s);
    pthread_sigmask(SIG_SETMASK, &old, 0);
    if (pid < 0) {
        give_mapping(mem);
        *refused = pid == -EINVAL || pid == -ENOSYS || pid == -EPERM;
        return Process{static_cast<pid_t>(pid), -1, 0};
    }
    // A kernel that ignored CLONE_PIDFD although it has pidfd_open (none known) still gets a
    // working supervisor: waited for by polling, like a plain child. Never started twice.
    Process p{static_cast<pid_t>(pid), pidfd, s};
    if (detach) return p;
    // argv and envp belong to the caller: wait until the script has exec'd (a few hundred
    // microseconds) before they may go.
    const bool launched = wait_launched(p);
    if (!launched || s->exec_err != 0) {
        const int err = launched ? s->exec_err : ECHILD;
        int status;
        reap(p.pid, &status, 0);  // it has ended, or is about to (exec failure)
        if (pidfd >= 0) close(pidfd);
        give_mapping(mem);
        return Process{-err, -1, 0};
    }
    return p;
}
#endif

// Makes a pipe end >= 3 (Kea may run with 0-2 closed: pipe2 then returns those), still
// close-on-exec. -1 when that fails.
int above_stdio(int fd) {
    if (fd < 0 || fd >= 3) return fd;
    const int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return moved;
}

// Whether a vfork child shares our memory, as the kernel's vfork does. Under qemu-user it does
// not (it runs vfork and posix_spawn's CLONE_VM|CLONE_VFORK as a fork): then neither
// posix_spawn nor exec_child's *err can tell that an exec failed. Asked once, by a child that
// only writes one variable and exits: never by running a script.
bool vfork_shares_memory() {
    static const bool shares = []() {
        volatile int mark = 0;
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        const pid_t pid = vfork();
        if (pid == 0) {
            mark = 1;
            raw_exit(0);
        }
        pthread_sigmask(SIG_SETMASK, &old, 0);
        if (pid < 0) return true;  // no answer: keep the usual path
        int status;
        while (waitpid(pid, &status, __WALL) < 0 && errno == EINTR) {
        }
        return mark == 1;
    }();
    return shares;
}

// The plain child where vfork is a fork (see vfork_shares_memory): an exec failure comes back
// through a close-on-exec pipe, which the exec closes. The read waits for the child's exec, as
// vfork would.
Process spawn_plain_reported(const char* path, char* const argv[], char* const envp[], Stdio io) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return Process{-errno, -1, 0};
    fds[0] = above_stdio(fds[0]);
    fds[1] = above_stdio(fds[1]);
    if (fds[0] < 0 || fds[1] < 0) {
        if (fds[0] >= 0) close(fds[0]);
        if (fds[1] >= 0) close(fds[1]);
        return Process{-EMFILE, -1, 0};
    }
    volatile int err = 0;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    const pid_t pid = vfork();
    if (pid == 0) {
        exec_child(path, argv, envp, io, &err, fds[1]);
    }
    const int saved = errno;
    pthread_sigmask(SIG_SETMASK, &old, 0);
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return Process{-saved, -1, 0};
    }
    int reported = 0;
    ssize_t n;
    while ((n = read(fds[0], &reported, sizeof(reported))) < 0 && errno == EINTR) {
    }
    close(fds[0]);
    if (n == static_cast<ssize_t>(sizeof(reported)) && reported != 0) {
        int status;
        reap(pid, &status, 0);
        return Process{-reported, -1, 0};
    }
    return Process{pid, open_pidfd(pid), 0};
}

// A plain child that signals SIGCHLD as usual: kernels without pidfds, other architectures.
Process spawn_plain(const char* path, char* const argv[], char* const envp[], Stdio io) {
    if (!vfork_shares_memory()) return spawn_plain_reported(path, argv, envp, io);
#if RUNSCRIPT_SPAWN_CLOSEFROM
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    const int given[3] = {io.in, io.out, io.err};
    for (int fd = 0; fd <= 2; ++fd) {
        if (given[fd] >= 0) posix_spawn_file_actions_adddup2(&actions, given[fd], fd);
    }
    // As exec_child: /dev/null for any of 0-2 that is closed or close-on-exec in Kea.
    for (int fd = 0; fd <= 2; ++fd) {
        if (given[fd] >= 0) continue;
        const int flags = fcntl(fd, F_GETFD);
        if (flags < 0 || (flags & FD_CLOEXEC)) {
            posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_RDWR, 0);
        }
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
    if (rc != 0) return Process{-rc, -1, 0};
    return Process{pid, open_pidfd(pid), 0};
#else
    volatile int err = 0;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = vfork();
    if (pid == 0) {
        exec_child(path, argv, envp, io, &err);
    }
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &old, 0);
    if (pid < 0) return Process{-saved, -1, 0};
    if (err != 0) {
        int status;
        reap(pid, &status, 0);
        return Process{-err, -1, 0};
    }
    return Process{pid, open_pidfd(pid), 0};
#endif
}

void release(Process& p) {
    if (p.pidfd >= 0) close(p.pidfd);
    p.pidfd = -1;
#if RUNSCRIPT_SUPERVISED
    if (p.sup) give_mapping(p.sup);
#endif
    p.sup = 0;
}

Outcome from_status(pid_t pid, int status) {
    if (WIFEXITED(status)) return Outcome{Outcome::EXITED, WEXITSTATUS(status), pid};
    if (WIFSIGNALED(status)) return Outcome{Outcome::SIGNALED, WTERMSIG(status), pid};
    return Outcome{Outcome::UNKNOWN, 0, pid};
}

// 1: finished, *status valid; 0: still running (only with WNOHANG); -1: finished, status
// unknown (a plain child reaped by someone else, or a supervisor that did not start it).
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

// errno of a script that could not be started, found once its supervisor has ended (0: it
// was started).
int start_error(const Process& p) {
    if (!p.sup) return 0;
    // Not started because the hook said so (timeout, stop): the caller knows why.
    if (__atomic_load_n(&p.sup->state, __ATOMIC_ACQUIRE) == CANCELLED) return 0;
    if (p.sup->exec_err != 0) return p.sup->exec_err;
    // A supervisor that ended without starting anything (killed, or a fault).
    return __atomic_load_n(&p.sup->script_pid, __ATOMIC_ACQUIRE) > 0 ? 0 : ECHILD;
}

// Kills the script, then waits for what we wait for: used when the caller cannot go on
// (an exception). Bounded: the script is gone or will never start, the supervisor follows at
// once.
void kill_and_reap(Process& p) {
    int status;
    for (int i = 0; i < 1000 && !kill_script(p); ++i) {
        if (has_ended(p.pid)) break;
        usleep(1000);
    }
    // A supervisor still short of its clone after a second is stuck: the wait stays bounded.
    if (!kill_script(p)) kill_waited(p);
    finish(p, &status, 0);
    release(p);
}

}  // namespace

// ---- 7. Captured output ---------------------------------------------------------------------

LineBuffer::LineBuffer(std::size_t max_lines) : max_lines_(max_lines) {}

void LineBuffer::end_line(std::vector<std::string>& lines) {
    if (kept_ < max_lines_) {
        lines.push_back(partial_);
        ++kept_;
    } else {
        ++dropped_;
    }
    partial_.clear();
    pending_ = false;
}

bool LineBuffer::read_from(int fd, std::size_t max_bytes, std::vector<std::string>& lines) {
    char buf[16 * 1024];
    std::size_t total = 0;
    while (total < max_bytes) {
        ssize_t n = read(fd, buf, std::min(sizeof(buf), max_bytes - total));
        if (n > 0) {
            total += static_cast<std::size_t>(n);
            const char* at = buf;
            const char* const end = buf + n;
            while (at < end) {
                const char* nl = static_cast<const char*>(std::memchr(at, '\n', end - at));
                const char* stop = nl ? nl : end;
                if (stop > at) {
                    pending_ = true;
                    // Lines past the cap are only counted: their text is never kept.
                    if (kept_ < max_lines_ && partial_.size() < MAX) {
                        partial_.append(at, std::min<std::size_t>(stop - at, MAX - partial_.size()));
                    }
                }
                if (!nl) break;
                end_line(lines);
                at = nl + 1;
            }
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
        return false;  // end of file or error
    }
    return true;  // this wake-up's share is read; more may wait
}

void LineBuffer::drop(std::size_t lines) {
    dropped_ += lines;
}

void LineBuffer::flush(std::vector<std::string>& lines) {
    if (pending_) end_line(lines);
    if (dropped_ > 0) {
        lines.push_back("... " + std::to_string(dropped_) + " more lines dropped (max-output-lines)");
        dropped_ = 0;
    }
}

namespace {

// ---- 8. Synchronous waits -------------------------------------------------------------------

// Waits for a started script until `deadline` (monotonic_ms; 0: forever), which counts from
// the call, before the spawn: a supervised script's exec may still be under way (stuck on a
// hung filesystem, say) and is then killed on time like the script. Kills its process group
// on timeout. When out_fd >= 0 (non-blocking read end of the script's output), lines go to
// on_line as they arrive, at most limits.read_bytes per wake-up and limits.max_lines per run;
// out_fd is closed. Releases the Process, also when on_line throws (after killing the script).
// A script that could not be started (exec failure, found once its supervisor ended) gives
// SPAWN_FAILED with its errno.
Outcome wait_child(Process p, long long deadline, int out_fd, const Limits& limits,
                   const std::function<void(const std::string&)>& on_line) {
    LineBuffer buffer(limits.max_lines);
    std::vector<std::string> lines;
    // Past the deadline, the lines still to log are counted as dropped: killing comes first.
    auto deliver = [&](bool check_deadline) {
        for (std::size_t i = 0; i < lines.size(); ++i) {
            if (check_deadline && deadline && monotonic_ms() >= deadline) {
                buffer.drop(lines.size() - i);
                break;
            }
            if (on_line) on_line(lines[i]);
        }
        lines.clear();
    };
    bool timed_out = false;
    int result = 0;  // as finish(): 1 done, -1 status unknown
    int status = 0;
    try {
        long sleep_ms = 1;  // look-again interval when there is no pidfd
        long long quiet_until = 0;  // discarding: no reading before then
        while (result == 0) {
            struct pollfd fds[2];
            nfds_t count = 0;
            if (p.pidfd >= 0) {
                fds[count].fd = p.pidfd;
                fds[count].events = POLLIN;
                fds[count].revents = 0;
                ++count;
            }
            const long long before = monotonic_ms();
            const bool reading = out_fd >= 0 && before >= quiet_until;
            if (reading) {
                fds[count].fd = out_fd;
                fds[count].events = POLLIN;
                fds[count].revents = 0;
                ++count;
            }
            int wait_ms = p.pidfd >= 0 ? -1 : static_cast<int>(sleep_ms);
            if (out_fd >= 0 && !reading) {
                const int quiet = static_cast<int>(quiet_until - before);
                wait_ms = wait_ms < 0 ? quiet : std::min(wait_ms, quiet);
            }
            if (deadline) {
                long long left = deadline - before;
                int until = left > 0 ? static_cast<int>(left) : 0;
                wait_ms = wait_ms < 0 ? until : std::min(wait_ms, until);
            }
            int r = count ? poll(fds, count, wait_ms) : 0;
            if (!count) {
                struct timespec ts = {0, wait_ms * 1000000L};
                nanosleep(&ts, 0);
            }
            if (r < 0 && errno != EINTR) break;
            if (reading) {
                if (!buffer.read_from(out_fd, limits.read_bytes, lines)) {
                    close(out_fd);
                    out_fd = -1;
                } else if (buffer.discarding()) {
                    quiet_until = monotonic_ms() + DISCARD_INTERVAL_MS;
                }
            }
            deliver(true);
            if (p.pidfd < 0 || (r > 0 && (fds[0].revents & POLLIN))) {
                result = finish(p, &status, WNOHANG);
                sleep_ms = std::min(sleep_ms * 2, 10L);
            }
            if (result == 0 && deadline && monotonic_ms() >= deadline && kill_script(p)) {
                timed_out = true;
                break;
            }
        }
        if (out_fd >= 0) {
            // The script is gone: take what it wrote, one wake-up's share, without waiting for
            // any child of it that still holds the pipe.
            buffer.read_from(out_fd, limits.read_bytes, lines);
            close(out_fd);
            out_fd = -1;
        }
        buffer.flush(lines);
        deliver(false);
    } catch (...) {
        if (out_fd >= 0) close(out_fd);
        if (result == 0) kill_and_reap(p);
        else release(p);
        throw;
    }
    if (result == 0) result = finish(p, &status, 0);
    const pid_t script = p.script();
    const int not_started = result < 0 && !timed_out ? start_error(p) : 0;
    release(p);
    if (timed_out) return Outcome{Outcome::TIMED_OUT, 0, script};
    if (not_started) return Outcome{Outcome::SPAWN_FAILED, not_started, -1};
    if (result < 0) return Outcome{Outcome::UNKNOWN, 0, script};
    return from_status(script, status);
}

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

void wake(int fd) {
    if (fd < 0) return;
    uint64_t one = 1;
    ssize_t ignored = write(fd, &one, sizeof(one));
    (void)ignored;
}

// How long, at stop, the processes we wait for may take to end once their scripts are
// killed, before the supervisors themselves are killed.
const int STOP_GRACE_MS = 300;
// How soon a kill is tried again when a supervisor is about to start the script (kill_script).
const int KILL_RETRY_MS = 2;

// poll() refuses a set of more entries than the soft RLIMIT_NOFILE (EINVAL), ignored ones (-1)
// included, and the limit may be lowered below the fds already open. A refused set must not
// leave the caller blind (its children would never be reaped): it then waits at most 10 ms and
// reports every entry ready, so that the caller looks at each one (a non-blocking reap, a
// non-blocking read) as it does where there are no pidfds.
int poll_or_look(struct pollfd* fds, nfds_t count, int timeout_ms) {
    const int r = poll(fds, count, timeout_ms);
    if (r >= 0 || errno != EINVAL) return r;
    const int wait_ms = timeout_ms < 0 ? 10 : std::min(timeout_ms, 10);
    struct timespec ts = {0, wait_ms * 1000000L};
    nanosleep(&ts, 0);
    for (nfds_t i = 0; i < count; ++i) fds[i].revents = fds[i].fd >= 0 ? POLLIN : 0;
    return static_cast<int>(count);
}

}  // namespace

// ---- Long-running programs (handlers) ------------------------------------------------------

namespace {
std::atomic<int> programs_supervised(-1);  // -1: not asked yet
}  // namespace

Process start_program(const char* path, char* const argv[], char* const envp[], const Stdio& io) {
#if RUNSCRIPT_SUPERVISED
    int supervised = programs_supervised.load();
    if (supervised < 0) {
        supervised = pidfds_usable() ? 1 : 0;
        programs_supervised = supervised;
    }
    if (supervised) {
        bool refused;
        Process p = spawn_supervised(path, argv, envp, io, false, &refused);
        if (!refused) return p;
        programs_supervised = 0;  // nothing ran: plain from now on
    }
#endif
    return spawn_plain(path, argv, envp, io);
}

void kill_program(const Process& p) {
    if (p.pid <= 0) return;
    // Not detached: the supervisor told the script's pid before start_program returned.
    if (!kill_script(p)) kill_waited(p);
}

int reap_program(Process& p, int* status, bool block) {
    if (p.pid <= 0) return -1;
    const int result = finish(p, status, block ? 0 : WNOHANG);
    if (result != 0) {
        release(p);
        p.pid = -1;
    }
    return result;
}

void drop_kept_mappings() {
#if RUNSCRIPT_SUPERVISED
    drop_free_mappings();
#endif
}

// ---- 9. The Launcher ------------------------------------------------------------------------

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
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    try {
        reaper_ = std::thread(&Launcher::reaper_loop, this);
    } catch (...) {
        pthread_sigmask(SIG_SETMASK, &old, 0);
        if (wake_fd_ >= 0) close(wake_fd_);
        throw;
    }
    pthread_sigmask(SIG_SETMASK, &old, 0);
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
#if RUNSCRIPT_SUPERVISED
    drop_free_mappings();
#endif
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
                      int timeout_ms, bool capture) {
    const long long deadline = timeout_ms > 0 ? monotonic_ms() + timeout_ms : 0;
    Child child;
    if (!wait) {
        std::size_t used = slots_.load();
        do {
            if (!reaper_.joinable() || used >= max_async_) {
                return Outcome{Outcome::LIMIT, static_cast<int>(used), -1};
            }
        } while (!slots_.compare_exchange_weak(used, used + 1));
        // What allocates comes before the spawn: after it, a throw would lose the script.
        try {
            child.script = path;
            child.buffer = LineBuffer(limits_.max_lines);
        } catch (...) {
            --slots_;
            throw;
        }
    }
    // Both ends close-on-exec: no other process Kea starts may hold the pipe open.
    int out[2] = {-1, -1};
    if (capture && pipe2(out, O_CLOEXEC) == 0) {
        out[0] = above_stdio(out[0]);
        out[1] = above_stdio(out[1]);
        if (out[0] < 0 || out[1] < 0) {
            if (out[0] >= 0) close(out[0]);
            if (out[1] >= 0) close(out[1]);
            out[0] = out[1] = -1;
        }
    } else {
        out[0] = out[1] = -1;
    }
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
        close(c.out_fd);
        c.out_fd = -1;
    }
    try {
        c.buffer.flush(lines);
    } catch (...) {
        lines.clear();  // the reaper must go on: the summary line is lost, nothing else
    }
    deliver(c, lines);
    const pid_t shown = c.proc.script();
    const int err = start_error(c.proc);
    if (err != 0) {
        report(AsyncEvent{AsyncEvent::SPAWN_FAILED, c.script, -1, err});
    } else if (result > 0 && !c.killed) {
        if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
            report(AsyncEvent{AsyncEvent::EXITED_NONZERO, c.script, shown, WEXITSTATUS(status)});
        } else if (WIFSIGNALED(status)) {
            report(AsyncEvent{AsyncEvent::SIGNALED, c.script, shown, WTERMSIG(status)});
        }
    }
    release(c.proc);
    --slots_;
}

// The reaper owns its children: it reads, kills and reaps without the launcher's lock, which
// guards only the hand-over of new children (incoming_). So a launch never waits for output
// being read, and what a script writes is read at most limits_.read_bytes per wake-up and
// logged at most limits_.max_lines per run: nothing queues up.
void Launcher::reaper_loop() {
    std::vector<Child> mine;
    mine.reserve(max_async_);
    std::vector<struct pollfd> fds;
    fds.reserve(1 + 2 * max_async_);
    std::vector<std::pair<std::size_t, std::size_t> > at;
    at.reserve(max_async_);
    std::vector<std::string> lines;
    long long drain_until = 0;
    for (;;) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            for (Child& c : incoming_) mine.push_back(std::move(c));
            incoming_.clear();
        }
        long long now = monotonic_ms();
        if (stopping_) {
            if (mine.empty()) return;
            if (drain_until == 0) drain_until = std::max(stop_deadline_.load(), 1LL);
            if (now >= drain_until) {
                stop_all(mine, lines);
                return;
            }
        }
        // Poll set: the wake-up fd, then the fds each child has open (its pidfd, its output
        // unless it rests), and no others: then the set is never larger than the fds we hold,
        // as poll() wants (see poll_or_look). at[i]: child i's entries, 0 when it has none.
        fds.clear();
        at.clear();
        auto add = [&fds](int fd) {
            struct pollfd p;
            p.fd = fd;
            p.events = POLLIN;
            p.revents = 0;
            fds.push_back(p);
            return fds.size() - 1;
        };
        add(wake_fd_);
        long long next = drain_until;
        bool need_polling = wake_fd_ < 0;
        for (std::size_t i = 0; i < mine.size(); ++i) {
            const Child& c = mine[i];
            const bool quiet = c.out_fd >= 0 && c.quiet_until > now;
            const std::size_t ended = c.proc.pidfd >= 0 ? add(c.proc.pidfd) : 0;
            const std::size_t output = c.out_fd >= 0 && !quiet ? add(c.out_fd) : 0;
            at.push_back(std::make_pair(ended, output));
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
        int r = poll_or_look(fds.data(), fds.size(), wait_ms);
        if (r < 0 && errno != EINTR) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, 0);
        }
        if (wake_fd_ >= 0 && (fds[0].revents & POLLIN)) {
            uint64_t count;
            ssize_t ignored = read(wake_fd_, &count, sizeof(count));
            (void)ignored;
        }
        now = monotonic_ms();
        std::size_t kept = 0;
        for (std::size_t i = 0; i < mine.size(); ++i) {
            Child& c = mine[i];
            const short ended = at[i].first ? fds[at[i].first].revents : 0;
            const short output = at[i].second ? fds[at[i].second].revents : 0;
            if (c.out_fd >= 0 && output) {
                if (!c.buffer.read_from(c.out_fd, limits_.read_bytes, lines)) {
                    close(c.out_fd);
                    c.out_fd = -1;
                } else if (c.buffer.discarding()) {
                    c.quiet_until = now + DISCARD_INTERVAL_MS;
                }
                deliver(c, lines);
            }
            int status = 0;
            const int result = c.proc.pidfd < 0 || (ended & POLLIN) ? finish(c.proc, &status, WNOHANG) : 0;
            if (result != 0) {
                finished(c, result, status, lines);
                continue;
            }
            if (c.deadline && !c.killed && now >= c.deadline) {
                if (kill_script(c.proc)) {
                    c.killed = true;
                    report(AsyncEvent{AsyncEvent::TIMED_OUT, c.script, c.proc.script(), 0});
                } else {
                    c.deadline = now + KILL_RETRY_MS;
                }
            }
            if (kept != i) mine[kept] = std::move(c);
            ++kept;
        }
        mine.resize(kept, Child());
    }
}

// The end of the drain: kill every script left, give the processes we wait for a short time to
// end, then kill those (supervisors run this library's code, which is about to be unmapped).
void Launcher::stop_all(std::vector<Child>& mine, std::vector<std::string>& lines) {
    for (Child& c : mine) kill_script(c.proc);
    const long long grace_until = monotonic_ms() + STOP_GRACE_MS;
    std::vector<struct pollfd> fds;
    while (!mine.empty() && monotonic_ms() < grace_until) {
        fds.clear();
        bool need_polling = false;
        for (const Child& c : mine) {
            struct pollfd p;
            p.fd = c.proc.pidfd;
            p.events = POLLIN;
            p.revents = 0;
            fds.push_back(p);
            if (c.proc.pidfd < 0) need_polling = true;
        }
        const long long left = grace_until - monotonic_ms();
        poll_or_look(fds.data(), fds.size(),
                     need_polling ? 5 : static_cast<int>(std::max(0LL, left)));
        std::size_t kept = 0;
        for (std::size_t i = 0; i < mine.size(); ++i) {
            Child& c = mine[i];
            int status = 0;
            const int result = c.proc.pidfd < 0 || (fds[i].revents & POLLIN)
                ? finish(c.proc, &status, WNOHANG) : 0;
            if (result != 0) {
                finished(c, result, status, lines);
                continue;
            }
            kill_script(c.proc);  // its pid may have become known meanwhile
            if (kept != i) mine[kept] = std::move(c);
            ++kept;
        }
        mine.resize(kept, Child());
    }
    for (Child& c : mine) {
        // A supervisor may be a few microseconds from its script's clone: let it get there.
        for (int i = 0; i < 100 && !kill_script(c.proc); ++i) usleep(1000);
        kill_waited(c.proc);
        int status = 0;
        const int result = finish(c.proc, &status, 0);
        finished(c, result == 0 ? -1 : result, status, lines);
    }
    mine.clear();
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
