#include "parameters.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>

using isc::data::ConstElementPtr;
using isc::data::Element;

namespace runscript {

namespace {

// Keys allowed at the top level and in each `scripts` entry. Top-level script settings
// double as defaults for the entries of `scripts`.
const char* const SCRIPT_KEYS[] = {"script", "wait", "timeout", "hook-points", "environment",
                                   "capture-output", "exit-codes"};
const char* const GLOBAL_ONLY_KEYS[] = {"scripts", "max-async", "options4", "options6"};
// Pseudo hook points: the script runs when the library is loaded / unloaded.
const char* const LOAD_POINT = "load";
const char* const UNLOAD_POINT = "unload";

std::vector<std::string> script_keys() {
    return std::vector<std::string>(std::begin(SCRIPT_KEYS), std::end(SCRIPT_KEYS));
}

std::vector<std::string> global_keys() {
    std::vector<std::string> keys = script_keys();
    keys.insert(keys.end(), std::begin(GLOBAL_ONLY_KEYS), std::end(GLOBAL_ONLY_KEYS));
    return keys;
}

std::string type_name(const ConstElementPtr& e) {
    return Element::typeToName(static_cast<Element::types>(e->getType()));
}

void check_unknown(const std::vector<std::string>& present,
                   const std::vector<std::string>& allowed, const std::string& where) {
    for (const std::string& key : present) {
        if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
            std::string msg = "unknown parameter '" + where + key + "'";
            std::string guess = did_you_mean(key, allowed);
            if (!guess.empty()) msg += " (did you mean '" + guess + "'?)";
            std::string list;
            for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
            throw ConfigError(msg + "; known parameters: " + list);
        }
    }
}

ConstElementPtr expect(const ConstElementPtr& e, Element::types type, const std::string& name,
                       const char* what) {
    if (e && e->getType() != type) {
        throw ConfigError("parameter '" + name + "' must be " + what + ", not " + type_name(e));
    }
    return e;
}

int parse_timeout(const ConstElementPtr& e, const std::string& name) {
    double seconds;
    if (e->getType() == Element::integer) {
        seconds = static_cast<double>(e->intValue());
    } else if (e->getType() == Element::real) {
        seconds = e->doubleValue();
    } else {
        throw ConfigError("parameter '" + name + "' must be a number of seconds, not " +
                          type_name(e));
    }
    if (!(seconds >= 0) || seconds > 86400) {
        throw ConfigError("parameter '" + name + "' must be between 0 (no timeout) and 86400 seconds");
    }
    return static_cast<int>(std::lround(seconds * 1000));
}

void check_executable(const std::string& path, const std::string& name) {
    if (path.empty() || path[0] != '/') {
        throw ConfigError("parameter '" + name + "' must be an absolute path, got '" + path + "'");
    }
    struct stat st;
    if (stat(path.c_str(), &st) != 0) {
        throw ConfigError("parameter '" + name + "': script '" + path + "' does not exist");
    }
    if (!S_ISREG(st.st_mode)) {
        throw ConfigError("parameter '" + name + "': '" + path + "' is not a regular file");
    }
    if (access(path.c_str(), X_OK) != 0) {
        throw ConfigError("parameter '" + name + "': script '" + path + "' is not executable");
    }
}

std::vector<bool> parse_hook_points(const ConstElementPtr& e, const std::string& name,
                                    const HookPointInfo* table, std::size_t count,
                                    bool* at_load = 0, bool* at_unload = 0) {
    std::vector<bool> selected(count, false);
    if (at_load) *at_load = false;
    if (at_unload) *at_unload = false;
    if (!e) {
        for (std::size_t i = 0; i < count; ++i) {
            selected[i] = table[i].available && table[i].default_on;
        }
        return selected;
    }
    expect(e, Element::list, name, "a list of hook point names");
    std::vector<std::string> known;
    for (std::size_t i = 0; i < count; ++i) known.push_back(table[i].name);
    known.push_back(LOAD_POINT);
    known.push_back(UNLOAD_POINT);
    for (std::size_t j = 0; j < e->size(); ++j) {
        ConstElementPtr item = e->get(static_cast<int>(j));
        std::string item_name = name + "[" + std::to_string(j) + "]";
        expect(item, Element::string, item_name, "a hook point name (string)");
        const std::string point = item->stringValue();
        if (point == LOAD_POINT && at_load) {
            *at_load = true;
            continue;
        }
        if (point == UNLOAD_POINT && at_unload) {
            *at_unload = true;
            continue;
        }
        std::size_t i = 0;
        while (i < count && point != table[i].name) ++i;
        if (i == count) {
            std::string msg = "parameter '" + item_name + "': unknown hook point '" + point + "'";
            std::string guess = did_you_mean(point, known);
            if (!guess.empty()) msg += " (did you mean '" + guess + "'?)";
            throw ConfigError(msg);
        }
        if (!table[i].available) {
            throw ConfigError("parameter '" + item_name + "': hook point '" + point +
                              "' needs Kea " + table[i].since + " or later");
        }
        selected[i] = true;
    }
    return selected;
}

std::vector<std::string> parse_environment(const ConstElementPtr& e, const std::string& name) {
    std::vector<std::string> env;
    if (!e) return env;
    expect(e, Element::map, name, "a map of variable names to strings");
    for (const auto& kv : e->mapValue()) {
        const std::string& var = kv.first;
        std::string item_name = name + "." + var;
        if (var.empty() || var.find('=') != std::string::npos || var.compare(0, 4, "KEA_") == 0) {
            throw ConfigError("parameter '" + item_name +
                              "': variable names must be non-empty, without '=' and not start "
                              "with KEA_ (reserved for the hook)");
        }
        expect(kv.second, Element::string, item_name, "a string");
        env.push_back(var + "=" + kv.second->stringValue());
    }
    return env;
}

std::map<int, NextStep> parse_exit_codes(const ConstElementPtr& e, const std::string& name) {
    expect(e, Element::map, name, "a map of exit codes to \"continue\", \"skip\" or \"drop\"");
    std::map<int, NextStep> codes;
    for (const auto& kv : e->mapValue()) {
        std::string item_name = name + "." + kv.first;
        char* end = 0;
        long code = strtol(kv.first.c_str(), &end, 10);
        if (kv.first.empty() || *end != '\0' || code < 0 || code > 255) {
            throw ConfigError("parameter '" + item_name + "': keys are exit codes 0 to 255");
        }
        expect(kv.second, Element::string, item_name, "\"continue\", \"skip\" or \"drop\"");
        const std::string action = kv.second->stringValue();
        if (action == "continue") codes[code] = STEP_CONTINUE;
        else if (action == "skip") codes[code] = STEP_SKIP;
        else if (action == "drop") codes[code] = STEP_DROP;
        else throw ConfigError("parameter '" + item_name + "': unknown action '" + action +
                               "' (use \"continue\", \"skip\" or \"drop\")");
    }
    return codes;
}

// `options4` / `options6`: option codes, or "code.sub" for a sub-option (DHCPv4 only).
std::vector<OptionSpec> parse_options(const ConstElementPtr& e, const std::string& name,
                                      int family) {
    std::vector<OptionSpec> options;
    if (!e) return options;
    const long max_code = family == 4 ? 254 : 65535;
    const char* what = family == 4 ? "option codes (1-254) or \"code.sub-code\" strings"
                                   : "option codes (1-65535)";
    expect(e, Element::list, name, (std::string("a list of ") + what).c_str());
    for (std::size_t j = 0; j < e->size(); ++j) {
        ConstElementPtr item = e->get(static_cast<int>(j));
        std::string item_name = name + "[" + std::to_string(j) + "]";
        OptionSpec spec;
        spec.sub = -1;
        long code = -1, sub = -1;
        if (item->getType() == Element::integer) {
            code = static_cast<long>(item->intValue());
            spec.config = std::to_string(code);
        } else if (item->getType() == Element::string && family == 4) {
            spec.config = item->stringValue();
            char* end = 0;
            code = strtol(spec.config.c_str(), &end, 10);
            if (*end == '.') {
                char* end2 = 0;
                sub = strtol(end + 1, &end2, 10);
                if (end2 == end + 1 || *end2 != '\0' || sub < 0 || sub > 255) code = -1;
            } else if (*end != '\0' || end == spec.config.c_str()) {
                code = -1;
            }
        }
        if (code < 1 || code > max_code) {
            throw ConfigError("parameter '" + item_name + "' must be one of " + what);
        }
        spec.code = static_cast<uint16_t>(code);
        spec.sub = static_cast<int>(sub);
        options.push_back(spec);
    }
    return options;
}

// Reads one script's settings. `get` finds a key in this scope, `fallback` the defaults.
ScriptConfig parse_script(const std::function<ConstElementPtr(const std::string&)>& get,
                          const ScriptConfig& defaults, const std::string& prefix,
                          const HookPointInfo* table, std::size_t count) {
    ScriptConfig s = defaults;
    s.where = prefix.empty() ? "script" : prefix.substr(0, prefix.size() - 1);
    ConstElementPtr script = get("script");
    if (!script) {
        throw ConfigError("required parameter '" + prefix + "script' is missing");
    }
    expect(script, Element::string, prefix + "script", "a string (absolute path)");
    s.path = script->stringValue();
    check_executable(s.path, prefix + "script");
    s.name = s.path.substr(s.path.find_last_of('/') + 1);

    if (ConstElementPtr wait = expect(get("wait"), Element::boolean, prefix + "wait",
                                      "a boolean (true or false)")) {
        s.wait = wait->boolValue();
    }
    if (ConstElementPtr timeout = get("timeout")) {
        s.timeout_ms = parse_timeout(timeout, prefix + "timeout");
    }
    if (ConstElementPtr points = get("hook-points")) {
        s.hook_points = parse_hook_points(points, prefix + "hook-points", table, count,
                                          &s.at_load, &s.at_unload);
    }
    if (ConstElementPtr env = get("environment")) {
        s.extra_env = parse_environment(env, prefix + "environment");
    }
    if (ConstElementPtr capture = expect(get("capture-output"), Element::boolean,
                                         prefix + "capture-output", "a boolean")) {
        s.capture = capture->boolValue();
    }
    if (ConstElementPtr codes = get("exit-codes")) {
        s.exit_codes = parse_exit_codes(codes, prefix + "exit-codes");
    }
    if (!s.exit_codes.empty() && !s.wait) {
        throw ConfigError("parameter '" + prefix + "exit-codes' needs '" + prefix +
                          "wait': true (an asynchronous script ends after Kea has moved on)");
    }
    return s;
}

}  // namespace

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
    std::string best;
    std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
    for (const std::string& c : candidates) {
        // Levenshtein distance, two rows.
        std::vector<std::size_t> prev(c.size() + 1), cur(c.size() + 1);
        for (std::size_t j = 0; j <= c.size(); ++j) prev[j] = j;
        for (std::size_t i = 1; i <= word.size(); ++i) {
            cur[0] = i;
            for (std::size_t j = 1; j <= c.size(); ++j) {
                std::size_t cost = word[i - 1] == c[j - 1] ? 0 : 1;
                cur[j] = std::min(std::min(prev[j] + 1, cur[j - 1] + 1), prev[j - 1] + cost);
            }
            prev.swap(cur);
        }
        if (prev[c.size()] < best_distance) {
            best_distance = prev[c.size()];
            best = c;
        }
    }
    return best;
}

