// The supervisor (a process sharing Kea's memory that starts a script, waits for it and leaves
// its status in the Supervision block: processes.h says who kills and reaps), and a script
// between its clone and its exec. Its invariants:
// - No libc. It runs alongside the Kea thread that started it, and alongside other
//   supervisors: libc's wrappers would write that thread's errno, touch its cancellation state
//   or take libc's locks (glibc's sigaction takes a lock that two such processes deadlock on).
//   It calls the kernel directly (raw_syscall, runscript_clone) and only functions of this
//   file, and gets -errno back as the result.
// - No PLT. Every symbol of supervisor.h is hidden: a call is direct, never through a lazily
//   bound PLT entry, which would run the dynamic linker here.
// - Its own stacks (launch_memory.h: one for the supervisor, one for the script before its
//   exec, each with a guard page below it), never the Kea thread's.
// - No thread-local state of its own: it runs on the thread block (TLS) of the Kea thread that
//   started it, so it reads no stack protector canary and no other thread-local variable.
// The build keeps them, not care: this file is its own object, compiled last of all flags
// without stack protector, builtins, exceptions or sanitizers (kea_runscript/model/no_libc.py),
// and the Makefile and the test programs refuse the object if it references any symbol at all
// (tests/unit/test_no_libc.py); the disassembly of the test driver shows no PLT call from it
// (tests/unit/test_launcher.py).
//
// On other architectures raw_syscall falls back to libc's syscall() and there is no
// supervisor: only the vfork child of spawn_plain uses this code there, while the thread that
// started it is suspended.

#include "supervisor.h"
#include "supervisor_asm.h"

// GCC on arm64 makes atomics calls into libgcc (__aarch64_cas4_acq_rel) unless told not to:
// here they must be the instructions themselves (LL/SC, which every arm64 CPU has).
#if defined(__aarch64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("no-outline-atomics")
#endif

#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#if !RUNSCRIPT_RAW_SYSCALL_ASM
#include <errno.h>
#include <unistd.h>
#endif

namespace runscript {

long raw_syscall(long n, long a, long b, long c, long d, long e) {
#if RUNSCRIPT_RAW_SYSCALL_ASM && defined(__x86_64__)
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return ret;
#elif RUNSCRIPT_RAW_SYSCALL_ASM && defined(__aarch64__)
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4) : "memory");
    return x0;
#elif RUNSCRIPT_RAW_SYSCALL_ASM && defined(__arm__)
    return runscript_syscall(n, a, b, c, d, e);
#elif RUNSCRIPT_RAW_SYSCALL_ASM && defined(__riscv)
    register long a7 __asm__("a7") = n;
    register long a0 __asm__("a0") = a;
    register long a1 __asm__("a1") = b;
    register long a2 __asm__("a2") = c;
    register long a3 __asm__("a3") = d;
    register long a4 __asm__("a4") = e;
    __asm__ volatile("ecall" : "+r"(a0) : "r"(a7), "r"(a1), "r"(a2), "r"(a3), "r"(a4) : "memory");
    return a0;
#elif RUNSCRIPT_RAW_SYSCALL_ASM && defined(__powerpc64__)
    // The kernel may change r0 and r4-r12, cr0, ctr and xer; an error comes as cr0.SO set
    // and a positive errno in r3.
    register long r0 __asm__("r0") = n;
    register long r3 __asm__("r3") = a;
    register long r4 __asm__("r4") = b;
    register long r5 __asm__("r5") = c;
    register long r6 __asm__("r6") = d;
    register long r7 __asm__("r7") = e;
    __asm__ volatile("sc\n\tbns+ 1f\n\tneg %1, %1\n1:"
                     : "+r"(r0), "+r"(r3), "+r"(r4), "+r"(r5), "+r"(r6), "+r"(r7)
                     :
                     : "r8", "r9", "r10", "r11", "r12", "cr0", "ctr", "xer", "memory");
    return r3;
