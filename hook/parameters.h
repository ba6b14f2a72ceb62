// The hook's parameters, parsed and validated once at load().

#ifndef RUNSCRIPT_PARAMETERS_H
#define RUNSCRIPT_PARAMETERS_H

#include "parameter_table.h"

#include <cc/data.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace runscript {

// One entry per hook point the hook knows (generated from the catalogue, callouts.cc).
struct HookPointInfo {
    const char* name;
    bool available;       // our dialect calls scripts here, and this Kea version registers it
    bool default_on;      // called for scripts that do not list hook points (1.4 behaviour)
    const char* since;    // first Kea version with it
    int family;           // 4 or 6: the server that calls it
    bool ours;            // our dialect has it (at some Kea version)
    bool isc;             // ISC's run_script calls scripts here (ISC's dialect)
    bool isc_available;   // ... and this Kea version registers it
    bool parks;           // this Kea version parks a query there (`park: true`)
    const char* park_since;  // first Kea version that parks there, "" when none does
    const char* kea_hook;    // Kea's hook point its callout is registered at (`name` but for:)
    bool replay;             // the hook's own lease replay event (`replay: true`)
    // What this Kea does when a callout asks to skip / drop here (kea_facts.yaml's
    // callout_status): a StatusVerdict and its effect in words ("" where there is no status).
    int skip_verdict;
    const char* skip_effect;
    int drop_verdict;
    const char* drop_effect;
};

// What the hook does with a status (`exit-codes`, `on-failure`) at a hook point: what the
// operator asks for, a warning at load (it can hurt the service), or a refusal (Kea ignores
// it or it cannot work). The order of kea_facts.yaml's verdicts.
enum StatusVerdict { STATUS_OK = 0, STATUS_WARN = 1, STATUS_REFUSE = 2 };

// The names and formats a script gets: ours (`script`, KEA_* variables) or those of ISC's
// libdhcp_run_script (`name`: QUERY4_TYPE, LEASE4_ADDRESS, ...; the catalogue's `isc`).
enum Dialect { DIALECT_OURS = 0, DIALECT_ISC = 1 };

// What a synchronous script's exit code (`exit-codes`) or a failed run (`on-failure`) does to
// Kea's processing; ordered, the strongest wins.
// STEP_PARK is only the callout's answer: the query waits, parked, for `park: true` scripts.
enum NextStep { STEP_CONTINUE = 0, STEP_SKIP = 1, STEP_DROP = 2, STEP_PARK = 3 };

// A DHCP option (or sub-option) exported as an extra variable (`options4` / `options6`).
struct OptionSpec {
    uint16_t code;
    int sub;              // sub-option code, -1 for the option itself
    std::string config;   // as written in the configuration, for messages
};

struct ScriptConfig {
    std::string path;                    // absolute path of the executable
    std::string name;                    // argv[0]: base name as 1.4 passed it; ISC: the path
    Dialect dialect;                     // `script` (ours) or `name` (ISC's)
    bool isc_sync;                       // ISC's `sync`: true is accepted, runs as ISC's did
    bool wait;                           // synchronous (1.4 default) or not
    bool park;                           // the query waits, parked, for the run's end
    bool replay;                         // one event per active lease at start (replay.h)
    int timeout_ms;                      // <= 0: none
    std::vector<bool> hook_points;       // indexed like the hook point table
    std::vector<std::string> extra_env;  // NAME=value added to every run
    bool capture;                        // stdout/stderr lines to Kea's log
    std::map<int, NextStep> exit_codes;  // exit code -> callout status (sync only)
    NextStep on_failure;                 // callout status when the run fails (no exit code)
    bool at_load;                        // also run at load (argv[1] = "load")
    bool at_unload;                      // also run at unload (argv[1] = "unload")
    std::string where;                   // "script" or "scripts[2]", for messages
    bool persistent;                     // a handler (handler.h), not one exec per event
    std::size_t workers;                 // persistent: handler processes
    std::size_t queue;                   // persistent, wait false: records waiting per worker
    bool workers_given;                  // set in the configuration (for its checks)
    bool queue_given;
    std::vector<std::string> warnings;   // statuses that can hurt the service, logged at load
};

struct Config {
    std::vector<ScriptConfig> scripts;
    std::size_t max_async;
    std::size_t max_output_lines;  // captured lines logged per run
    int drain_ms;                  // at unload: how long asynchronous scripts may still run
    unsigned replay_rate;          // replay events started per second at most
    bool check_permissions;        // refuse scripts others than root / Kea's user could change
    std::vector<OptionSpec> options4;
    std::vector<OptionSpec> options6;
};

class ConfigError : public std::runtime_error {
public:
    explicit ConfigError(const std::string& what) : std::runtime_error(what) {}
};

// Throws ConfigError with `message`. A refusal goes to Kea's log and quotes what the
// configuration holds (keys, paths, names), which may be any bytes: as log text, a NUL cannot
// cut the message short and no control character reaches the log.
[[noreturn]] void refuse(const std::string& message);

// Looks a parameter up by name (LibraryHandle::getParameter); null when absent.
typedef std::function<isc::data::ConstElementPtr(const std::string&)> ParameterLookup;

// Throws ConfigError naming the parameter at fault. `names` lists the parameters present
// (empty when this Kea cannot enumerate them, before 1.4: unknown keys are then not caught).
// kea_version: the release the library was built for, named in refusals that depend on it.
Config parse_config(const ParameterLookup& lookup, const std::vector<std::string>& names,
                    const HookPointInfo* hook_points, std::size_t hook_point_count,
                    const char* kea_version);

// Defaults and limits: hook/parameters.yaml (parameter_table.h) is their one source.
const int DEFAULT_TIMEOUT_MS = static_cast<int>(parameter::TIMEOUT_DEFAULT * 1000);
const std::size_t DEFAULT_MAX_ASYNC = parameter::MAX_ASYNC_DEFAULT;
const std::size_t DEFAULT_MAX_OUTPUT_LINES = parameter::MAX_OUTPUT_LINES_DEFAULT;
const int DEFAULT_DRAIN_MS = static_cast<int>(parameter::DRAIN_TIMEOUT_DEFAULT * 1000);
const std::size_t DEFAULT_WORKERS = parameter::WORKERS_DEFAULT;
const std::size_t DEFAULT_QUEUE = parameter::QUEUE_DEFAULT;
const unsigned DEFAULT_REPLAY_RATE = parameter::REPLAY_RATE_DEFAULT;

}  // namespace runscript

#endif
