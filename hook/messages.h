// Generated from messages.mes by kea_runscript/generate/messages.py. Do not edit.

#ifndef RUNSCRIPT_MESSAGES_H
#define RUNSCRIPT_MESSAGES_H

#include <log/message_types.h>

namespace runscript {

extern const isc::log::MessageID RUNSCRIPT_LOAD_ERROR;
extern const isc::log::MessageID RUNSCRIPT_CONFIG_TEST;
extern const isc::log::MessageID RUNSCRIPT_LOADED;
extern const isc::log::MessageID RUNSCRIPT_ISC_SYNC;
extern const isc::log::MessageID RUNSCRIPT_STATUS_WARNING;
extern const isc::log::MessageID RUNSCRIPT_SPAWN_FAILED;
extern const isc::log::MessageID RUNSCRIPT_TIMEOUT;
extern const isc::log::MessageID RUNSCRIPT_ASYNC_SPAWN_FAILED;
extern const isc::log::MessageID RUNSCRIPT_ASYNC_TIMEOUT;
extern const isc::log::MessageID RUNSCRIPT_ASYNC_LIMIT;
extern const isc::log::MessageID RUNSCRIPT_SCRIPT_FAILED;
extern const isc::log::MessageID RUNSCRIPT_ASYNC_FAILED;
extern const isc::log::MessageID RUNSCRIPT_SCRIPT_SIGNALED;
extern const isc::log::MessageID RUNSCRIPT_CALLOUT_ERROR;
extern const isc::log::MessageID RUNSCRIPT_OUTPUT;
extern const isc::log::MessageID RUNSCRIPT_EXIT_ACTION;
extern const isc::log::MessageID RUNSCRIPT_LIFECYCLE_FAILED;
extern const isc::log::MessageID RUNSCRIPT_FAILURE_ACTION;
extern const isc::log::MessageID RUNSCRIPT_HANDLER_STARTED;
extern const isc::log::MessageID RUNSCRIPT_HANDLER_EXITED;
extern const isc::log::MessageID RUNSCRIPT_HANDLER_RESTART;
extern const isc::log::MessageID RUNSCRIPT_HANDLER_TIMEOUT;
extern const isc::log::MessageID RUNSCRIPT_HANDLER_BUSY;
extern const isc::log::MessageID RUNSCRIPT_HANDLER_QUEUE_FULL;
extern const isc::log::MessageID RUNSCRIPT_HANDLER_OUTPUT;
extern const isc::log::MessageID RUNSCRIPT_HANDLER_PROTOCOL;
extern const isc::log::MessageID RUNSCRIPT_PARK_RESUMED;
extern const isc::log::MessageID RUNSCRIPT_PARK_LOST;
extern const isc::log::MessageID RUNSCRIPT_PARK_NOT_PARKED;
extern const isc::log::MessageID RUNSCRIPT_REPLAY_STARTED;
extern const isc::log::MessageID RUNSCRIPT_REPLAY_DONE;
extern const isc::log::MessageID RUNSCRIPT_REPLAY_SKIPPED;
extern const isc::log::MessageID RUNSCRIPT_REPLAY_STOPPED;
extern const isc::log::MessageID RUNSCRIPT_REPLAY_ERROR;

}  // namespace runscript

#endif
