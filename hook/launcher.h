// Process launcher: starts the script without forking Kea's address space, with only fds 0-2,
// default signal dispositions, an empty signal mask and a process group of its own; waits
// for it with a timeout (sync) or hands it to a reaper thread (async). Independent of Kea so
// it can be tested on its own (tests/unit/test_launcher.py).

#ifndef RUNSCRIPT_LAUNCHER_H
#define RUNSCRIPT_LAUNCHER_H

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace runscript {

struct Outcome {
    enum Kind {
        EXITED,        // code = exit status
        SIGNALED,      // code = signal number
        TIMED_OUT,     // killed after the timeout
        STARTED,       // async: launched, handed to the reaper
        SPAWN_FAILED,  // code = errno
        LIMIT,         // async: too many scripts already running, not started
        UNKNOWN        // the child was reaped by someone else (status lost)
    };
    Kind kind;
    int code;
    pid_t pid;
};

// What the reaper reports about asynchronous scripts, from its own thread.
struct AsyncEvent {
    enum Kind { EXITED_NONZERO, SIGNALED, TIMED_OUT } kind;
    std::string script;
    pid_t pid;
    int code;
};

class Launcher {
public:
    typedef std::function<void(const AsyncEvent&)> EventSink;

    // max_async: bound on concurrently running asynchronous scripts (0 = no async use).
    Launcher(std::size_t max_async, EventSink sink);
    ~Launcher();  // stops the reaper; running async scripts get until their deadline

    Launcher(const Launcher&) = delete;
    Launcher& operator=(const Launcher&) = delete;

    // argv and envp are NULL-terminated. timeout_ms <= 0 means no timeout.
    Outcome run(const char* path, char* const argv[], char* const envp[], bool wait,
                int timeout_ms);

    std::size_t running_async() const;

private:
    struct Child {
        pid_t pid;
        int pidfd;          // -1 when the kernel has no pidfd_open
        long long deadline; // monotonic ms, 0 = none
        bool killed;
        std::string script;
    };

    void reaper_loop();
    void finish_all_at_stop();

    const std::size_t max_async_;
    EventSink sink_;
    mutable std::mutex mutex_;
    std::vector<Child> children_;
    std::size_t reserved_;  // async launches in progress, counted against max_async_
    int wake_fd_;           // eventfd waking the reaper
    std::atomic<bool> stopping_;
    std::thread reaper_;
};

// Milliseconds on the monotonic clock.
long long monotonic_ms();

// Waits for `pid` (our own child) for at most timeout_ms (<= 0: forever); kills its process
// group on timeout. Used by the synchronous path and at shutdown.
Outcome wait_child(pid_t pid, int timeout_ms);

}  // namespace runscript

#endif
