// File-descriptor helpers (fd.h).

#include "fd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

namespace runscript {

int above_stdio(int fd) {
    if (fd < 0 || fd >= 3) return fd;
    const int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return moved;
}

bool pipe_above_stdio(int fds[2]) {
    if (pipe2(fds, O_CLOEXEC) != 0) {
        fds[0] = fds[1] = -1;
        return false;
    }
    fds[0] = above_stdio(fds[0]);
    fds[1] = above_stdio(fds[1]);
    if (fds[0] >= 0 && fds[1] >= 0) return true;
    close_fd(fds[0]);
    close_fd(fds[1]);
    errno = EMFILE;
    return false;
}

void set_nonblocking(int fd) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

void close_fd(int& fd) {
    if (fd >= 0) close(fd);
    fd = -1;
}

void wake(int fd) {
    if (fd < 0) return;
    uint64_t one = 1;
    ssize_t ignored = write(fd, &one, sizeof(one));
    (void)ignored;
}

void drain_wake(int fd) {
    if (fd < 0) return;
    uint64_t value;
    ssize_t ignored = read(fd, &value, sizeof(value));
    (void)ignored;
}

int poll_or_look(struct pollfd* fds, nfds_t count, int timeout_ms) {
    const int r = poll(fds, count, timeout_ms);
    if (r >= 0 || errno != EINVAL) return r;
    const int wait_ms = timeout_ms < 0 ? 10 : std::min(timeout_ms, 10);
    struct timespec ts = {0, wait_ms * 1000000L};
    nanosleep(&ts, 0);
    for (nfds_t i = 0; i < count; ++i) fds[i].revents = fds[i].fd >= 0 ? POLLIN : 0;
    return static_cast<int>(count);
}

}  // namespace runscript
