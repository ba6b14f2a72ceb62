// The values of the hook's parameters, each checked on its own (parameter_values.h).

#include "parameter_values.h"
#include "log_text.h"

#include <cmath>
#include <cstdlib>
#include <string>

using isc::data::ConstElementPtr;
using isc::data::Element;

namespace runscript {

std::string type_name(const ConstElementPtr& e) {
    return Element::typeToName(static_cast<Element::types>(e->getType()));
}

ConstElementPtr expect(const ConstElementPtr& e, Element::types type, const std::string& name,
                       const char* what) {
    if (e && e->getType() != type) {
        refuse("parameter '" + name + "' must be " + what + ", not " + type_name(e));
    }
    return e;
}

int parse_seconds(const ConstElementPtr& e, const std::string& name, long max,
                  const char* zero_means) {
    double seconds;
    if (e->getType() == Element::integer) {
        seconds = static_cast<double>(e->intValue());
    } else if (e->getType() == Element::real) {
        seconds = e->doubleValue();
    } else {
        refuse("parameter '" + name + "' must be a number of seconds, not " +
                          type_name(e));
    }
    if (!(seconds >= 0) || seconds > static_cast<double>(max)) {
        refuse("parameter '" + name + "' must be between 0" + zero_means + " and " +
               std::to_string(max) + " seconds");
    }
    long ms = std::lround(seconds * 1000);
    if (seconds > 0 && ms < 1) ms = 1;
    return static_cast<int>(ms);
}

int parse_timeout(const ConstElementPtr& e, const std::string& name) {
    return parse_seconds(e, name, parameter::TIMEOUT_MAX, " (no timeout)");
}

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

namespace {
const char* const ACTIONS = "\"continue\", \"skip\" or \"drop\"";
}  // namespace

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
        if (!plain || std::stoi(key) > parameter::EXIT_CODES_KEY_MAX) {
            refuse("parameter '" + name + "': key '" + key + "' is not an exit code: keys are " +
                   std::to_string(parameter::EXIT_CODES_KEY_MIN) + " to " +
                   std::to_string(parameter::EXIT_CODES_KEY_MAX) +
                   " in plain decimal digits (no sign, space or leading zero)");
        }
        codes[std::stoi(key)] = parse_action(kv.second, item_name);
    }
    return codes;
}

std::vector<OptionSpec> parse_options(const ConstElementPtr& e, const std::string& name,
                                      int family) {
    std::vector<OptionSpec> options;
    if (!e) return options;
    const long min_code = family == 4 ? parameter::OPTIONS4_MIN : parameter::OPTIONS6_MIN;
    const long max_code = family == 4 ? parameter::OPTIONS4_MAX : parameter::OPTIONS6_MAX;
    const std::string what = "option codes (" + std::to_string(min_code) + "-" + std::to_string(max_code) +
                             (family == 4 ? ") or \"code.sub-code\" strings" : ")");
    expect(e, Element::list, name, ("a list of " + what).c_str());
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
                if (end2 == end + 1 || *end2 != '\0' || sub < parameter::OPTIONS4_SUB_MIN ||
                    sub > parameter::OPTIONS4_SUB_MAX) {
                    code = -1;
                }
            } else if (*end != '\0' || end == spec.config.c_str()) {
                code = -1;
            }
        }
        if (code < min_code || code > max_code) {
            refuse("parameter '" + item_name + "' must be one of " + what);
        }
        spec.code = static_cast<uint16_t>(code);
        spec.sub = static_cast<int>(sub);
        // Twice would export one variable twice, the second copy shadowing the first.
        for (std::size_t k = 0; k < options.size(); ++k) {
            if (options[k].code == spec.code && options[k].sub == spec.sub) {
                refuse("parameter '" + item_name + "': option " + spec.config + " is listed twice (also " +
                       name + "[" + std::to_string(k) + "])");
            }
        }
        options.push_back(spec);
    }
    return options;
}

std::size_t parse_count(const ConstElementPtr& e, const std::string& name, long min, long max) {
    expect(e, Element::integer, name, "an integer");
    if (e->intValue() < min || e->intValue() > max) {
        refuse("parameter '" + name + "' must be between " + std::to_string(min) + " and " +
               std::to_string(max));
    }
    return static_cast<std::size_t>(e->intValue());
}

// `park: true`: the query waits, parked, for the script; no Kea thread does. So not beside
// `wait: true` in one scope (a top-level `wait` is only a default), with a bound, and only at
// hook points where this Kea parks.
void check_park(const std::function<ConstElementPtr(const std::string&)>& get,
                ScriptConfig& s, const std::string& prefix, const HookPointInfo* table,
                std::size_t count, const char* kea_version) {
    if (!s.park) return;
    const std::string park = get("park") ? prefix + "park" : std::string("park");
    ConstElementPtr wait = get("wait");
    if (wait && wait->getType() == Element::boolean && wait->boolValue()) {
        refuse("parameters '" + prefix + "park' and '" + prefix + "wait' are both true: a parked "
               "query already waits for the script's end, no Kea thread does; keep 'park'");
    }
    s.wait = false;
    if (s.timeout_ms <= 0) {
        refuse("parameter '" + park + "' needs a 'timeout' above 0 (" + s.where + "): a parked "
               "query must not wait for ever");
    }
    std::string parking;
    for (std::size_t i = 0; i < count; ++i) {
        if (table[i].parks) parking += (parking.empty() ? "" : ", ") + std::string(table[i].name);
    }
    for (std::size_t i = 0; i < count; ++i) {
        if (!s.hook_points[i] || table[i].parks) continue;
        const std::string from = table[i].park_since[0]
            ? std::string("this hook parks there from Kea ") + table[i].park_since + " on"
            : std::string("Kea parks no query there");
        refuse("parameter '" + park + "' (" + s.where + "): Kea " + kea_version + " cannot "
               "park a query at hook point '" + table[i].name + "' (" + from + "); it parks at: " +
               (parking.empty() ? std::string("none") : parking) + ". List those in 'hook-points'");
    }
}

// `replay: true`: the entry gets the replay events of this Kea (both families; load() keeps
// the server's). Never in ISC's dialect: ISC's hook has no such event.
void check_replay(const std::function<ConstElementPtr(const std::string&)>& get,
                  ScriptConfig& s, const std::string& prefix, const HookPointInfo* table,
                  std::size_t count, const char* kea_version) {
    if (!s.replay) return;
    const std::string replay = get("replay") ? prefix + "replay" : std::string("replay");
    if (s.dialect == DIALECT_ISC) {
        refuse("parameter '" + replay + "' (" + s.where + "): ISC's run_script has no replay "
               "event; give the script as 'script' (KEA_* variables) to replay leases");
    }
    if (s.persistent && s.wait && s.timeout_ms <= 0) {
        // its records are waited for on the replay's thread, which the unload waits for
        refuse("parameter '" + replay + "' (" + s.where + "): a synchronous handler that "
               "replays leases needs a 'timeout' above 0 (an unload waits for its reply)");
    }
    bool any = false;
    std::string since;
    for (std::size_t i = 0; i < count; ++i) {
        if (!table[i].replay) continue;
        since = table[i].since;
        if (!table[i].available) continue;
        s.hook_points[i] = true;
        any = true;
    }
    if (!any) {
        refuse("parameter '" + replay + "' (" + s.where + "): Kea " + kea_version + " cannot "
               "replay leases (it needs Kea " + since + " or later: dhcp4/6_srv_configured and "
               "paged lease reads)");
    }
}

}  // namespace runscript
