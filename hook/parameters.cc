#include "parameters.h"

#include "callout_status.h"
#include "log_text.h"
#include "script_file.h"
#include "parameter_values.h"
#include "spelling.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>

using isc::data::ConstElementPtr;
using isc::data::Element;

namespace runscript {

void refuse(const std::string& message) { throw ConfigError(log_safe(message)); }

namespace {

// Keys allowed at the top level and in each `scripts` entry (parameter::SCRIPT_KEYS), and at
// the top level only. Top-level script settings double as defaults for the entries of `scripts`.
using parameter::GLOBAL_ONLY_KEYS;
using parameter::SCRIPT_KEYS;
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

void check_unknown(const std::vector<std::string>& present,
                   const std::vector<std::string>& allowed, const std::string& where) {
    for (const std::string& key : present) {
        if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
            std::string msg = "unknown parameter '" + where + key + "'";
            std::string guess = did_you_mean(key, allowed);
            if (!guess.empty()) msg += " (did you mean '" + guess + "'?)";
            std::string list;
            for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
            refuse(msg + "; known parameters: " + list);
        }
    }
}

std::string isc_points(const HookPointInfo* table, std::size_t count) {
    std::string list;
    for (std::size_t i = 0; i < count; ++i) {
        if (table[i].isc) list += (list.empty() ? "" : ", ") + std::string(table[i].name);
    }
    return list;
}

std::vector<bool> parse_hook_points(const ConstElementPtr& e, const std::string& name,
                                    const HookPointInfo* table, std::size_t count,
                                    Dialect dialect, bool* at_load = 0, bool* at_unload = 0) {
    std::vector<bool> selected(count, false);
    if (at_load) *at_load = false;
    if (at_unload) *at_unload = false;
    if (!e) {
        // ISC's dialect: every hook point ISC's hook calls scripts at, as it does.
        for (std::size_t i = 0; i < count; ++i) {
            selected[i] = dialect == DIALECT_ISC ? table[i].isc_available
                                                 : table[i].available && table[i].default_on;
        }
        return selected;
    }
    expect(e, Element::list, name, "a list of hook point names");
    if (e->size() == 0) {
        refuse("parameter '" + name + "' is an empty list: name at least one hook "
                          "point, or leave the parameter out for the hook points of 1.4");
    }
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
        if (i < count && table[i].replay) {
            refuse("parameter '" + item_name + "': '" + point + "' is the hook's own event "
                   "per lease at start, asked for with 'replay': true, not in 'hook-points'");
        }
        if (i == count) {
            std::string msg = "parameter '" + item_name + "': unknown hook point '" + point + "'";
            std::string guess = did_you_mean(point, known);
            if (!guess.empty()) msg += " (did you mean '" + guess + "'?)";
            refuse(msg);
        }
        if (dialect == DIALECT_ISC && !table[i].isc) {
            refuse("parameter '" + item_name + "': ISC's run_script calls no script at '" +
                   point + "'; a script given as 'name' (ISC's dialect) runs at " +
                   isc_points(table, count) + " (give it as 'script' for the others)");
        }
        if (dialect == DIALECT_OURS && !table[i].ours) {
            refuse("parameter '" + item_name + "': hook point '" + point + "' exists only in "
                   "ISC's dialect: give the script as 'name' to be called there");
        }
        if (!(dialect == DIALECT_ISC ? table[i].isc_available : table[i].available)) {
            refuse("parameter '" + item_name + "': hook point '" + point +
                              "' needs Kea " + table[i].since + " or later");
        }
        selected[i] = true;
    }
    return selected;
}

