// The callout statuses a script asks for (`exit-codes`, `on-failure`) against what this Kea
// does with each at each hook point (kea_facts.yaml's callout_status, in HookPointInfo).
#ifndef RUNSCRIPT_CALLOUT_STATUS_H
#define RUNSCRIPT_CALLOUT_STATUS_H

#include "parameters.h"

#include <string>

namespace runscript {

// Where the statuses of one script were configured, for messages: the parameters' names
// (`scripts[1].on-failure`, or `on-failure` for a top-level default) and, when inherited from
// the top level, " (in scripts[1])".
struct StatusOrigin {
    std::string exit_codes;
    std::string on_failure;
    std::string exit_codes_inherited;
    std::string on_failure_inherited;
};

// Refuses (ConfigError naming parameter, value and hook point) a status that this Kea ignores
// or that cannot work at one of the script's hook points; appends to s.warnings one line per
// status that works but can hurt the service.
void check_statuses(ScriptConfig& s, const StatusOrigin& origin, const HookPointInfo* table,
                    std::size_t count, const char* kea_version);

}  // namespace runscript

#endif