#elif RUNSCRIPT_RAW_SYSCALL_ASM && defined(__i386__)
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(n), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e)
                     : "memory");
    return ret;
#else
    long ret = syscall(n, a, b, c, d, e);
    return ret == -1 ? -errno : ret;
#endif
}

void raw_exit(int code) {
    for (;;) raw_syscall(SYS_exit, code);
}

// Closes fds 3 and up, but `keep` (when >= 3).
void close_from_3(int keep) {
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
    long top = 65536;
    if (raw_syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, reinterpret_cast<long>(limit)) == 0 &&
        limit[0] < 65536) {
        top = static_cast<long>(limit[0]);
    }
    for (int fd = 3; fd < top; ++fd) {
        if (fd != keep) raw_syscall(SYS_close, fd);
    }
}

void exec_child(const char* path, char* const argv[], char* const envp[], Stdio io,
                volatile int* err, int report_fd) {
    // The kernel's struct sigaction, all zero: SIG_DFL, no flags, empty mask, whatever
    // the architecture's field order and size (20 bytes on i386, where the mask is two longs).
    // The last argument is the kernel's sigset size.
    // Read-only data: a local array would be cleared by a memset call the compiler makes up.
    static const unsigned long dfl[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const long sigset_bytes = 64 / 8;
    for (int sig = 1; sig <= 64; ++sig) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        raw_syscall(SYS_rt_sigaction, sig, reinterpret_cast<long>(dfl), 0, sigset_bytes);
    }
    raw_syscall(SYS_setpgid, 0, 0);
    if (io.in >= 0) raw_syscall(SYS_dup3, io.in, 0, 0);
    if (io.out >= 0) raw_syscall(SYS_dup3, io.out, 1, 0);
    if (io.err >= 0) raw_syscall(SYS_dup3, io.err, 2, 0);
    // Kea may run with 0-2 closed, or with close-on-exec files there (opened after they were
    // closed): the script gets /dev/null instead, so that no file it opens becomes its stdout.
    for (int fd = 0; fd <= 2; ++fd) {
        const long flags = raw_syscall(SYS_fcntl, fd, F_GETFD);
        if (flags >= 0 && !(flags & FD_CLOEXEC)) continue;
        const long null_fd = raw_syscall(SYS_openat, AT_FDCWD, reinterpret_cast<long>("/dev/null"),
                                         O_RDWR);
        if (null_fd >= 0 && null_fd != fd) {
            raw_syscall(SYS_dup3, null_fd, fd, 0);
            raw_syscall(SYS_close, null_fd);
        }
    }
    close_from_3(report_fd);
    unsigned long none = 0;
    raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&none), 0, sigset_bytes);
    long r = raw_syscall(SYS_execve, reinterpret_cast<long>(path), reinterpret_cast<long>(argv),
                         reinterpret_cast<long>(envp));
    *err = static_cast<int>(-r);
    if (report_fd >= 0) {
        const int e = static_cast<int>(-r);
        raw_syscall(SYS_write, report_fd, reinterpret_cast<long>(&e), sizeof(e));
    }
    raw_exit(127);
}

#if RUNSCRIPT_SUPERVISED
namespace {

int script_entry(void* arg) {
    Supervision* s = static_cast<Supervision*>(arg);
#ifdef RUNSCRIPT_FAULT_SLOW_EXEC
    const long stuck[2] = {1, 500 * 1000 * 1000};  // an exec stuck for 1.5 s (a hung filesystem)
    raw_syscall(SYS_nanosleep, reinterpret_cast<long>(stuck), 0);
#endif
    const Stdio none = {-1, -1, -1};
    exec_child(s->path, s->argv, s->envp, s->io_placed ? none : s->io, &s->exec_err);
    return 127;
}

void wake_launcher(Supervision* s) {
    __atomic_store_n(&s->launched, 1, __ATOMIC_RELEASE);
    raw_syscall(SYS_futex, reinterpret_cast<long>(&s->launched), FUTEX_WAKE, 1);
}

}  // namespace

