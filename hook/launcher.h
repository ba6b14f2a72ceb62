// Process launcher: starts the script without forking Kea's address space, with only fds 0-2,
// default signal dispositions, an empty signal mask and a process group of its own; waits
// for it with a timeout (sync) or hands it to a reaper thread (async). Independent of Kea so
// it can be tested on its own (tests/unit/test_launcher.py tests each guarantee below).
//
// What it guarantees, on every path (supervised with pidfds on Linux >= 5.3 on x86_64 and
// aarch64; plain posix_spawn or vfork children on older kernels, other architectures and
// glibc < 2.34, each forcible at build time, see spawn_script.h):
// - One start per call; `wait: false` never waits for the script; the exit status is the
//   script's; fds 0-2 only, /dev/null for any of them Kea has closed or marked close-on-exec.
//   Whether the kernel has pidfds is asked once, of the kernel, never by running a script.
// - A synchronous run returns within its timeout plus the time to kill the script's process
//   group, whatever the script writes: captured output is read at most Limits::read_bytes per
//   wake-up, at most Limits::max_lines lines per run are logged, then one line saying how many
//   more were dropped. An asynchronous script is killed within its timeout (plus the reaper's
//   wake-up), also before the supervisor has told its pid (the kill is retried until it can
//   be sent, never given up).
// - A launch never waits for output being read: the reaper does its reading, reaping and
//   killing without the launcher's lock. Memory use does not grow with what scripts write.
// - Supervised scripts are killed by a pid that cannot be reused meanwhile (the script is not
//   reaped while a kill is under way). Plain children are killed by pid: Kea's waitpid(-1)
//   may reap one under us (its exit status is then lost), a residual race of kernels without
//   pidfds and of emulators (qemu-user refuses the supervisor's clone).
// - A script that cannot be executed (missing, not executable) is a spawn failure on every
//   path, also where vfork is emulated by a fork (qemu-user): asked once whether a vfork
//   child shares our memory; if not, the exec's error comes back through a pipe.
// - Only the kernel refusing the supervisor's own clone turns supervision off (nothing ran
//   then); a script's exec failure, EPERM and EINVAL included, is that run's spawn failure.
// - Launch memory is laid out in the kernel's page size (arm64: 4, 16 or 64 KiB).
// - Slots always come back: the reaper's poll holds only the fds its children have open, and
//   a poll the fd limit refuses (lowered below them) makes it look at each child every 10 ms.
// - The destructor (library unload) takes Limits::drain_ms plus at most 0.3 s plus the time
//   SIGKILLed processes take to end: running asynchronous scripts (timeout 0 too) get drain_ms
//   to end (their output still read, no SIGPIPE from us), then their process groups are
//   killed, then any supervisor still there (they run this library's code, which is about to
//   be unmapped). Scripts that end during the drain are reported as usual; killed ones as
//   SIGNALED 9.
// - Every wait is bounded, but a synchronous run's with no timeout: a supervisor that dies
//   before waking the caller yields SPAWN_FAILED (ECHILD); interrupted waits are resumed; an
//   exception after a start kills and reaps the script and frees its slot.
// - Kea's signal handlers never run in the reaper (every signal blocked; named runscript-reap),
//   nor in a supervisor or a script before its exec. The supervisor's code calls no PLT entry
//   and its stacks have guard pages below them.

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

#include "line_buffer.h"
#include "refusals.h"

