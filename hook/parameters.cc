#include "parameters.h"

#include "log_text.h"

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

namespace {

// A refusal goes to Kea's log and quotes what the configuration holds (keys, paths, names),
// which may be any bytes: as log text, a NUL cannot cut the message short and no control
// character reaches the log.
[[noreturn]] void refuse(const std::string& message) { throw ConfigError(log_safe(message)); }

// Keys allowed at the top level and in each `scripts` entry. Top-level script settings
// double as defaults for the entries of `scripts`.
const char* const SCRIPT_KEYS[] = {"script", "wait", "timeout", "hook-points", "environment",
                                   "capture-output", "exit-codes", "on-failure", "persistent",
                                   "workers", "queue"};
const char* const GLOBAL_ONLY_KEYS[] = {"scripts", "max-async", "options4", "options6",
                                        "max-output-lines", "drain-timeout", "check-permissions"};
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
            refuse(msg + "; known parameters: " + list);
        }
    }
}

ConstElementPtr expect(const ConstElementPtr& e, Element::types type, const std::string& name,
                       const char* what) {
    if (e && e->getType() != type) {
        refuse("parameter '" + name + "' must be " + what + ", not " + type_name(e));
    }
    return e;
}

// Seconds (integer or real) as milliseconds. A positive value never becomes 0, which would
// mean "no timeout": anything under a millisecond is taken as one.
int parse_seconds(const ConstElementPtr& e, const std::string& name, double max,
                  const char* range) {
    double seconds;
    if (e->getType() == Element::integer) {
        seconds = static_cast<double>(e->intValue());
    } else if (e->getType() == Element::real) {
        seconds = e->doubleValue();
    } else {
        refuse("parameter '" + name + "' must be a number of seconds, not " +
                          type_name(e));
    }
    if (!(seconds >= 0) || seconds > max) {
        refuse("parameter '" + name + "' must be between " + range);
    }
    long ms = std::lround(seconds * 1000);
    if (seconds > 0 && ms < 1) ms = 1;
    return static_cast<int>(ms);
}

int parse_timeout(const ConstElementPtr& e, const std::string& name) {
    return parse_seconds(e, name, 86400, "0 (no timeout) and 86400 seconds");
}

// "name (uid N)", or "uid N" for a uid without a passwd entry.
std::string user_text(uid_t uid) {
    struct passwd pw;
    struct passwd* found = 0;
    char buf[2048];
    if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found) {
        return std::string(found->pw_name) + " (uid " + std::to_string(uid) + ")";
    }
    return "uid " + std::to_string(uid);
}

std::string mode_text(mode_t mode) {
    char text[16];
    snprintf(text, sizeof(text), "%04o", static_cast<unsigned>(mode & 07777));
    return text;
}

// The directories a path goes through, "/" first: "/a/b/c" -> "/", "/a", "/a/b".
std::vector<std::string> parent_directories(const std::string& path) {
    std::vector<std::string> dirs(1, "/");
    for (std::size_t slash = path.find('/', 1); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
        if (slash > 0 && path[slash - 1] != '/') dirs.push_back(path.substr(0, slash));
    }
    return dirs;
}

// Why a user other than root or Kea's could change this file or directory, or "".
std::string untrusted(const struct stat& st, uid_t kea_uid) {
    if (st.st_uid != 0 && st.st_uid != kea_uid) {
        return "is owned by " + user_text(st.st_uid) + ", neither root nor the user Kea runs as";
    }
    if (st.st_mode & S_IWOTH) return "is writable by others (mode " + mode_text(st.st_mode) + ")";
    if (st.st_mode & S_IWGRP) return "is writable by its group (mode " + mode_text(st.st_mode) + ")";
    return "";
}

// sshd's StrictModes for the script: the file and every directory above it, on the path as
// written (the directories holding symlinks) and on the resolved path, may be changed only by
// root or the user Kea runs as. Otherwise that other user can make Kea run anything.
void check_trusted(const std::string& path, const std::string& name) {
    const uid_t kea_uid = geteuid();
    const std::string fix = " (anyone who can change it can make Kea run any program; fix the "
                            "ownership and modes, or set 'check-permissions': false)";
    struct stat st;
    if (stat(path.c_str(), &st) == 0) {
        std::string why = untrusted(st, kea_uid);
        if (!why.empty()) {
            refuse("parameter '" + name + "': script '" + path + "' " + why + fix);
        }
    }
    std::vector<std::string> dirs = parent_directories(path);
    char* resolved = realpath(path.c_str(), 0);
    if (resolved) {
        std::vector<std::string> more = parent_directories(resolved);
        dirs.insert(dirs.end(), more.begin(), more.end());
        free(resolved);
    }
    std::vector<std::pair<dev_t, ino_t> > seen;
    for (const std::string& dir : dirs) {
        if (stat(dir.c_str(), &st) != 0) continue;
        std::pair<dev_t, ino_t> id(st.st_dev, st.st_ino);
        if (std::find(seen.begin(), seen.end(), id) != seen.end()) continue;
        seen.push_back(id);
        std::string why = untrusted(st, kea_uid);
        if (!why.empty()) {
            refuse("parameter '" + name + "': script '" + path + "' lies under '" +
                              dir + "', which " + why + fix);
        }
    }
}

