// Kea's entry points: version, load, unload, multi_threading_compatible.

#include "kea_features.h"
#include "logger.h"
#include "runscript.h"

#include <hooks/hooks.h>
#include <hooks/server_hooks.h>

using isc::hooks::LibraryHandle;

namespace {

bool registered(const isc::hooks::ServerHooks& hooks, const char* point) {
    try {
        hooks.getIndex(point);
        return true;
    } catch (const isc::hooks::NoSuchHook&) {
        return false;
    }
}

// The family of the server that loads the library: 4 when Kea registered pkt4_receive, 6
// for pkt6_receive, 0 when neither (not a DHCP server). The hook point list alone cannot
// tell: Kea's allocation engine registers lease4_* and lease6_* in both servers.
int server_family() {
    const isc::hooks::ServerHooks& hooks = isc::hooks::ServerHooks::getServerHooks();
    if (registered(hooks, "pkt4_receive")) return 4;
    if (registered(hooks, "pkt6_receive")) return 6;
    return 0;
}

bool any_lifecycle(const runscript::Config& config) {
    for (const runscript::ScriptConfig& s : config.scripts) {
        if (s.at_load || s.at_unload) return true;
    }
    return false;
}

}  // namespace

extern "C" {

int version() {
    // Must equal the running Kea's value exactly: the hook is rebuilt for every release.
    return KEA_HOOKS_VERSION;
}

int load(LibraryHandle& handle) {
    using namespace runscript;
    try {
        std::vector<std::string> names;
#if RUNSCRIPT_HAS_PARAMETER_NAMES
        names = handle.getParameterNames();
#endif
        ParameterLookup lookup = [&handle](const std::string& name) {
            return handle.getParameter(name);
        };
        Config config = parse_config(lookup, names, HOOK_POINTS, HOOK_POINT_COUNT,
                                     RUNSCRIPT_KEA_VERSION);
        std::unique_ptr<Runner> fresh(new Runner(config));
        // One configuration may serve kea-dhcp4 and kea-dhcp6: the other family's hook points
        // are skipped, even those Kea registered in both servers (lease4_*, lease6_*).
        const int family = server_family();
        std::size_t registered = 0;
        std::string skipped;
        for (std::size_t i = 0; i < HOOK_POINT_COUNT; ++i) {
            if (fresh->wanted(i)) {
                if (family != 0 && HOOK_POINTS[i].family != family) {
                    skipped += (skipped.empty() ? "" : ", ") + std::string(HOOK_POINTS[i].name);
                    continue;
                }
                try {
                    handle.registerCallout(HOOK_POINTS[i].kea_hook, HOOK_POINT_CALLOUTS[i]);
                    ++registered;
                } catch (const isc::hooks::NoSuchHook&) {
                }
            }
        }
        if (registered == 0 && !any_lifecycle(config)) {
            if (family != 0 && !skipped.empty()) {
                throw ConfigError("parameter 'hook-points': none of the configured hook points "
                                  "is a DHCPv" + std::to_string(family) + " one, and this is "
                                  "kea-dhcp" + std::to_string(family) + " (" + skipped +
                                  ": DHCPv" + std::to_string(10 - family) + " only)");
            }
            throw ConfigError("none of the configured hook points exists in this server "
                              "(DHCPv4 hook points in kea-dhcp4, DHCPv6 ones in kea-dhcp6)");
        }
        std::string failure = fresh->run_lifecycle(true);
        if (!failure.empty()) {
            throw ConfigError(failure);
        }
        for (const ScriptConfig& s : config.scripts) {
            if (s.dialect == DIALECT_ISC && s.isc_sync && !s.wait) {
                LOG_WARN(logger, RUNSCRIPT_ISC_SYNC).arg(s.path);
            }
            for (const std::string& warning : s.warnings) {
                LOG_WARN(logger, RUNSCRIPT_STATUS_WARNING).arg(warning);
            }
        }
        runner.swap(fresh);
        LOG_INFO(logger, RUNSCRIPT_LOADED).arg(RUNSCRIPT_HOOK_VERSION).arg(runner->summary());
        return 0;
    } catch (const std::exception& e) {
        LOG_ERROR(logger, RUNSCRIPT_LOAD_ERROR).arg(e.what());
        return 1;
    }
}

int unload() {
    // Everything ends within `drain-timeout` (Runner::unload); what still runs then has its
    // process group killed (the pools' and the Launcher's destructors).
    if (runscript::runner) {
        runscript::runner->unload();
    }
    runscript::runner.reset();
    return 0;
}

#if RUNSCRIPT_HAS_MT_COMPATIBLE
int multi_threading_compatible() {
    // Callouts share only immutable configuration; the launcher locks its own state.
    return 1;
}
#endif

}  // extern "C"
