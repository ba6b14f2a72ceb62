// Kea's entry points: version, load, unload, multi_threading_compatible.

#include "kea_features.h"
#include "logger.h"
#include "runscript.h"

#include <hooks/hooks.h>
#include <hooks/server_hooks.h>

using isc::hooks::LibraryHandle;

namespace {

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
        Config config = parse_config(lookup, names, HOOK_POINTS, HOOK_POINT_COUNT);
        std::unique_ptr<Runner> fresh(new Runner(config));
        // kea-dhcp4 registers only the v4 hook points and kea-dhcp6 only the v6 ones; one
        // configuration may serve both servers, so the other family's points are skipped.
        std::size_t registered = 0;
        for (std::size_t i = 0; i < HOOK_POINT_COUNT; ++i) {
            if (fresh->wanted(i)) {
                try {
                    handle.registerCallout(HOOK_POINTS[i].name, HOOK_POINT_CALLOUTS[i]);
                    ++registered;
                } catch (const isc::hooks::NoSuchHook&) {
                }
            }
        }
        if (registered == 0 && !any_lifecycle(config)) {
            throw ConfigError("none of the configured hook points exists in this server "
                              "(DHCPv4 hook points in kea-dhcp4, DHCPv6 ones in kea-dhcp6)");
        }
        std::string failure = fresh->run_lifecycle(true);
        if (!failure.empty()) {
            throw ConfigError(failure);
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
    if (runscript::runner) {
        runscript::runner->run_lifecycle(false);
    }
    // Waits for running asynchronous scripts up to their timeout (Launcher's destructor).
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
