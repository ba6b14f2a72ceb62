// The values of the hook's parameters, each checked on its own: a wrong type or range throws
// ConfigError naming the parameter (parameters.h puts them together).

#ifndef RUNSCRIPT_PARAMETER_VALUES_H
#define RUNSCRIPT_PARAMETER_VALUES_H

#include "parameters.h"

#include <cc/data.h>

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

#pragma GCC visibility push(hidden)

namespace runscript {

std::string type_name(const isc::data::ConstElementPtr& e);

// `e` itself when absent or of `type`; else refused, saying it must be `what`.
isc::data::ConstElementPtr expect(const isc::data::ConstElementPtr& e, isc::data::Element::types type,
                                  const std::string& name, const char* what);

// Seconds (integer or real) as milliseconds. A positive value never becomes 0, which would
// mean "no timeout": anything under a millisecond is taken as one. Refused outside 0..max;
// zero_means: what the refusal says 0 means ("" or " (no timeout)").
int parse_seconds(const isc::data::ConstElementPtr& e, const std::string& name, long max,
                  const char* zero_means);
int parse_timeout(const isc::data::ConstElementPtr& e, const std::string& name);

// JSON's "\u0000" gives a NUL byte, which no path or environment string can hold: it would
// silently cut the text there.
void refuse_nul(const std::string& text, const std::string& name);

std::vector<std::string> parse_environment(const isc::data::ConstElementPtr& e, const std::string& name);
NextStep parse_action(const isc::data::ConstElementPtr& e, const std::string& name);
std::map<int, NextStep> parse_exit_codes(const isc::data::ConstElementPtr& e, const std::string& name);

// `options4` / `options6`: option codes, or "code.sub" for a sub-option (DHCPv4 only).
std::vector<OptionSpec> parse_options(const isc::data::ConstElementPtr& e, const std::string& name,
                                      int family);

// An integer min..max.
std::size_t parse_count(const isc::data::ConstElementPtr& e, const std::string& name, long min, long max);

// `park: true` checked for one script (refuses what cannot work), `get` its scope's lookup.
void check_park(const std::function<isc::data::ConstElementPtr(const std::string&)>& get,
                ScriptConfig& s, const std::string& prefix, const HookPointInfo* table,
                std::size_t count, const char* kea_version);

// `replay: true`: refused in ISC's dialect and where this Kea cannot replay; subscribes the
// entry to the replay events.
void check_replay(const std::function<isc::data::ConstElementPtr(const std::string&)>& get,
                ScriptConfig& s, const std::string& prefix, const HookPointInfo* table,
                std::size_t count, const char* kea_version);

}  // namespace runscript

#pragma GCC visibility pop

#endif  // RUNSCRIPT_PARAMETER_VALUES_H