Config parse_config(const ParameterLookup& lookup, const std::vector<std::string>& names,
                    const HookPointInfo* hook_points, std::size_t hook_point_count) {
    check_unknown(names, global_keys(), "");

    Config config;
    config.max_async = DEFAULT_MAX_ASYNC;
    if (ConstElementPtr max = expect(lookup("max-async"), Element::integer, "max-async",
                                     "an integer")) {
        if (max->intValue() < 1 || max->intValue() > 100000) {
            throw ConfigError("parameter 'max-async' must be between 1 and 100000");
        }
        config.max_async = static_cast<std::size_t>(max->intValue());
    }

    config.options4 = parse_options(lookup("options4"), "options4", 4);
    config.options6 = parse_options(lookup("options6"), "options6", 6);

    ScriptConfig defaults;
    defaults.wait = true;
    defaults.capture = false;
    defaults.at_load = false;
    defaults.at_unload = false;
    defaults.timeout_ms = DEFAULT_TIMEOUT_MS;
    defaults.hook_points = parse_hook_points(ConstElementPtr(), "hook-points", hook_points,
                                             hook_point_count);

    ConstElementPtr scripts = expect(lookup("scripts"), Element::list, "scripts",
                                     "a list of maps");
    ConstElementPtr top_script = lookup("script");
    if (!top_script && !scripts) {
        throw ConfigError("required parameter 'script' is missing (or give 'scripts')");
    }
    if (top_script) {
        ScriptConfig top = parse_script(lookup, defaults, "", hook_points, hook_point_count);
        config.scripts.push_back(top);
    } else {
        // Top-level settings still serve as defaults for the entries of `scripts`.
        if (ConstElementPtr wait = expect(lookup("wait"), Element::boolean, "wait",
                                          "a boolean (true or false)")) {
            defaults.wait = wait->boolValue();
        }
        if (ConstElementPtr timeout = lookup("timeout")) {
            defaults.timeout_ms = parse_timeout(timeout, "timeout");
        }
        if (ConstElementPtr points = lookup("hook-points")) {
            defaults.hook_points = parse_hook_points(points, "hook-points", hook_points,
                                                     hook_point_count, &defaults.at_load,
                                                     &defaults.at_unload);
        }
        if (ConstElementPtr env = lookup("environment")) {
            defaults.extra_env = parse_environment(env, "environment");
        }
        if (ConstElementPtr capture = expect(lookup("capture-output"), Element::boolean,
                                             "capture-output", "a boolean")) {
            defaults.capture = capture->boolValue();
        }
        if (ConstElementPtr codes = lookup("exit-codes")) {
            defaults.exit_codes = parse_exit_codes(codes, "exit-codes");
        }
    }
    if (scripts) {
        if (scripts->size() == 0 && !top_script) {
            throw ConfigError("parameter 'scripts' is an empty list");
        }
        for (std::size_t i = 0; i < scripts->size(); ++i) {
            ConstElementPtr entry = scripts->get(static_cast<int>(i));
            std::string prefix = "scripts[" + std::to_string(i) + "].";
            expect(entry, Element::map, "scripts[" + std::to_string(i) + "]", "a map");
            std::vector<std::string> keys;
            for (const auto& kv : entry->mapValue()) keys.push_back(kv.first);
            check_unknown(keys, script_keys(), prefix);
            auto get = [&entry](const std::string& key) { return entry->get(key); };
            config.scripts.push_back(parse_script(get, defaults, prefix, hook_points,
                                                  hook_point_count));
        }
    }
    return config;
}

}  // namespace runscript
