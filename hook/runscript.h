// The hook's run-time state and the one call every callout makes: run the scripts that
// asked for this hook point with the environment the callout built.

#ifndef RUNSCRIPT_RUNSCRIPT_H
#define RUNSCRIPT_RUNSCRIPT_H

#include "config.h"
#include "environment.h"
#include "launcher.h"

#include <hooks/hooks.h>

#include <memory>
#include <string>
#include <vector>

namespace runscript {

// Generated from the catalogue (callouts.cc): the table of hook points, their callouts.
extern const HookPointInfo HOOK_POINTS[];
extern const std::size_t HOOK_POINT_COUNT;
extern const isc::hooks::CalloutPtr HOOK_POINT_CALLOUTS[];
// Number of variables a hook point emits at most (reserve size for its environment).
extern const std::size_t HOOK_POINT_MAX_VARS[];

class Runner {
public:
    explicit Runner(const Config& config);

    // Runs every script subscribed to hook point `index`. Never throws.
    void run(std::size_t index, const Environment& env) const;

    bool wanted(std::size_t index) const { return !by_hook_point_[index].empty(); }
    std::string summary() const;

private:
    Config config_;
    std::vector<std::vector<const ScriptConfig*> > by_hook_point_;
    std::unique_ptr<Launcher> launcher_;
};

// The runner of the loaded library (null when not loaded). Set in load(), read-only while
// Kea runs callouts, reset in unload().
extern std::unique_ptr<Runner> runner;

}  // namespace runscript

#endif
