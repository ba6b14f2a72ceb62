// Generated from messages.mes by kea_runscript/generate/messages.py. Do not edit.

#include <cstddef>
#include <log/message_types.h>
#include <log/message_initializer.h>

namespace runscript {

extern const isc::log::MessageID RUNSCRIPT_LOAD_ERROR = "RUNSCRIPT_LOAD_ERROR";
extern const isc::log::MessageID RUNSCRIPT_CONFIG_TEST = "RUNSCRIPT_CONFIG_TEST";
extern const isc::log::MessageID RUNSCRIPT_LOADED = "RUNSCRIPT_LOADED";
extern const isc::log::MessageID RUNSCRIPT_ISC_SYNC = "RUNSCRIPT_ISC_SYNC";
extern const isc::log::MessageID RUNSCRIPT_STATUS_WARNING = "RUNSCRIPT_STATUS_WARNING";
extern const isc::log::MessageID RUNSCRIPT_SPAWN_FAILED = "RUNSCRIPT_SPAWN_FAILED";
extern const isc::log::MessageID RUNSCRIPT_TIMEOUT = "RUNSCRIPT_TIMEOUT";
extern const isc::log::MessageID RUNSCRIPT_ASYNC_SPAWN_FAILED = "RUNSCRIPT_ASYNC_SPAWN_FAILED";
extern const isc::log::MessageID RUNSCRIPT_ASYNC_TIMEOUT = "RUNSCRIPT_ASYNC_TIMEOUT";
extern const isc::log::MessageID RUNSCRIPT_ASYNC_LIMIT = "RUNSCRIPT_ASYNC_LIMIT";
extern const isc::log::MessageID RUNSCRIPT_SCRIPT_FAILED = "RUNSCRIPT_SCRIPT_FAILED";
extern const isc::log::MessageID RUNSCRIPT_ASYNC_FAILED = "RUNSCRIPT_ASYNC_FAILED";
extern const isc::log::MessageID RUNSCRIPT_SCRIPT_SIGNALED = "RUNSCRIPT_SCRIPT_SIGNALED";
extern const isc::log::MessageID RUNSCRIPT_CALLOUT_ERROR = "RUNSCRIPT_CALLOUT_ERROR";
extern const isc::log::MessageID RUNSCRIPT_OUTPUT = "RUNSCRIPT_OUTPUT";
extern const isc::log::MessageID RUNSCRIPT_EXIT_ACTION = "RUNSCRIPT_EXIT_ACTION";
extern const isc::log::MessageID RUNSCRIPT_LIFECYCLE_FAILED = "RUNSCRIPT_LIFECYCLE_FAILED";
extern const isc::log::MessageID RUNSCRIPT_FAILURE_ACTION = "RUNSCRIPT_FAILURE_ACTION";
extern const isc::log::MessageID RUNSCRIPT_HANDLER_STARTED = "RUNSCRIPT_HANDLER_STARTED";
extern const isc::log::MessageID RUNSCRIPT_HANDLER_EXITED = "RUNSCRIPT_HANDLER_EXITED";
extern const isc::log::MessageID RUNSCRIPT_HANDLER_RESTART = "RUNSCRIPT_HANDLER_RESTART";
extern const isc::log::MessageID RUNSCRIPT_HANDLER_TIMEOUT = "RUNSCRIPT_HANDLER_TIMEOUT";
extern const isc::log::MessageID RUNSCRIPT_HANDLER_BUSY = "RUNSCRIPT_HANDLER_BUSY";
extern const isc::log::MessageID RUNSCRIPT_HANDLER_QUEUE_FULL = "RUNSCRIPT_HANDLER_QUEUE_FULL";
extern const isc::log::MessageID RUNSCRIPT_HANDLER_OUTPUT = "RUNSCRIPT_HANDLER_OUTPUT";
extern const isc::log::MessageID RUNSCRIPT_HANDLER_PROTOCOL = "RUNSCRIPT_HANDLER_PROTOCOL";
extern const isc::log::MessageID RUNSCRIPT_PARK_RESUMED = "RUNSCRIPT_PARK_RESUMED";
extern const isc::log::MessageID RUNSCRIPT_PARK_LOST = "RUNSCRIPT_PARK_LOST";
extern const isc::log::MessageID RUNSCRIPT_PARK_NOT_PARKED = "RUNSCRIPT_PARK_NOT_PARKED";
extern const isc::log::MessageID RUNSCRIPT_REPLAY_STARTED = "RUNSCRIPT_REPLAY_STARTED";
extern const isc::log::MessageID RUNSCRIPT_REPLAY_DONE = "RUNSCRIPT_REPLAY_DONE";
extern const isc::log::MessageID RUNSCRIPT_REPLAY_SKIPPED = "RUNSCRIPT_REPLAY_SKIPPED";
extern const isc::log::MessageID RUNSCRIPT_REPLAY_STOPPED = "RUNSCRIPT_REPLAY_STOPPED";
extern const isc::log::MessageID RUNSCRIPT_REPLAY_ERROR = "RUNSCRIPT_REPLAY_ERROR";

}  // namespace runscript