namespace runscript {

struct Outcome {
    enum Kind {
        EXITED,        // code = exit status
        SIGNALED,      // code = signal number
        TIMED_OUT,     // killed after the timeout
        STARTED,       // async: launched, handed to the reaper
        SPAWN_FAILED,  // code = errno
        LIMIT,         // async: too many scripts already running, not started
        UNKNOWN,       // the child was reaped by someone else (status lost); a handler's
                       // reply was malformed
        HANDLER_DOWN,  // persistent: no running handler, or it ended before replying
        BUSY           // persistent, wait: true: every worker stayed busy with other events
                       // for the whole timeout (no handler was killed)
    };
    Kind kind;
    int code;
    pid_t pid;
};

// What the reaper reports about asynchronous scripts, from its own thread. SPAWN_FAILED:
// the script could not be started (code = errno); pid is -1 then. LIMITED: `code` runs were
// not started since the previous LIMITED (max-async reached, pid = max-async); script and
// point name the last of them.
struct AsyncEvent {
    enum Kind { EXITED_NONZERO, SIGNALED, TIMED_OUT, SPAWN_FAILED, LIMITED } kind;
    std::string script;
    pid_t pid;
    int code;
    std::string point;
};

// Once a run (or a handler's second) is past max-output-lines, its output is read (and thrown
// away) at most once per this interval: a program that writes without pause would otherwise
// keep a core of Kea's busy reading what nobody logs. It blocks on its full pipe meanwhile,
// which costs nothing.
const long long DISCARD_INTERVAL_MS = 10;

// How an asynchronous run ended, for the one who waits for it without blocking (a parked
// query, `park: true`): EXITED, SIGNALED, TIMED_OUT, SPAWN_FAILED or UNKNOWN. Called once, from
// the reaper's thread, without any lock of the launcher held; it must not throw or block.
typedef std::function<void(const Outcome&)> Completion;

// Receives each line a script wrote to stdout/stderr when its output is captured.
typedef std::function<void(const std::string& script, pid_t pid, const std::string& line)>
    LineSink;

// One started script, however it was started (spawn_script.h): the process the launcher waits
// for (a supervisor or the script itself) and how to reach the script.
struct Supervision;
struct Process {
    pid_t pid;          // what we wait for; -1 when nothing was started
    int pidfd;          // pidfd of `pid`, -1 when the kernel has none
    Supervision* sup;   // shared with the supervisor; null for a plain child
    pid_t script() const;  // the script's pid; 0 while the supervisor has not started it
};

// The fds a started program gets as its 0, 1 and 2; -1: Kea's own (/dev/null where Kea's is
// closed or close-on-exec). Given fds must be >= 3.
struct Stdio {
    int in;
    int out;
    int err;
};

// A long-running program (a handler, see handler.h), started as a script is (same guarantees:
// only fds 0-2, here `io`; default signal dispositions, empty mask, its own process group;
// supervised where scripts are) and never waited for by a Launcher. pid < 0: -errno, nothing
// runs. argv and envp may go once this returns (it returns after the exec).
Process start_program(const char* path, char* const argv[], char* const envp[], const Stdio& io);
// SIGKILLs the program's process group (no pid-reuse race where supervised).
void kill_program(const Process& p);
// 1: ended, *status is its wait status; -1: ended, status lost; 0: still running (block
// false). Releases `p` once it has ended (pidfd closed, launch memory given back).
int reap_program(Process& p, int* status, bool block);
// Unmaps the launch memory kept for reuse (at unload; safe at any time).
void drop_kept_mappings();

// Bounds on what scripts may cost Kea. Defaults are the hook's parameters'.
struct Limits {
    std::size_t max_async = 0;          // concurrently running asynchronous scripts (0: none)
    std::size_t max_lines = 100;        // captured lines logged per run; then one line says
                                        // how many more were dropped (SIZE_MAX: no cap)
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
    // Unload: running async scripts may run until `deadline` (monotonic ms), then their
    // process groups are killed; the destructor waits for that.
    void begin_stop(long long deadline);
    // Bounded (see above): without begin_stop, running async scripts get limits.drain_ms,
    // then are killed.
    ~Launcher();

    Launcher(const Launcher&) = delete;
    Launcher& operator=(const Launcher&) = delete;

    // argv and envp are NULL-terminated; the caller may free them once this returns (an
    // async run copies them). timeout_ms <= 0 means no timeout. capture: the script's stdout
    // and stderr go, line by line, to the LineSink instead of Kea's own. An async run that
    // cannot start after all (exec failure) is reported to the EventSink (SPAWN_FAILED).
    // done (async only): called with how the run ended, also at stop; never when run() itself
    // returns LIMIT or SPAWN_FAILED (nothing runs: the caller has its outcome then).
    // LIMIT is also counted and reported by the reaper (AsyncEvent::LIMITED, LIMIT_REPORT_MS;
    // what is left at stop).
    Outcome run(const char* path, char* const argv[], char* const envp[], bool wait,
                int timeout_ms, bool capture = false, Completion done = Completion());

    // Asynchronous scripts being launched or running (slots in use, at most max_async).
    std::size_t running_async() const;

private:
    struct Child {
        Process proc = Process{-1, -1, 0};
        long long deadline = 0;  // monotonic ms, 0 = none; also when to retry a kill
        bool killed = false;
        std::string script;
        int out_fd = -1;         // read end of the captured output, -1 when not captured
        long long quiet_until = 0;  // discarding: output is not read before then (monotonic ms)
        LineBuffer buffer;
        Completion done;         // parked: who waits for the end
    };

    struct PollSet;

    Process spawn(const char* path, char* const argv[], char* const envp[], int out_fd);
    void reaper_loop();
    long long wait_for_children(const std::vector<Child>& mine, PollSet& set, long long drain_until,
                                long long refusals_due);
    bool look_at(Child& c, const PollSet& set, std::size_t i, long long now,
                 std::vector<std::string>& lines);
    void deliver(const Child& c, std::vector<std::string>& lines);
    void report(const AsyncEvent& e);
    void finished(Child& c, int result, int status, std::vector<std::string>& lines);
    void stop_all(std::vector<Child>& mine, std::vector<std::string>& lines);
    long long report_refusals(long long now, bool all);

    const std::size_t max_async_;
    const Limits limits_;
    EventSink sink_;
    LineSink lines_;
    std::mutex mutex_;                 // guards incoming_ only: O(1) work under it
    std::vector<Child> incoming_;      // launched, not yet taken by the reaper
    std::atomic<std::size_t> slots_;   // async scripts launched and not yet reaped
    int wake_fd_;                      // eventfd waking the reaper
    std::atomic<bool> stopping_;
    std::atomic<long long> stop_deadline_{0};  // monotonic ms, set before stopping_
    std::atomic<bool> supervised_;     // decided once, at construction (spawn_script.h)
    Refusals refusals_;                // LIMIT returned, reported by the reaper
    std::thread reaper_;
};

// Milliseconds on the monotonic clock.
long long monotonic_ms();

// Launch memory kept for reuse (tests): each launcher frees it when it stops.
std::size_t kept_mappings();

}  // namespace runscript

#endif