// The user Kea runs as must be able to execute the script (with its effective ids, as the
// kernel will check at exec): say which permission is missing.
void check_runnable(const std::string& path, const std::string& name) {
    const std::string who = "the user Kea runs as, " + user_text(geteuid());
    for (const std::string& dir : parent_directories(path)) {
        if (faccessat(AT_FDCWD, dir.c_str(), X_OK, AT_EACCESS) != 0 && errno == EACCES) {
            refuse("parameter '" + name + "': script '" + path + "' is not executable by " +
                              who + ": no search (x) permission on directory '" + dir + "'");
        }
    }
    struct stat st;
    if (stat(path.c_str(), &st) != 0) {
        refuse("parameter '" + name + "': script '" + path + "' does not exist");
    }
    if (!S_ISREG(st.st_mode)) {
        refuse("parameter '" + name + "': '" + path + "' is not a regular file");
    }
    if (faccessat(AT_FDCWD, path.c_str(), X_OK, AT_EACCESS) != 0) {
        refuse("parameter '" + name + "': script '" + path + "' is not executable by " +
                          who + ": no execute (x) permission on the file for it (mode " +
                          mode_text(st.st_mode) + ", owner " + user_text(st.st_uid) + ")");
    }
}

void check_executable(const std::string& path, const std::string& name, bool check_permissions) {
    if (path.empty() || path[0] != '/') {
        refuse("parameter '" + name + "' must be an absolute path, got '" + path + "'");
    }
    check_runnable(path, name);
    if (check_permissions) check_trusted(path, name);
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
        if (i == count) {
            std::string msg = "parameter '" + item_name + "': unknown hook point '" + point + "'";
            std::string guess = did_you_mean(point, known);
            if (!guess.empty()) msg += " (did you mean '" + guess + "'?)";
            refuse(msg);
        }
        if (!table[i].available) {
            refuse("parameter '" + item_name + "': hook point '" + point +
                              "' needs Kea " + table[i].since + " or later");
        }
        selected[i] = true;
    }
    return selected;
}

// JSON's "\u0000" gives a NUL byte, which no path or environment string can hold: it would
// silently cut the text there.
void refuse_nul(const std::string& text, const std::string& name) {
    if (text.find('\0') != std::string::npos) {
        refuse("parameter '" + name + "' holds a NUL byte (u0000 in JSON), which a path or "
                          "an environment variable cannot hold");
    }
}

std::vector<std::string> parse_environment(const ConstElementPtr& e, const std::string& name) {
    std::vector<std::string> env;
    if (!e) return env;
    expect(e, Element::map, name, "a map of variable names to strings");
    for (const auto& kv : e->mapValue()) {
        const std::string& var = kv.first;
        std::string item_name = name + "." + var;
        if (var.empty() || var.find('=') != std::string::npos || var.compare(0, 4, "KEA_") == 0) {
            refuse("parameter '" + item_name +
                              "': variable names must be non-empty, without '=' and not start "
                              "with KEA_ (reserved for the hook)");
        }
        expect(kv.second, Element::string, item_name, "a string");
        refuse_nul(var + kv.second->stringValue(), item_name);
        env.push_back(var + "=" + kv.second->stringValue());
    }
    return env;
}

const char* const ACTIONS = "\"continue\", \"skip\" or \"drop\"";

NextStep parse_action(const ConstElementPtr& e, const std::string& name) {
    expect(e, Element::string, name, ACTIONS);
    const std::string action = e->stringValue();
    if (action == "continue") return STEP_CONTINUE;
    if (action == "skip") return STEP_SKIP;
    if (action == "drop") return STEP_DROP;
    refuse("parameter '" + name + "': unknown action '" + action + "' (use " +
                      ACTIONS + ")");
}

std::map<int, NextStep> parse_exit_codes(const ConstElementPtr& e, const std::string& name) {
    expect(e, Element::map, name, (std::string("a map of exit codes to ") + ACTIONS).c_str());
    std::map<int, NextStep> codes;
    for (const auto& kv : e->mapValue()) {
        const std::string& key = kv.first;
        std::string item_name = name + "." + key;
        // Plain decimal only: " 8", "+8" or "08" would also read as 8 and could silently
        // collide with "8" in the same map.
        bool plain = !key.empty() && key.size() <= 3 && (key == "0" || key[0] != '0') &&
                     key.find_first_not_of("0123456789") == std::string::npos;
        if (!plain || std::stoi(key) > 255) {
            refuse("parameter '" + name + "': key '" + key + "' is not an exit code: "
                              "keys are 0 to 255 in plain decimal digits (no sign, space or "
                              "leading zero)");
        }
        codes[std::stoi(key)] = parse_action(kv.second, item_name);
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
            refuse("parameter '" + item_name + "' must be one of " + what);
        }
        spec.code = static_cast<uint16_t>(code);
        spec.sub = static_cast<int>(sub);
        options.push_back(spec);
    }
    return options;
}

