// Killing and reaping started processes (processes.h).

#include "processes.h"
#include "launch_memory.h"
#include "pidfd.h"
#include "supervisor.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifndef __WALL
#define __WALL 0x40000000
#endif

namespace runscript {

long long monotonic_ms() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<long long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

pid_t Process::script() const {
    return sup ? __atomic_load_n(&sup->script_pid, __ATOMIC_ACQUIRE) : pid;
}

pid_t reap(pid_t pid, int* status, int flags) {
    for (;;) {
        pid_t r = waitpid(pid, status, flags | __WALL);
        if (r >= 0) return r;
        if (errno == EINTR) continue;
        return -1;
    }
}

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

namespace {

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

}  // namespace

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

void kill_waited(const Process& p) {
    if (p.pid <= 0) return;
    if (p.pidfd >= 0 && send_signal(p.pidfd, SIGKILL) == 0) return;
    kill(p.pid, SIGKILL);
}

bool wait_launched(const Process& p) {
    while (!__atomic_load_n(&p.sup->launched, __ATOMIC_ACQUIRE)) {
        // The kernel's own timespec of SYS_futex, two longs, also where the C library's
        // time_t is 64 bits on a 32-bit architecture (armhf since trixie).
        const long ts[2] = {0, 20 * 1000 * 1000};
        syscall(SYS_futex, &p.sup->launched, FUTEX_WAIT, 0, ts, 0, 0);
        if (__atomic_load_n(&p.sup->launched, __ATOMIC_ACQUIRE)) break;
        if (has_ended(p.pid)) return __atomic_load_n(&p.sup->launched, __ATOMIC_ACQUIRE) != 0;
    }
    return true;
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

int start_error(const Process& p) {
    if (!p.sup) return 0;
    // Not started because the hook said so (timeout, stop): the caller knows why.
    if (__atomic_load_n(&p.sup->state, __ATOMIC_ACQUIRE) == CANCELLED) return 0;
    if (p.sup->exec_err != 0) return p.sup->exec_err;
    // A supervisor that ended without starting anything (killed, or a fault).
    return __atomic_load_n(&p.sup->script_pid, __ATOMIC_ACQUIRE) > 0 ? 0 : ECHILD;
}

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

// Long-running programs (handlers).

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
    drop_free_mappings();
}

}  // namespace runscript
