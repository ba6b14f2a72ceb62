// The kernel's pidfds (Linux 5.3: pollable pidfds, with CLONE_PIDFD from 5.2 and
// pidfd_send_signal from 5.1). Whether they are usable is asked once per library load, of the
// kernel, on our own pid: never by running a script.

#ifndef RUNSCRIPT_PIDFD_H
#define RUNSCRIPT_PIDFD_H

#include <sys/types.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

#pragma GCC visibility push(hidden)

namespace runscript {

bool pidfds_usable();

// A pidfd of `pid` (close-on-exec), or -1 where pidfds are not usable.
int open_pidfd(pid_t pid);

// pidfd_send_signal(2); -errno on failure.
long send_signal(int pidfd, int sig);

}  // namespace runscript

#pragma GCC visibility pop

#endif  // RUNSCRIPT_PIDFD_H
