// The kernel's pidfds (pidfd.h). RUNSCRIPT_FAKE_OLD_CLONE (tests only) plays a kernel before
// 5.2: no pidfd_open, no pidfd_send_signal.

#include "pidfd.h"
#include "supervisor.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

namespace runscript {

namespace {

#ifdef RUNSCRIPT_FAKE_OLD_CLONE
long sys_pidfd_open(pid_t, unsigned) { return -ENOSYS; }
#else
long sys_pidfd_open(pid_t pid, unsigned flags) {
    long fd = syscall(SYS_pidfd_open, pid, flags);
    return fd < 0 ? -errno : fd;
}
#endif

}  // namespace

long send_signal(int pidfd, int sig) {
#ifdef RUNSCRIPT_FAKE_OLD_CLONE
    (void)pidfd;
    (void)sig;
    return -ENOSYS;
#else
    return syscall(SYS_pidfd_send_signal, pidfd, sig, 0, 0) == 0 ? 0 : -errno;
#endif
}

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

}  // namespace runscript
