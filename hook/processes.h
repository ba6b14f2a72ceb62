// Started processes (launcher.h's Process): killing and reaping them, supervised or plain.
//
// Killing a supervised script without a pid-reuse race: the script's pid cannot be reused
// while the script is unreaped, and only its supervisor reaps it. Supervision::state decides
// who goes first: the hook moves RUNNING -> KILLING, signals the script's group, moves back to
// RUNNING; the supervisor, once waitid(WNOWAIT) says the script has ended, moves RUNNING ->
// REAPING (waiting on the futex while the hook holds KILLING), and only then reaps.
//
// Whether the script starts at all is decided the same way, before the clone: the supervisor
// moves NOT_STARTED -> RUNNING and starts it, or finds CANCELLED (the hook gave up: timeout,
// stop) and ends. So the hook never kills a supervisor that may still start a script: such a
// script would run this library's code, before its exec, after the library is unmapped.

#ifndef RUNSCRIPT_PROCESSES_H
#define RUNSCRIPT_PROCESSES_H

#include "launcher.h"

#pragma GCC visibility push(hidden)

namespace runscript {

// waitpid that survives EINTR (__WALL: silent children need it).
pid_t reap(pid_t pid, int* status, int flags);

// True once `pid` (our child) has ended, without reaping it.
bool has_ended(pid_t pid);

// Kills the script's process group, or makes sure a supervisor that has not started it never
// will (it then ends on its own). False only while a supervisor is between deciding to start
// the script and its clone, a few microseconds: try again shortly. Plain children (no
// supervisor): by pid; Kea's waitpid(-1) may reap such a child under us, and its pid may then
// be reused: the residual race of kernels without pidfds.
bool kill_script(const Process& p);

// Kills the process we wait for itself (a supervisor: through its pidfd when there is one;
// its pid cannot be reused before we reap it either). A supervisor only once kill_script has
// succeeded: it must not leave a script behind that runs this library's code before its exec.
void kill_waited(const Process& p);

// Waits for the supervisor's word that the script has exec'd; false when the supervisor died
// without giving it (checked every 20 ms: a Kea thread never hangs on a dead supervisor).
bool wait_launched(const Process& p);

// Closes the pidfd and gives the launch memory back.
void release(Process& p);

Outcome from_status(pid_t pid, int status);

// 1: finished, *status valid; 0: still running (only with WNOHANG); -1: finished, status
// unknown (a plain child reaped by someone else, or a supervisor that did not start it).
int finish(Process& p, int* status, int flags);

// errno of a script that could not be started, found once its supervisor has ended (0: it
// was started).
int start_error(const Process& p);

// Kills the script, then waits for what we wait for: used when the caller cannot go on
// (an exception). Bounded: the script is gone or will never start, the supervisor follows at
// once.
void kill_and_reap(Process& p);

}  // namespace runscript

#pragma GCC visibility pop

#endif  // RUNSCRIPT_PROCESSES_H
