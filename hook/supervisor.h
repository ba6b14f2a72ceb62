// Code without libc: the supervisor and a script between its clone and its exec. Its
// invariants (no libc, no PLT, its own stacks, no thread-local state) and how the build keeps
// them are stated at the top of supervisor.cc, which holds it.

#ifndef RUNSCRIPT_SUPERVISOR_H
#define RUNSCRIPT_SUPERVISOR_H

#include "launcher.h"

// Our own system call instruction exists for these architectures only; elsewhere
// raw_syscall is libc's syscall(). RUNSCRIPT_AS_OTHER_ARCH builds that other path here, so
// that the tests reach it on x86_64 too.
// 32-bit ARM from ARMv7 (armhf), whose atomics are instructions: ARMv5's (armel) are calls.
#if (defined(__x86_64__) || defined(__aarch64__) || defined(__i386__) ||                     \
     (defined(__arm__) && defined(__ARM_ARCH) && __ARM_ARCH >= 7) ||                        \
     (defined(__riscv) && __riscv_xlen == 64) ||                                            \
     (defined(__powerpc64__) && defined(_CALL_ELF) && _CALL_ELF == 2)) &&                   \
    !defined(RUNSCRIPT_AS_OTHER_ARCH)
#define RUNSCRIPT_RAW_SYSCALL_ASM 1
#else
#define RUNSCRIPT_RAW_SYSCALL_ASM 0
#endif

// The supervisor needs our own clone trampoline and raw system calls (supervisor.cc), written for
// these architectures only (x86_64, aarch64, i386, armhf, riscv64, ppc64el); elsewhere every
// script is a plain child (with pidfd), whose exit status Kea's own waitpid(-1) can take
// (docs/hook.md).
#if defined(__linux__) && RUNSCRIPT_RAW_SYSCALL_ASM && !defined(RUNSCRIPT_NO_PIDFD)
#define RUNSCRIPT_SUPERVISED 1
#else
#define RUNSCRIPT_SUPERVISED 0
#endif

#if defined(__linux__) && !defined(RUNSCRIPT_NO_PIDFD)
#define RUNSCRIPT_PIDFD 1
#else
#define RUNSCRIPT_PIDFD 0
#endif

#pragma GCC visibility push(hidden)

namespace runscript {

// The system call `n`; -errno on failure.
long raw_syscall(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0);
[[noreturn]] void raw_exit(int code);

// Closes fds 3 and up, but `keep` (when >= 3).
void close_from_3(int keep = -1);

// Runs in the child while it still shares Kea's memory (vfork semantics): default signal
// dispositions, an empty mask, its own process group, `io` on 0-2 (/dev/null for any of 0-2
// that is closed or close-on-exec), only fds 0-2, then execve. An exec failure is reported
// through *err, and also written to report_fd (>= 3, close-on-exec) when given: where vfork
// does not share memory (qemu-user runs it as a fork) *err is the child's own copy. The fds of
// `io`, when given, are >= 3. Never returns.
void exec_child(const char* path, char* const argv[], char* const envp[], Stdio io,
                volatile int* err, int report_fd = -1);

// The block a supervisor shares with the hook (processes.h: who may kill and reap,
// and who decides whether the script starts at all). A new block is all zero: NOT_STARTED.
enum SupervisionState { NOT_STARTED = 0, RUNNING = 1, KILLING = 2, REAPING = 3, CANCELLED = 4 };

struct Supervision {
    const char* path;
    char* const* argv;
    char* const* envp;
    Stdio io;                         // the script's 0-2 (-1: Kea's own, or /dev/null)
    int io_placed;                    // the supervisor has put io on its own 0-2 already
    char* script_stack_top;
    volatile int exec_err;            // errno of a failed execve, written by the script
    int script_pid;                   // written by the kernel when the script is cloned
    int state;                        // SupervisionState; a futex
    volatile int status;              // the script's wait status
    volatile int done;                // 1 once status is valid
    int launched;                     // futex: 1 once the script has exec'd (or failed)
};

#if RUNSCRIPT_SUPERVISED
// The supervisor's body, given its Supervision: starts the script (CLONE_VFORK), wakes the
// hook through `launched`, waits for the script and leaves its status in the block.
int supervisor_entry(void* arg);
#endif

}  // namespace runscript

#if RUNSCRIPT_SUPERVISED
// runscript_clone(flags, stack_top, parent_tid, fn, arg): the clone system call; the child
// runs fn(arg) on stack_top and exits with its result. Returns the child's pid or -errno.
// The child starts with a fresh frame on its own stack and never returns into the caller's.
extern "C" long runscript_clone(unsigned long flags, void* stack_top, int* parent_tid,
                                int (*fn)(void*), void* arg);
#endif

#pragma GCC visibility pop

#endif  // RUNSCRIPT_SUPERVISOR_H
