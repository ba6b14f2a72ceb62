// The hook's parameters, parsed and validated once at load().

#ifndef RUNSCRIPT_CONFIG_H
#define RUNSCRIPT_CONFIG_H

#include <cc/data.h>

#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace runscript {

// One entry per hook point the hook knows (generated from the catalogue, callouts.cc).
struct HookPointInfo {
    const char* name;
    bool available;       // this Kea version registers it
    bool default_on;      // called for scripts that do not list hook points (1.4 behaviour)
    const char* since;    // first Kea version with it
};

struct ScriptConfig {
    std::string path;                    // absolute path of the executable
    std::string name;                    // argv[0]: base name, as 1.4 passed it
    bool wait;                           // synchronous (1.4 default) or not
    int timeout_ms;                      // <= 0: none
    std::vector<bool> hook_points;       // indexed like the hook point table
    std::vector<std::string> extra_env;  // NAME=value added to every run
    std::string where;                   // "script" or "scripts[2]", for messages
};

struct Config {
    std::vector<ScriptConfig> scripts;
    std::size_t max_async;
};

class ConfigError : public std::runtime_error {
public:
    explicit ConfigError(const std::string& what) : std::runtime_error(what) {}
};

// Looks a parameter up by name (LibraryHandle::getParameter); null when absent.
typedef std::function<isc::data::ConstElementPtr(const std::string&)> ParameterLookup;

// Throws ConfigError naming the parameter at fault. `names` lists the parameters present
// (empty when this Kea cannot enumerate them, before 1.4: unknown keys are then not caught).
Config parse_config(const ParameterLookup& lookup, const std::vector<std::string>& names,
                    const HookPointInfo* hook_points, std::size_t hook_point_count);

// Closest candidate for a misspelt name, or "" when none is close.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

const int DEFAULT_TIMEOUT_MS = 10000;
const std::size_t DEFAULT_MAX_ASYNC = 64;

}  // namespace runscript

#endif
