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
#include <memory>
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

// What the reaper reports about asynchronous scripts, from its own thread. SPAWN_FAILED:
// the script could not be started (code = errno); pid is -1 then.
struct AsyncEvent {
    enum Kind { EXITED_NONZERO, SIGNALED, TIMED_OUT, SPAWN_FAILED } kind;
    std::string script;
    pid_t pid;
    int code;
};

// Receives each line a script wrote to stdout/stderr when its output is captured.
typedef std::function<void(const std::string& script, pid_t pid, const std::string& line)>
    LineSink;

// Splits what a script writes into lines (bounded: a line longer than MAX is cut).
class LineBuffer {
public:
    static const std::size_t MAX = 4096;
    // Reads what is available on the non-blocking fd; false at end of file or error.
    bool read_from(int fd, std::vector<std::string>& lines);
    void flush(std::vector<std::string>& lines);

private:
    std::string partial_;
};

// One started script, however it was started (see launcher.cc): the process the launcher
// waits for (a supervisor or the script itself) and how to reach the script.
struct Supervision;
struct Process {
    pid_t pid;          // what we wait for; -1 when nothing was started
    int pidfd;          // pidfd of `pid`, -1 when the kernel has none
    Supervision* sup;   // shared with the supervisor; null for a plain child
    pid_t script() const;
};

// Bounds on what scripts may cost Kea (see launcher.cc). Defaults are the hook's parameters'.
struct Limits {
    std::size_t max_async = 0;          // concurrently running asynchronous scripts (0: none)
    std::size_t max_lines = 100;        // captured lines logged per run; then one line says
                                        // how many more were dropped
    std::size_t read_bytes = 64 * 1024; // captured output read per script per wake-up
    int drain_ms = 2000;                // at stop: how long asynchronous scripts may still
                                        // run before their process groups are killed
};

class Launcher {
public:
    typedef std::function<void(const AsyncEvent&)> EventSink;

    // max_async: bound on concurrently running asynchronous scripts (0 = no async use).
    Launcher(std::size_t max_async, EventSink sink, LineSink lines = LineSink());
    Launcher(const Limits& limits, EventSink sink, LineSink lines = LineSink());
    ~Launcher();  // stops the reaper; running async scripts get until their deadline

    Launcher(const Launcher&) = delete;
    Launcher& operator=(const Launcher&) = delete;

    // argv and envp are NULL-terminated; the caller may free them once this returns (an
    // async run copies them). timeout_ms <= 0 means no timeout. capture: the script's stdout
    // and stderr go, line by line, to the LineSink instead of Kea's own. An async run that
    // cannot start after all (exec failure) is reported to the EventSink (SPAWN_FAILED).
    Outcome run(const char* path, char* const argv[], char* const envp[], bool wait,
                int timeout_ms, bool capture = false);

    std::size_t running_async() const;

private:
    struct Child {
        Process proc;
        long long deadline; // monotonic ms, 0 = none
        bool killed;
        std::string script;
        int out_fd;         // read end of the captured output, -1 when not captured
        std::shared_ptr<LineBuffer> buffer;
    };

    void reaper_loop();
    void finish_all_at_stop();

    const std::size_t max_async_;
    const Limits limits_;
    EventSink sink_;
    LineSink lines_;
    mutable std::mutex mutex_;
    std::vector<Child> children_;
    std::size_t reserved_;  // async launches in progress, counted against max_async_
    int wake_fd_;           // eventfd waking the reaper
    std::atomic<bool> stopping_;
    std::thread reaper_;
};

// Milliseconds on the monotonic clock.
long long monotonic_ms();

// Launch memory kept for reuse (tests): each launcher frees it when it stops.
std::size_t kept_mappings();

}  // namespace runscript

#endif
