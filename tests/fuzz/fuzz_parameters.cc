// Fuzz target: any JSON Kea could pass as the hook's parameters, through parse_config
// (parameters.h), as load() calls it. The parser may only accept or refuse: a refusal is a
// ConfigError whose message is log text naming a parameter the configuration holds (or the
// missing required one); any other exception, a crash or undefined behaviour is a finding. An accepted
// configuration must keep every promise the hook relies on later (ranges, absolute script
// paths, no NUL in the environment, settings that need others, hook points this Kea has).
//
// Input: JSON text, parsed by Kea's own Element::fromJSON (libkea-cc), as Kea parses its
// configuration. Inputs Kea refuses are not the parser's business and are skipped.
#include "log_text.h"
#include "parameters.h"

#include <cc/data.h>
#include <exceptions/exceptions.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using isc::data::ConstElementPtr;
using isc::data::Element;

namespace {

// A small table of hook points, as callouts.cc generates one per Kea version: one this Kea
// lacks, one called by default, one only when listed, one also of ISC's dialect, one only of
// ISC's dialect, one where this Kea parks queries, one where a later Kea would, and the hook's
// own replay event (`replay: true`); statuses refused, warned and accepted.
const runscript::HookPointInfo POINTS[] = {
    {"pkt4_receive", true, true, "1.1", 4, true, false, false, false, "", "pkt4_receive", false, 0, "", 0, ""},
    {"lease4_renew", true, true, "1.1", 4, true, true, true, false, "", "lease4_renew", false, 1, "kept", 2, "ignored"},
    {"lease4_offer", false, false, "2.7.5", 4, true, false, false, false, "", "lease4_offer", false, 0, "", 0, ""},
    {"pkt6_send", true, false, "1.1", 6, true, false, false, false, "", "pkt6_send", false, 2, "empty", 1, "no answer"},
    {"addr6_register", false, false, "2.7.7", 6, false, true, true, false, "", "addr6_register", false, 1, "nothing stored", 0, ""},
    {"leases4_committed", true, false, "1.4.0", 4, true, true, true, true, "1.9.7", "leases4_committed", false, 2, "ignored", 1, "no answer"},
    {"subnet4_select", true, false, "1.1.0", 4, true, false, false, false, "2.5.7", "subnet4_select", false, 0, "", 0, ""},
    {"lease4_replay", true, false, "1.5.0", 4, true, false, false, false, "", "dhcp4_srv_configured", true, 0, "", 0, ""},
};
const std::size_t N_POINTS = sizeof(POINTS) / sizeof(POINTS[0]);

// Kea's parser recurses per level; nesting deeper than any configuration is skipped so that
// a stack exhausted in Kea's code is not reported as the hook's.
bool shallow(const uint8_t* data, size_t size) {
    int depth = 0;
    for (size_t i = 0; i < size; ++i) {
        if (data[i] == '[' || data[i] == '{') {
            if (++depth > 32) return false;
        } else if (data[i] == ']' || data[i] == '}') {
            --depth;
        }
    }
    return true;
}

bool has_nul(const std::string& s) { return s.find('\0') != std::string::npos; }

void check_script(const runscript::ScriptConfig& s) {
    if (s.path.empty() || s.path[0] != '/' || has_nul(s.path)) std::abort();
    const bool isc = s.dialect == runscript::DIALECT_ISC;
    if (s.name != (isc ? s.path : s.path.substr(s.path.find_last_of('/') + 1))) std::abort();
    if (s.timeout_ms < 0 || s.timeout_ms > 86400 * 1000) std::abort();
    if (s.hook_points.size() != N_POINTS) std::abort();
    for (std::size_t i = 0; i < N_POINTS; ++i) {
        if (s.hook_points[i] && !(isc ? POINTS[i].isc_available : POINTS[i].available)) std::abort();
    }
    for (const std::string& kv : s.extra_env) {
        const std::size_t eq = kv.find('=');
        if (eq == 0 || eq == std::string::npos || has_nul(kv) || kv.compare(0, 4, "KEA_") == 0) {
            std::abort();
        }
    }
    for (const auto& code : s.exit_codes) {
        if (code.first < 0 || code.first > 255 || code.second > runscript::STEP_DROP) std::abort();
    }
    if (!s.exit_codes.empty() && !s.wait && !s.park) std::abort();
    if (s.park) {
        // parked: never waited for by a thread, bounded, only where this Kea parks
        if (s.wait || s.timeout_ms <= 0) std::abort();
        for (std::size_t i = 0; i < N_POINTS; ++i) {
            if (s.hook_points[i] && !POINTS[i].parks && !POINTS[i].replay) std::abort();
        }
    }
    for (std::size_t i = 0; i < N_POINTS; ++i) {
        // a replay event exactly for `replay: true`, never in ISC's dialect
        if (POINTS[i].replay && s.hook_points[i] != s.replay) std::abort();
    }
    if (s.replay && isc) std::abort();
    if (s.workers < 1 || s.workers > static_cast<std::size_t>(runscript::parameter::WORKERS_MAX)) std::abort();
    if (s.queue < 1 || s.queue > static_cast<std::size_t>(runscript::parameter::QUEUE_MAX)) std::abort();
    if ((s.workers_given || s.queue_given) && !s.persistent) std::abort();
    if (s.queue_given && s.wait) std::abort();
}

void check_options(const std::vector<runscript::OptionSpec>& options, int family) {
    const long max_code = family == 4 ? 254 : 65535;
    for (const runscript::OptionSpec& o : options) {
        if (o.code < 1 || static_cast<long>(o.code) > max_code) std::abort();
        if (o.sub < -1 || o.sub > 255 || (family == 6 && o.sub != -1)) std::abort();
    }
}

void check_accepted(const runscript::Config& c) {
    if (c.scripts.empty()) std::abort();
    if (c.max_async < 1 || c.max_async > 100000) std::abort();
    if (c.max_output_lines < 1 || c.max_output_lines > 100000) std::abort();
    if (c.drain_ms < 0 || c.drain_ms > 60000) std::abort();
    for (const runscript::ScriptConfig& s : c.scripts) check_script(s);
    check_options(c.options4, 4);
    check_options(c.options6, 6);
}

// A refusal is one line of log text (log_text.h: no NUL cuts it, no control character) that
// names the parameter at fault: one the configuration holds, at its top level or inside it
// ("scripts[1].timeout" starts with the top-level key "scripts"), or the missing one.
void check_refused(const std::string& message, const std::vector<std::string>& names) {
    for (unsigned char c : message) {
        if (c < 0x20 || c == 0x7F) {
            std::fprintf(stderr, "refused with a control character: %s\n", message.c_str());
            std::abort();
        }
    }
    const std::string missing = "required parameter 'script' is missing";
    if (message.compare(0, missing.size(), missing) == 0) {
        for (const std::string& n : names) {
            if (n == "script" || n == "scripts") std::abort();
        }
        return;
    }
    for (const std::string& n : names) {
        if (message.find("parameter '" + runscript::log_safe(n)) != std::string::npos) return;
    }
    std::fprintf(stderr, "refused without naming a parameter it holds: %s\n", message.c_str());
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (!shallow(data, size)) return 0;
    ConstElementPtr parameters;
    try {
        parameters = Element::fromJSON(std::string(reinterpret_cast<const char*>(data), size));
    } catch (const isc::Exception&) {
        return 0;
    } catch (const std::exception&) {
        return 0;
    }
    if (!parameters || parameters->getType() != Element::map) return 0;
    std::vector<std::string> names;
    for (const auto& kv : parameters->mapValue()) names.push_back(kv.first);
    auto lookup = [&parameters](const std::string& name) { return parameters->get(name); };
    try {
        check_accepted(runscript::parse_config(lookup, names, POINTS, N_POINTS, "2.2.0"));
    } catch (const runscript::ConfigError& e) {
        check_refused(e.what(), names);  // what(): as load() logs it, up to a NUL
    }
    return 0;
}