// An integer 1..max.
std::size_t parse_count(const ConstElementPtr& e, const std::string& name, std::size_t max) {
    expect(e, Element::integer, name, "an integer");
    if (e->intValue() < 1 || e->intValue() > static_cast<int64_t>(max)) {
        refuse("parameter '" + name + "' must be between 1 and " + std::to_string(max));
    }
    return static_cast<std::size_t>(e->intValue());
}

// Reads the settings a script may have (all but `script`) from one scope into `s`: the top
// level (defaults for every script) or an entry of `scripts`.
void parse_settings(const std::function<ConstElementPtr(const std::string&)>& get,
                    ScriptConfig& s, const std::string& prefix, const HookPointInfo* table,
                    std::size_t count) {
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
    if (ConstElementPtr action = get("on-failure")) {
        s.on_failure = parse_action(action, prefix + "on-failure");
    }
    if (ConstElementPtr persistent = expect(get("persistent"), Element::boolean,
                                            prefix + "persistent", "a boolean (true or false)")) {
        s.persistent = persistent->boolValue();
    }
    if (ConstElementPtr workers = get("workers")) {
        s.workers = parse_count(workers, prefix + "workers", MAX_WORKERS);
        s.workers_given = true;
    }
    if (ConstElementPtr queue = get("queue")) {
        s.queue = parse_count(queue, prefix + "queue", MAX_QUEUE);
        s.queue_given = true;
    }
}

// One script: `defaults` (the top-level settings) overridden by those found with `get`.
ScriptConfig parse_script(const std::function<ConstElementPtr(const std::string&)>& get,
                          const ScriptConfig& defaults, const std::string& prefix,
                          const HookPointInfo* table, std::size_t count,
                          bool check_permissions) {
    ScriptConfig s = defaults;
    s.where = prefix.empty() ? "script" : prefix.substr(0, prefix.size() - 1);
    ConstElementPtr script = get("script");
    if (!script) {
        refuse("required parameter '" + prefix + "script' is missing");
    }
    expect(script, Element::string, prefix + "script", "a string (absolute path)");
    s.path = script->stringValue();
    refuse_nul(s.path, prefix + "script");
    check_executable(s.path, prefix + "script", check_permissions);
    s.name = s.path.substr(s.path.find_last_of('/') + 1);
    if (!prefix.empty()) parse_settings(get, s, prefix, table, count);
    if (!s.exit_codes.empty() && !s.wait) {
        const std::string codes = get("exit-codes") ? prefix + "exit-codes" : "exit-codes";
        const std::string wait = get("wait") ? prefix + "wait" : "wait";
        refuse("parameter '" + codes + "' needs '" + wait +
                          "': true (an asynchronous script ends after Kea has moved on)");
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
    if (s.queue_given && s.wait) {
        refuse("parameter '" + named("queue") + "' needs '" + named("wait") +
                          "': false (a synchronous handler's events wait for their reply, "
                          "they are never queued)" + inherited("queue"));
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
            refuse("parameter 'max-async' must be between 1 and 100000");
        }
        config.max_async = static_cast<std::size_t>(max->intValue());
    }
    config.max_output_lines = DEFAULT_MAX_OUTPUT_LINES;
    if (ConstElementPtr lines = expect(lookup("max-output-lines"), Element::integer,
                                       "max-output-lines", "an integer")) {
        if (lines->intValue() < 1 || lines->intValue() > 100000) {
            refuse("parameter 'max-output-lines' must be between 1 and 100000");
        }
        config.max_output_lines = static_cast<std::size_t>(lines->intValue());
    }
    config.drain_ms = DEFAULT_DRAIN_MS;
    if (ConstElementPtr drain = lookup("drain-timeout")) {
        config.drain_ms = parse_seconds(drain, "drain-timeout", 60, "0 and 60 seconds");
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
    defaults.hook_points = parse_hook_points(ConstElementPtr(), "hook-points", hook_points,
                                             hook_point_count);
    parse_settings(lookup, defaults, "", hook_points, hook_point_count);

    ConstElementPtr scripts = expect(lookup("scripts"), Element::list, "scripts",
                                     "a list of maps");
    ConstElementPtr top_script = lookup("script");
    if (!top_script && !scripts) {
        refuse("required parameter 'script' is missing (or give 'scripts')");
    }
    if (top_script) {
        config.scripts.push_back(parse_script(lookup, defaults, "", hook_points,
                                              hook_point_count, config.check_permissions));
    }
    if (scripts) {
        if (scripts->size() == 0 && !top_script) {
            refuse("parameter 'scripts' is an empty list");
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
                                                  hook_point_count, config.check_permissions));
        }
    }
    return config;
}

}  // namespace runscript
