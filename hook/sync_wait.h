// Synchronous waits for a started script (Launcher::run with wait: true).

#ifndef RUNSCRIPT_SYNC_WAIT_H
#define RUNSCRIPT_SYNC_WAIT_H

#include "launcher.h"

#pragma GCC visibility push(hidden)

namespace runscript {

// Waits for a started script until `deadline` (monotonic_ms; 0: forever), which counts from
// the call, before the spawn: a supervised script's exec may still be under way (stuck on a
// hung filesystem, say) and is then killed on time like the script. Kills its process group
// on timeout. When out_fd >= 0 (non-blocking read end of the script's output), lines go to
// on_line as they arrive, at most limits.read_bytes per wake-up and limits.max_lines per run;
// out_fd is closed. Releases the Process, also when on_line throws (after killing the script).
// A script that could not be started (exec failure, found once its supervisor ended) gives
// SPAWN_FAILED with its errno.
Outcome wait_child(Process p, long long deadline, int out_fd, const Limits& limits,
                   const std::function<void(const std::string&)>& on_line);

}  // namespace runscript

#pragma GCC visibility pop

#endif  // RUNSCRIPT_SYNC_WAIT_H
