// Kea's entry points: version, load, unload, multi_threading_compatible.

#include "config_check.h"
#include "config_test.h"
#include "kea_features.h"
#include "logger.h"
#include "runscript.h"

#include <hooks/hooks.h>
#include <hooks/server_hooks.h>

#include <iostream>

using isc::hooks::LibraryHandle;

namespace {

void log_warnings(const runscript::Config& config) {
    using namespace runscript;
    for (const ScriptConfig& s : config.scripts) {
        if (s.dialect == DIALECT_ISC && s.isc_sync && !s.wait) {
            LOG_WARN(logger, RUNSCRIPT_ISC_SYNC).arg(s.path);
        }
        for (const std::string& warning : s.warnings) {
            LOG_WARN(logger, RUNSCRIPT_STATUS_WARNING).arg(warning);
        }
    }
}

}  // namespace

extern "C" {

int version() {
    // `kea-dhcpN -t FILE` only opens the library and calls this: the parameters are read from
    // FILE and checked here, as load() will check them, and a mistake fails the test (Kea logs
    // that version() threw and refuses the file). Kea's logger does not know the hook's
    // messages yet: stderr.
    const runscript::ConfigTestRun test = runscript::config_test_mode();
    if (test.mode == runscript::CONFIG_TEST_OPEN_ONLY) {
        try {
            std::cerr << runscript::check_file_parameters(test.file);
        } catch (const std::exception& e) {
            std::cerr << "RUNSCRIPT_LOAD_ERROR kea-hook-runscript configuration error: " << e.what()
                      << std::endl;
            throw;
        }
    }
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
        // One configuration may serve kea-dhcp4 and kea-dhcp6: the other family's hook points
        // are skipped, even those Kea registered in both servers (lease4_*, lease6_*).
        check_hook_points(config, [&handle](std::size_t i) {
            try {
                handle.registerCallout(HOOK_POINTS[i].kea_hook, HOOK_POINT_CALLOUTS[i]);
                return true;
            } catch (const isc::hooks::NoSuchHook&) {
                return false;
            }
        });
        log_warnings(config);
        if (config_test_mode().mode == CONFIG_TEST_LOADING) {
            // `kea-dhcpN -T`: checked as for serving; no script runs, no handler starts, and
            // no runner is left for unload() or the replay to use.
            LOG_INFO(logger, RUNSCRIPT_CONFIG_TEST).arg(RUNSCRIPT_HOOK_VERSION).arg(config.scripts.size());
            return 0;
        }
        std::unique_ptr<Runner> fresh(new Runner(config));
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
