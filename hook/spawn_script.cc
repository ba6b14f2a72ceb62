// Starting a script (spawn_script.h): the supervisor, the exec-failure report where vfork is a fork,
// posix_spawn or vfork for plain children.

#include "spawn_script.h"
#include "fd.h"
#include "launch_memory.h"
#include "pidfd.h"
#include "processes.h"
#include "signals_blocked.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#ifndef __WALL
#define __WALL 0x40000000
#endif

#include <atomic>
#include <new>

// glibc 2.34 added posix_spawn_file_actions_addclosefrom_np: with it posix_spawn alone gives
// the child only fds 0-2. Older C libraries take the vfork() path below instead.
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34)) && \
    !defined(RUNSCRIPT_NO_SPAWN_CLOSEFROM)
#define RUNSCRIPT_SPAWN_CLOSEFROM 1
#else
#define RUNSCRIPT_SPAWN_CLOSEFROM 0
#endif

namespace runscript {

#if RUNSCRIPT_SUPERVISED
Process spawn_supervised(const char* path, char* const argv[], char* const envp[], Stdio io,
                         bool detach, bool* refused) {
    *refused = false;
    void* mem = take_mapping();
    if (!mem) return Process{-ENOMEM, -1, 0};
    Supervision* s = new (mem) Supervision();
    char* base = static_cast<char*>(mem);
    const LaunchLayout& layout = launch_layout();
    char* call_area = base + layout.call_area_at;
    char** argv_copy = 0;
    char** envp_copy = 0;
    const char* path_copy = 0;
    detach = detach && copy_call(call_area, layout.call_area_size, path, argv, envp, &path_copy,
                                 &argv_copy, &envp_copy);
    s->path = detach ? path_copy : path;
    s->argv = detach ? argv_copy : argv;
    s->envp = detach ? envp_copy : envp;
    s->io = io;
    s->io_placed = 0;
    s->script_stack_top = base + layout.script_stack_top;
    SignalsBlocked blocked;  // in the supervisor and in the script before its execve
#if defined(RUNSCRIPT_FAKE_OLD_CLONE) || defined(RUNSCRIPT_FAKE_CLONE_IGNORES_PIDFD)
    const unsigned long pidfd_flag = 0;  // an old kernel ignores the flag
#else
    const unsigned long pidfd_flag = CLONE_PIDFD;
#endif
    int pidfd = -1;
    // Exit signal 0 (no SIGCHLD): Kea's own child handling (waitpid(-1) when kea-lfc ends)
    // cannot see the supervisor, nor the script, which is the supervisor's child.
    const long pid = runscript_clone(CLONE_VM | pidfd_flag, base + layout.supervisor_stack_top,
                                     &pidfd, supervisor_entry, s);
    blocked.restore();
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

namespace {

// Whether a vfork child shares our memory, as the kernel's vfork does. Under qemu-user it does
// not (it runs vfork and posix_spawn's CLONE_VM|CLONE_VFORK as a fork): then neither
// posix_spawn nor exec_child's *err can tell that an exec failed. Asked once, by a child that
// only writes one variable and exits: never by running a script.
bool vfork_shares_memory() {
    static const bool shares = []() {
        volatile int mark = 0;
        SignalsBlocked blocked;
        const pid_t pid = vfork();
        if (pid == 0) {
            mark = 1;
            raw_exit(0);
        }
        blocked.restore();
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
    if (!pipe_above_stdio(fds)) return Process{-errno, -1, 0};
    volatile int err = 0;
    SignalsBlocked blocked;
    const pid_t pid = vfork();
    if (pid == 0) {
        exec_child(path, argv, envp, io, &err, fds[1]);
    }
    const int saved = errno;
    blocked.restore();
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

}  // namespace

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
    SignalsBlocked blocked;
    pid_t pid = vfork();
    if (pid == 0) {
        exec_child(path, argv, envp, io, &err);
    }
    int saved = errno;
    blocked.restore();
    if (pid < 0) return Process{-saved, -1, 0};
    if (err != 0) {
        int status;
        reap(pid, &status, 0);
        return Process{-err, -1, 0};
    }
    return Process{pid, open_pidfd(pid), 0};
#endif
}

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

}  // namespace runscript