// Reads the settings a script may have (all but the script, its dialect and its hook
// points: parse_script) from one scope into `s`: the top
// level (defaults for every script) or an entry of `scripts`.
void parse_settings(const std::function<ConstElementPtr(const std::string&)>& get,
                    ScriptConfig& s, const std::string& prefix) {
    if (ConstElementPtr wait = expect(get("wait"), Element::boolean, prefix + "wait",
                                      "a boolean (true or false)")) {
        s.wait = wait->boolValue();
    }
    if (ConstElementPtr timeout = get("timeout")) {
        s.timeout_ms = parse_timeout(timeout, prefix + "timeout");
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
    if (ConstElementPtr action = get("on-failure")) {
        s.on_failure = parse_action(action, prefix + "on-failure");
    }
    if (ConstElementPtr persistent = expect(get("persistent"), Element::boolean,
                                            prefix + "persistent", "a boolean (true or false)")) {
        s.persistent = persistent->boolValue();
    }
    if (ConstElementPtr workers = get("workers")) {
        s.workers = parse_count(workers, prefix + "workers", parameter::WORKERS_MIN, parameter::WORKERS_MAX);
        s.workers_given = true;
    }
    if (ConstElementPtr queue = get("queue")) {
        s.queue = parse_count(queue, prefix + "queue", parameter::QUEUE_MIN, parameter::QUEUE_MAX);
        s.queue_given = true;
    }
    if (ConstElementPtr park = expect(get("park"), Element::boolean, prefix + "park",
                                      "a boolean (true or false)")) {
        s.park = park->boolValue();
    }
    if (ConstElementPtr replay = expect(get("replay"), Element::boolean, prefix + "replay",
                                        "a boolean (true or false)")) {
        s.replay = replay->boolValue();
    }
}

// The script of one scope and its dialect: `script` (ours) or `name` (ISC's run_script's),
// never both; ISC's `sync` only beside `name`, never beside `wait`.
void parse_dialect(const std::function<ConstElementPtr(const std::string&)>& get,
                   ScriptConfig& s, const std::string& prefix) {
    ConstElementPtr script = get("script");
    ConstElementPtr isc_name = get("name");
    if (script && isc_name) {
        refuse("parameters '" + prefix + "script' and '" + prefix + "name' both give the "
               "script: 'script' is kea-hook-runscript's (KEA_* variables), 'name' ISC's "
               "run_script's (its variables); keep one");
    }
    if (!script && !isc_name) {
        refuse("required parameter '" + prefix + "script' is missing (or '" + prefix +
               "name', for ISC's run_script's variables)");
    }
    ConstElementPtr sync = get("sync");
    if (sync && !isc_name) {
        refuse("parameter '" + prefix + "sync' is ISC's run_script's and goes with '" +
               prefix + "name'; beside '" + prefix + "script' use '" + prefix + "wait'");
    }
    if (sync && get("wait")) {
        refuse("parameters '" + prefix + "sync' (ISC's run_script's) and '" + prefix +
               "wait' (kea-hook-runscript's) both set how the script runs; keep one "
               "('wait': true runs it synchronously, 'sync' never did in ISC's hook)");
    }
    s.dialect = isc_name ? DIALECT_ISC : DIALECT_OURS;
    const std::string key = isc_name ? "name" : "script";
    ConstElementPtr path = isc_name ? isc_name : script;
    expect(path, Element::string, prefix + key, "a string (absolute path)");
    s.path = path->stringValue();
    s.isc_sync = false;
    if (sync) {
        expect(sync, Element::boolean, prefix + "sync", "a boolean (true or false)");
        s.isc_sync = sync->boolValue();
    }
}

// One script: `defaults` (the top-level settings) overridden by those found with `get`;
// `top` finds the top-level parameters (the same as `get` for the top-level script).
ScriptConfig parse_script(const std::function<ConstElementPtr(const std::string&)>& get,
                          const std::function<ConstElementPtr(const std::string&)>& top,
                          const ScriptConfig& defaults, const std::string& prefix,
                          const HookPointInfo* table, std::size_t count,
                          bool check_permissions, const char* kea_version) {
    ScriptConfig s = defaults;
    parse_dialect(get, s, prefix);
    const std::string key = s.dialect == DIALECT_ISC ? "name" : "script";
    refuse_nul(s.path, prefix + key);
    check_executable(s.path, prefix + key, check_permissions);
    // argv[0]: 1.4 passed the base name, ISC's hook the name as configured.
    s.name = s.dialect == DIALECT_ISC ? s.path : s.path.substr(s.path.find_last_of('/') + 1);
    s.where = prefix.empty() ? "script" : prefix.substr(0, prefix.size() - 1);
    if (s.dialect == DIALECT_ISC &&
        std::none_of(table, table + count, [](const HookPointInfo& p) { return p.isc_available; })) {
        refuse("parameter '" + prefix + key + "': ISC's dialect is not available for this Kea "
               "version (docs/kea-versions.md says from which on)");
    }
    if (!prefix.empty()) parse_settings(get, s, prefix);
    // ISC's hook runs every script asynchronously: so does ISC's dialect unless `wait` says.
    if (s.dialect == DIALECT_ISC && !get("wait") && !top("wait")) s.wait = false;
    ConstElementPtr points = get("hook-points");
    std::string points_name = prefix + "hook-points";
    if (!points && !prefix.empty()) {
        points = top("hook-points");
        points_name = "hook-points";
    }
    s.hook_points = parse_hook_points(points, points_name, table, count, s.dialect,
                                      &s.at_load, &s.at_unload);
    check_park(get, s, prefix, table, count, kea_version);
    check_replay(get, s, prefix, table, count, kea_version);
    if (!s.exit_codes.empty() && !s.wait && !s.park) {
        const std::string codes = get("exit-codes") ? prefix + "exit-codes" : "exit-codes";
        const std::string wait = get("wait") ? prefix + "wait" : "wait";
        refuse("parameter '" + codes + "' needs '" + wait +
                          "': true or 'park': true (an asynchronous script ends after Kea has "
                          "moved on)");
    }
    // Where a setting came from, for messages: this entry, or the top level it inherits
    // (then the message says which entry inherits it).
    auto named = [&get, &prefix](const char* key) {
        return get(key) ? prefix + key : std::string(key);
    };
    auto inherited = [&get, &prefix, &s](const char* key) {
        return prefix.empty() || get(key) ? std::string() : " (in " + s.where + ")";
    };
    if (s.workers_given && !s.persistent) {
        refuse("parameter '" + named("workers") + "' needs '" + named("persistent") +
                          "': true (only a persistent handler has workers)" + inherited("workers"));
    }
    if (s.queue_given && !s.persistent) {
        refuse("parameter '" + named("queue") + "' needs '" + named("persistent") +
                          "': true (only a persistent handler has a queue)" + inherited("queue"));
    }
    if (s.capture && s.persistent) {
        refuse("parameter '" + named("capture-output") + "' does not apply to a persistent handler ('" +
               named("persistent") + "'): its standard error is always logged "
               "(RUNSCRIPT_HANDLER_OUTPUT) and its standard output carries its replies; remove "
               "it" + inherited("capture-output"));
    }
    if (s.queue_given && s.wait) {
        refuse("parameter '" + named("queue") + "' needs '" + named("wait") +
                          "': false (a synchronous handler's events wait for their reply, "
                          "they are never queued)" + inherited("queue"));
    }
    check_statuses(s, {named("exit-codes"), named("on-failure"), inherited("exit-codes"),
                       inherited("on-failure")}, table, count, kea_version);
    return s;
}

// The entry `scripts[i]`: its own settings over the top level's.
ScriptConfig parse_entry(const ConstElementPtr& entry, std::size_t i,
                         const std::function<ConstElementPtr(const std::string&)>& top,
                         const ScriptConfig& defaults, const HookPointInfo* table,
                         std::size_t count, bool check_permissions, const char* kea_version) {
    const std::string prefix = "scripts[" + std::to_string(i) + "].";
    expect(entry, Element::map, "scripts[" + std::to_string(i) + "]", "a map");
    std::vector<std::string> keys;
    for (const auto& kv : entry->mapValue()) keys.push_back(kv.first);
    check_unknown(keys, script_keys(), prefix);
    auto get = [&entry](const std::string& key) { return entry->get(key); };
    return parse_script(get, top, defaults, prefix, table, count, check_permissions, kea_version);
}

}  // namespace

