// File-descriptor helpers the launcher and the handler pool share.

#ifndef RUNSCRIPT_FD_H
#define RUNSCRIPT_FD_H

#include <poll.h>

#pragma GCC visibility push(hidden)

namespace runscript {

// Makes fd >= 3 (Kea may run with 0-2 closed: pipe2 and socketpair then return those), still
// close-on-exec; -1 when that fails (fd is closed then).
int above_stdio(int fd);

// pipe2(O_CLOEXEC) whose both ends are >= 3; false (nothing left open, errno set) otherwise.
bool pipe_above_stdio(int fds[2]);

void set_nonblocking(int fd);

// Closes fd when open and marks it closed (-1).
void close_fd(int& fd);

// An eventfd's wake-up: write one, and read what was written (both non-blocking).
void wake(int fd);
void drain_wake(int fd);

// poll() refuses a set of more entries than the soft RLIMIT_NOFILE (EINVAL), ignored ones (-1)
// included, and the limit may be lowered below the fds already open. A refused set must not
// leave the caller blind (its children would never be reaped): it then waits at most 10 ms and
// reports every entry ready, so that the caller looks at each one (a non-blocking reap, a
// non-blocking read) as it does where there are no pidfds.
int poll_or_look(struct pollfd* fds, nfds_t count, int timeout_ms);

}  // namespace runscript

#pragma GCC visibility pop

#endif  // RUNSCRIPT_FD_H
