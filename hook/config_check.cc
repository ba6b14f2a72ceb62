#include "config_check.h"

#include "kea_features.h"
#include "log_text.h"
#include "runscript.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>

#include <hooks/server_hooks.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

namespace runscript {

namespace {

// The family of the server that loads the library: 4 when Kea registered pkt4_receive, 6
// for pkt6_receive, 0 when neither (not a DHCP server). The hook point list alone cannot
// tell: Kea's allocation engine registers lease4_* and lease6_* in both servers.
int server_family() {
    if (hook_registered("pkt4_receive")) return 4;
    if (hook_registered("pkt6_receive")) return 6;
    return 0;
}

bool any_lifecycle(const Config& config) {
    for (const ScriptConfig& s : config.scripts) {
        if (s.at_load || s.at_unload) return true;
    }
    return false;
}

bool any_wants(const Config& config, std::size_t index) {
    for (const ScriptConfig& s : config.scripts) {
        if (s.hook_points[index]) return true;
    }
    return false;
}

std::string real_path(const std::string& path) {
    char buffer[PATH_MAX];
    return realpath(path.c_str(), buffer) ? std::string(buffer) : path;
}

// One `hooks-libraries` entry that is this library: checked as load() checks it.
std::string check_entry(const std::string& library, const isc::data::ConstElementPtr& parameters) {
    const bool map = parameters && parameters->getType() == isc::data::Element::map;
    std::vector<std::string> names;  // as load() gets them: none where Kea cannot list them
    if (RUNSCRIPT_HAS_PARAMETER_NAMES && map) {
        for (const auto& kv : parameters->mapValue()) names.push_back(kv.first);
    }
    ParameterLookup lookup = [&parameters, map](const std::string& name) {
        return map ? parameters->get(name) : isc::data::ConstElementPtr();
    };
    try {
        const Config config = parse_config(lookup, names, HOOK_POINTS, HOOK_POINT_COUNT,
                                           RUNSCRIPT_KEA_VERSION);
        check_hook_points(config, [](std::size_t i) { return hook_registered(HOOK_POINTS[i].kea_hook); });
        std::string report = "RUNSCRIPT_CONFIG_TEST kea-hook-runscript " RUNSCRIPT_HOOK_VERSION " configuration "
                             "test: " + std::to_string(config.scripts.size()) + " script(s) of " + library +
                             " checked, none run\n";
        // one line per script too: install.sh --check reads them (a line each, as paths may hold
        // spaces; log_safe: no line break)
        for (const ScriptConfig& s : config.scripts) {
            report += "RUNSCRIPT_CONFIG_TEST script: " + log_safe(s.path) + "\n";
            for (const std::string& warning : s.warnings) {
                report += "RUNSCRIPT_STATUS_WARNING " + warning + "\n";
            }
        }
        return report;
    } catch (const ConfigError& e) {
        throw ConfigError(library + ": " + e.what());
    }
}

// A Kea configuration file as JSON: Kea's comments (`#`, `//`, `/* */`) blanked outside
// strings, line breaks kept (positions stay right), `<?include "file"?>` replaced by that
// file, to a bounded depth.
std::string kea_config_text(const std::string& file, int depth) {
    if (depth > 8) throw std::runtime_error("<?include?> nested deeper than 8 files at " + file);
    std::ifstream in(file);
    if (!in) throw std::runtime_error("cannot open " + file);
    const std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string out;
    out.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
        const char c = raw[i];
        if (c == '"') {  // a string, escapes included, copied as it is
            std::size_t end = i + 1;
            while (end < raw.size() && raw[end] != '"') end += raw[end] == '\\' ? 2 : 1;
            out.append(raw, i, end + 1 - i);
            i = end;
        } else if (c == '#' || raw.compare(i, 2, "//") == 0) {
            while (i < raw.size() && raw[i] != '\n') ++i;
            if (i < raw.size()) out += '\n';
        } else if (raw.compare(i, 2, "/*") == 0) {
            const std::size_t end = raw.find("*/", i + 2);
            if (end == std::string::npos) throw std::runtime_error("unterminated /* comment in " + file);
            for (std::size_t j = i; j < end; ++j) if (raw[j] == '\n') out += '\n';
            i = end + 1;
        } else if (raw.compare(i, 9, "<?include") == 0) {
            const std::size_t end = raw.find("?>", i);
            const std::size_t open = raw.find('"', i);
            const std::size_t close = open == std::string::npos ? open : raw.find('"', open + 1);
            if (end == std::string::npos || close == std::string::npos || close > end) {
                throw std::runtime_error("malformed <?include?> in " + file);
            }
            out += kea_config_text(raw.substr(open + 1, close - open - 1), depth + 1);
            i = end + 1;
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace

bool hook_registered(const char* name) {
    try {
        isc::hooks::ServerHooks::getServerHooks().getIndex(name);
        return true;
    } catch (const isc::hooks::NoSuchHook&) {
        return false;
    }
}

void check_hook_points(const Config& config, const std::function<bool(std::size_t)>& take) {
    const int family = server_family();
    std::size_t taken = 0;
    std::string skipped;
    for (std::size_t i = 0; i < HOOK_POINT_COUNT; ++i) {
        if (!any_wants(config, i)) continue;
        if (family != 0 && HOOK_POINTS[i].family != family) {
            skipped += (skipped.empty() ? "" : ", ") + std::string(HOOK_POINTS[i].name);
            continue;
        }
        if (take(i)) ++taken;
    }
    if (taken == 0 && !any_lifecycle(config)) {
        if (family != 0 && !skipped.empty()) {
            throw ConfigError("parameter 'hook-points': none of the configured hook points "
                              "is a DHCPv" + std::to_string(family) + " one, and this is "
                              "kea-dhcp" + std::to_string(family) + " (" + skipped +
                              ": DHCPv" + std::to_string(10 - family) + " only)");
        }
        throw ConfigError("none of the configured hook points exists in this server "
                          "(DHCPv4 hook points in kea-dhcp4, DHCPv6 ones in kea-dhcp6)");
    }
}

std::string check_file_parameters(const std::string& file) {
    Dl_info self;
    if (!dladdr(reinterpret_cast<void*>(&check_file_parameters), &self) || !self.dli_fname) {
        return "";
    }
    const std::string me = real_path(self.dli_fname);
    const int family = server_family();
    isc::data::ConstElementPtr libraries;
    try {
        std::istringstream text(kea_config_text(file, 0));
        isc::data::ConstElementPtr top = isc::data::Element::fromJSON(text, file, false);
        isc::data::ConstElementPtr server = top ? top->get(family == 6 ? "Dhcp6" : "Dhcp4") : top;
        libraries = server ? server->get("hooks-libraries") : server;
    } catch (const std::exception& e) {
        // Kea's own parser judges the file's syntax; this reader only looks for the hook.
        return "kea-hook-runscript: its parameters in " + file + " were not checked: " + e.what() + "\n";
    }
    std::string report;
    for (std::size_t i = 0; libraries && libraries->getType() == isc::data::Element::list &&
                            i < libraries->size(); ++i) {
        isc::data::ConstElementPtr entry = libraries->get(static_cast<int>(i));
        isc::data::ConstElementPtr library = entry ? entry->get("library") : entry;
        if (!library || library->getType() != isc::data::Element::string ||
            real_path(library->stringValue()) != me) {
            continue;
        }
        report += check_entry(library->stringValue(), entry->get("parameters"));
    }
    return report;
}

}  // namespace runscript
