// Starting a script: supervised (a process of our own, without libc, starts it and waits for
// it; supervisor.cc) or as a plain child (posix_spawn, or vfork where the C library lacks
// posix_spawn_file_actions_addclosefrom_np).
//
// Build switches: every kernel- or libc-dependent path can be forced at build time.
//   RUNSCRIPT_NO_CLOSE_RANGE: close fds through /proc/self/fd (kernels before 5.9).
//   RUNSCRIPT_NO_PIDFD: no pidfds and no supervisor (kernels before 5.3): plain children.
//   RUNSCRIPT_NO_SPAWN_CLOSEFROM: vfork() instead of posix_spawn (glibc before 2.34).
// Test-only fault injection: RUNSCRIPT_FAKE_OLD_CLONE (the kernel ignores CLONE_PIDFD and has
// no pidfd_open, as before 5.2), RUNSCRIPT_FAKE_CLONE_IGNORES_PIDFD (only the clone ignores it),
// RUNSCRIPT_FAULT_SUPERVISOR_DIES (the supervisor exits before waking the caller),
// RUNSCRIPT_FAULT_SUPERVISOR_CRASHES (it dies of a core-dumping signal instead),
// RUNSCRIPT_FAULT_SLOW_EXEC (the script's exec takes 1.5 s),
// RUNSCRIPT_FAULT_SLOW_SUPERVISOR=MS (it starts the script MS milliseconds late, MS < 1000),
// RUNSCRIPT_FAULT_THROW_AFTER_SPAWN (the first async launch throws once the script is started).

#ifndef RUNSCRIPT_SPAWN_SCRIPT_H
#define RUNSCRIPT_SPAWN_SCRIPT_H

#include "launcher.h"
#include "supervisor.h"

#pragma GCC visibility push(hidden)

namespace runscript {

#if RUNSCRIPT_SUPERVISED
// Returns the supervisor as a Process, or pid = -errno. detach: the caller does not need the
// script's exec done (Launcher::run, both modes): when the call fits in the launch memory, it
// is copied there and this returns as soon as the supervisor exists, leaving the script's exec
// to the supervisor, on another core if there is one. An exec failure then shows in
// Supervision::exec_err.
// *refused: the kernel refused the supervisor's own clone (EINVAL under qemu-user, EPERM or
// ENOSYS from a seccomp filter): nothing ran, and no later launch can be supervised. Only
// then: a script's exec fails with EPERM or EINVAL too (a file capability outside the
// bounding set, a seccomp filter on one path), and that is the one run's failure.
Process spawn_supervised(const char* path, char* const argv[], char* const envp[], Stdio io,
                         bool detach, bool* refused);
#endif

// A plain child that signals SIGCHLD as usual: kernels without pidfds, other architectures.
Process spawn_plain(const char* path, char* const argv[], char* const envp[], Stdio io);

}  // namespace runscript

#pragma GCC visibility pop

#endif  // RUNSCRIPT_SPAWN_SCRIPT_H
