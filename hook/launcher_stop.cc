// The Launcher's stop (launcher.h): at the end of the drain, what still runs is killed and
// reaped within a bound, before the library that holds the supervisors' code is unmapped.

#include "launcher.h"
#include "fd.h"
#include "processes.h"

#include <poll.h>
#include <unistd.h>

#include <vector>

namespace runscript {

namespace {

// How long, at stop, the processes we wait for may take to end once their scripts are
// killed, before the supervisors themselves are killed.
const int STOP_GRACE_MS = 300;

}  // namespace

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
        poll_or_look(fds.data(), fds.size(), need_polling ? 5 : static_cast<int>(std::max(0LL, left)));
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

}  // namespace runscript