namespace {

const char* values[] = {
    "RUNSCRIPT_LOAD_ERROR", "kea-hook-runscript configuration error: %1",
    "RUNSCRIPT_CONFIG_TEST", "kea-hook-runscript %1 configuration test: %2 script(s) checked, none run",
    "RUNSCRIPT_LOADED", "kea-hook-runscript %1 loaded: %2",
    "RUNSCRIPT_ISC_SYNC", "script %1 has \"sync\": true, which ISC's run_script never honoured: it runs asynchronously, as there",
    "RUNSCRIPT_STATUS_WARNING", "%1",
    "RUNSCRIPT_SPAWN_FAILED", "cannot start script %1 at %2: %3",
    "RUNSCRIPT_TIMEOUT", "script %1 at %2 did not finish within %3 ms and was killed with its process group",
    "RUNSCRIPT_ASYNC_SPAWN_FAILED", "cannot start asynchronous script %1: %2",
    "RUNSCRIPT_ASYNC_TIMEOUT", "asynchronous script %1 (pid %2) did not finish within its timeout and was killed with its process group",
    "RUNSCRIPT_ASYNC_LIMIT", "%1 script runs not started: %2 asynchronous scripts were already running (max-async); the last: script %3 at %4",
    "RUNSCRIPT_SCRIPT_FAILED", "script %1 at %2 exited with status %3",
    "RUNSCRIPT_ASYNC_FAILED", "asynchronous script %1 (pid %2) exited with status %3",
    "RUNSCRIPT_SCRIPT_SIGNALED", "script %1 at %2 was killed by signal %3",
    "RUNSCRIPT_CALLOUT_ERROR", "error in hook point %1: %2",
    "RUNSCRIPT_OUTPUT", "%1 (pid %2): %3",
    "RUNSCRIPT_EXIT_ACTION", "script %1 at %2 exited with status %3: callout status set to %4",
    "RUNSCRIPT_LIFECYCLE_FAILED", "script %1 at %2 failed: %3",
    "RUNSCRIPT_FAILURE_ACTION", "script %1 at %2 %3: on-failure sets the callout status to %4",
    "RUNSCRIPT_HANDLER_STARTED", "handler %1 worker %2 started (pid %3)",
    "RUNSCRIPT_HANDLER_EXITED", "handler %1 worker %2 (pid %3) ended: %4",
    "RUNSCRIPT_HANDLER_RESTART", "handler %1 worker %2 will be restarted in %3 ms",
    "RUNSCRIPT_HANDLER_TIMEOUT", "handler %1 worker %2 did not take or answer the %3 record within %4 ms",
    "RUNSCRIPT_HANDLER_BUSY", "handler %1: the %2 event waited %3 ms for a worker, every one busy with other events (nothing killed)",
    "RUNSCRIPT_HANDLER_QUEUE_FULL", "handler %1 worker %2: queue full, %3 events dropped",
    "RUNSCRIPT_HANDLER_OUTPUT", "handler %1 (pid %2): %3",
    "RUNSCRIPT_HANDLER_PROTOCOL", "handler %1 worker %2: %3",
    "RUNSCRIPT_PARK_RESUMED", "query %1 parked at %2: the scripts have ended, the query is %3",
    "RUNSCRIPT_PARK_LOST", "query %1 parked at %2 could not be resumed: %3",
    "RUNSCRIPT_PARK_NOT_PARKED", "query %1 at %2 is not parked by Kea: its park scripts are waited for",
    "RUNSCRIPT_REPLAY_STARTED", "replaying the active leases to the scripts (%1), %2 events a second at most",
    "RUNSCRIPT_REPLAY_DONE", "%1: %2 active leases replayed in %3 s; %4 runs failed, %5 leases not active skipped",
    "RUNSCRIPT_REPLAY_SKIPPED", "%1: the lease database was replayed already in this process; not again",
    "RUNSCRIPT_REPLAY_STOPPED", "%1: replay stopped after %2 leases (%3 s): the library unloads",
    "RUNSCRIPT_REPLAY_ERROR", "%1: the leases cannot be replayed: %2",
    NULL
};

const isc::log::MessageInitializer initializer(values);

}  // namespace
