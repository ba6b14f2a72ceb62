// Generated from hook/parameters.yaml by `kea-runscript docs`: do not edit.
#ifndef RUNSCRIPT_PARAMETER_TABLE_H
#define RUNSCRIPT_PARAMETER_TABLE_H

namespace runscript {
namespace parameter {

// Keys of the top level and of each `scripts` entry; keys of the top level only.
const char* const SCRIPT_KEYS[] = {"script", "wait", "park", "replay", "timeout", "hook-points", "environment", "capture-output", "exit-codes", "on-failure", "persistent", "workers", "queue", "name", "sync"};
const char* const GLOBAL_ONLY_KEYS[] = {"scripts", "max-async", "max-output-lines", "drain-timeout", "check-permissions", "options4", "options6", "replay-rate"};

// Limits (inclusive) and numeric defaults; seconds are in seconds.
const long TIMEOUT_MIN = 0;
const long TIMEOUT_MAX = 86400;
const long TIMEOUT_DEFAULT = 10;
const long MAX_ASYNC_MIN = 1;
const long MAX_ASYNC_MAX = 100000;
const long MAX_ASYNC_DEFAULT = 64;
const long MAX_OUTPUT_LINES_MIN = 1;
const long MAX_OUTPUT_LINES_MAX = 100000;
const long MAX_OUTPUT_LINES_DEFAULT = 100;
const long EXIT_CODES_KEY_MIN = 0;
const long EXIT_CODES_KEY_MAX = 255;
const long DRAIN_TIMEOUT_MIN = 0;
const long DRAIN_TIMEOUT_MAX = 60;
const long DRAIN_TIMEOUT_DEFAULT = 2;
const long OPTIONS4_MIN = 1;
const long OPTIONS4_MAX = 254;
const long OPTIONS4_SUB_MIN = 0;
const long OPTIONS4_SUB_MAX = 255;
const long OPTIONS6_MIN = 1;
const long OPTIONS6_MAX = 65535;
const long REPLAY_RATE_MIN = 1;
const long REPLAY_RATE_MAX = 100000;
const long REPLAY_RATE_DEFAULT = 1000;
const long WORKERS_MIN = 1;
const long WORKERS_MAX = 64;
const long WORKERS_DEFAULT = 1;
const long QUEUE_MIN = 1;
const long QUEUE_MAX = 65536;
const long QUEUE_DEFAULT = 1024;

}  // namespace parameter
}  // namespace runscript

#endif  // RUNSCRIPT_PARAMETER_TABLE_H