Config parse_config(const ParameterLookup& lookup, const std::vector<std::string>& names,
                    const HookPointInfo* hook_points, std::size_t hook_point_count,
                    const char* kea_version) {
    check_unknown(names, global_keys(), "");

    Config config;
    config.max_async = DEFAULT_MAX_ASYNC;
    if (ConstElementPtr max = lookup("max-async")) {
        config.max_async = parse_count(max, "max-async", parameter::MAX_ASYNC_MIN, parameter::MAX_ASYNC_MAX);
    }
    config.max_output_lines = DEFAULT_MAX_OUTPUT_LINES;
    if (ConstElementPtr lines = lookup("max-output-lines")) {
        config.max_output_lines = parse_count(lines, "max-output-lines", parameter::MAX_OUTPUT_LINES_MIN,
                                              parameter::MAX_OUTPUT_LINES_MAX);
    }
    config.replay_rate = DEFAULT_REPLAY_RATE;
    if (ConstElementPtr rate = lookup("replay-rate")) {
        config.replay_rate = static_cast<unsigned>(
            parse_count(rate, "replay-rate", parameter::REPLAY_RATE_MIN, parameter::REPLAY_RATE_MAX));
    }
    config.drain_ms = DEFAULT_DRAIN_MS;
    if (ConstElementPtr drain = lookup("drain-timeout")) {
        config.drain_ms = parse_seconds(drain, "drain-timeout", parameter::DRAIN_TIMEOUT_MAX, "");
    }
    config.check_permissions = true;
    if (ConstElementPtr check = expect(lookup("check-permissions"), Element::boolean,
                                       "check-permissions", "a boolean (true or false)")) {
        config.check_permissions = check->boolValue();
    }

    config.options4 = parse_options(lookup("options4"), "options4", 4);
    config.options6 = parse_options(lookup("options6"), "options6", 6);

    // The top-level settings are the defaults of every script, the top-level one included.
    ScriptConfig defaults;
    defaults.wait = true;
    defaults.capture = false;
    defaults.at_load = false;
    defaults.at_unload = false;
    defaults.timeout_ms = DEFAULT_TIMEOUT_MS;
    defaults.on_failure = STEP_CONTINUE;
    defaults.persistent = false;
    defaults.workers = DEFAULT_WORKERS;
    defaults.queue = DEFAULT_QUEUE;
    defaults.workers_given = false;
    defaults.queue_given = false;
    defaults.dialect = DIALECT_OURS;
    defaults.isc_sync = false;
    defaults.park = false;
    defaults.replay = false;
    parse_settings(lookup, defaults, "");

    ConstElementPtr scripts = expect(lookup("scripts"), Element::list, "scripts",
                                     "a list of maps");
    const bool top_script = lookup("script") || lookup("name");
    if (!top_script && !scripts) {
        refuse("required parameter 'script' is missing (or give 'scripts', or 'name' for "
               "ISC's run_script's variables)");
    }
    if (!top_script && lookup("sync")) {
        refuse("parameter 'sync' is ISC's run_script's and goes with 'name'; beside 'scripts' "
               "use 'wait'");
    }
    if (top_script) {
        config.scripts.push_back(parse_script(lookup, lookup, defaults, "", hook_points,
                                              hook_point_count, config.check_permissions,
                                              kea_version));
    }
    if (scripts && scripts->size() == 0 && !top_script) {
        refuse("parameter 'scripts' is an empty list");
    }
    for (std::size_t i = 0; scripts && i < scripts->size(); ++i) {
        config.scripts.push_back(parse_entry(scripts->get(static_cast<int>(i)), i, lookup,
                                             defaults, hook_points, hook_point_count,
                                             config.check_permissions, kea_version));
    }
    return config;
}

}  // namespace runscript