int supervisor_entry(void* arg) {
    Supervision* s = static_cast<Supervision*>(arg);
#ifdef RUNSCRIPT_FAULT_SUPERVISOR_DIES
    raw_exit(1);
#endif
#ifdef RUNSCRIPT_FAULT_SUPERVISOR_CRASHES
    __builtin_trap();  // a core-dumping signal, as a bug here would raise
#endif
#ifdef RUNSCRIPT_FAULT_SLOW_SUPERVISOR
    const long delay[2] = {0, RUNSCRIPT_FAULT_SLOW_SUPERVISOR * 1000L * 1000L};  // struct timespec, < 1 s
    raw_syscall(SYS_nanosleep, reinterpret_cast<long>(delay), 0);
#endif
    // First of all, drop the copies of Kea's descriptors (sockets, lease files): Kea may
    // close and reopen them (a reconfiguration) while this still runs.
    // A handler's three pipes cannot all be kept by close_from_3: they go on the supervisor's
    // own 0-2 first (its fd table is its own), which the script then inherits.
    s->io_placed = s->io.in >= 0 || s->io.err >= 0;
    if (s->io_placed) {
        if (s->io.in >= 0) raw_syscall(SYS_dup3, s->io.in, 0, 0);
        if (s->io.out >= 0) raw_syscall(SYS_dup3, s->io.out, 1, 0);
        if (s->io.err >= 0) raw_syscall(SYS_dup3, s->io.err, 2, 0);
    }
    close_from_3(s->io_placed ? -1 : s->io.out);
    // The hook may have given up on this run already (its timeout, a stop): then no script
    // at all. Past this point it waits for the script's pid instead of killing us, so no
    // script is ever left running this library's code without its supervisor.
    int not_started = NOT_STARTED;
    if (!__atomic_compare_exchange_n(&s->state, &not_started, static_cast<int>(RUNNING), false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        wake_launcher(s);
        raw_exit(1);
    }
    // CLONE_VFORK: this returns once the script has exec'd (or failed to). The kernel writes
    // the script's pid into the block before the script runs, so the hook can kill it early.
    const long pid = runscript_clone(CLONE_VM | CLONE_VFORK | CLONE_PARENT_SETTID | SIGCHLD,
                                     s->script_stack_top, &s->script_pid, script_entry, s);
    if (pid < 0) {
        s->exec_err = static_cast<int>(-pid);
        wake_launcher(s);
        raw_exit(1);
    }
    wake_launcher(s);
    // The output pipe is the script's now: the hook must see its end when the script ends.
    close_from_3();
    if (s->io_placed) {
        for (long fd = 0; fd <= 2; ++fd) raw_syscall(SYS_close, fd);
    }
    alignas(8) char info[128];  // siginfo_t, unread
    const long kernel_p_pid = 1;
    while (raw_syscall(SYS_waitid, kernel_p_pid, pid, reinterpret_cast<long>(info), WEXITED | WNOWAIT,
                       0) == -EINTR) {
    }
    for (;;) {
        int expected = RUNNING;
        if (__atomic_compare_exchange_n(&s->state, &expected, static_cast<int>(REAPING), false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            break;
        }
        raw_syscall(SYS_futex, reinterpret_cast<long>(&s->state), FUTEX_WAIT, KILLING, 0);
    }
    int status = 0;
    while (raw_syscall(SYS_wait4, pid, reinterpret_cast<long>(&status), 0, 0) == -EINTR) {
    }
    if (s->exec_err != 0) raw_exit(1);
    s->status = status;
    __atomic_store_n(&s->done, 1, __ATOMIC_RELEASE);
    raw_exit(0);
    return 0;
}
#endif

}  // namespace runscript
