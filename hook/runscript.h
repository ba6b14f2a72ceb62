// The hook's run-time state and the one call every callout makes: run the scripts that
// asked for this hook point with the environment the callout built.

#ifndef RUNSCRIPT_RUNSCRIPT_H
#define RUNSCRIPT_RUNSCRIPT_H

#include "parameters.h"
#include "environment.h"
#include "fields.h"
#include "handler.h"
#include "launcher.h"
#include "parking.h"
#include "replay.h"

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
// NAME= of an extra option variable (the catalogue's patterns); "" when there is none.
std::string option_variable_name(int family, unsigned code, int sub);
// Catalogue variables named like an option variable ("KEA_QUERY4_OPTION60="): when the
// operator lists that option, its hex form takes the name instead (callouts.cc).
extern const char* const SHADOWABLE_VARIABLES[];
extern const std::size_t SHADOWABLE_COUNT;

class Runner {
public:
    explicit Runner(const Config& config);

    // Runs every script subscribed to hook point `index`; returns what their exit codes and
    // failed runs (`on-failure`) ask of Kea (the strongest of continue < skip < drop).
    // `ours` / `isc`: the environment in each dialect, null when the callout did not build it
    // (no script of that dialect wants the hook point, or ISC's skips it); a script whose
    // dialect has none is not run.
    // parked: the query of a hook point where Kea parks (null elsewhere); when a `park: true`
    // script started, the query stays parked until the last of them has ended (Resumer) and
    // STEP_PARK is returned.
    NextStep run(std::size_t index, const Environment* ours, const Environment* isc,
                 std::unique_ptr<ParkedQuery> parked = std::unique_ptr<ParkedQuery>()) const;

    // Kea's main thread, at dhcp4/6_srv_configured: replays the active leases of `source` to the
    // `replay: true` scripts (event `index`), unless this process replayed `lease_database`
    // already (a reconfiguration that keeps it). Throws when the replay cannot start.
    void start_replay(std::size_t index, const std::string& lease_database,
                      std::unique_ptr<LeaseSource> source);

    // Whether a `park: true` script wants hook point `index` (the callout then hands its query).
    bool parks(std::size_t index) const { return parks_[index]; }

    // What to tell Kea when the callout itself failed (no script ran): the strongest
    // `on-failure` of the scripts subscribed to hook point `index`. Never throws.
    NextStep failure_step(std::size_t index) const { return failure_step_[index]; }

    // Runs the scripts that asked for "load" / "unload" (argv[1]); returns a description of
    // the first synchronous failure, or "".
    // cap (monotonic ms, 0: none): synchronous runs end by then whatever their timeout.
    std::string run_lifecycle(bool loading, long long cap = 0) const;

    // Kea unloads the library (stop, reload): the unload scripts and records, the handlers'
    // queues and their ends, all within drain-timeout from now; the destructor then waits
    // for what is left of it and kills what still runs.
    void unload();

    bool wanted(std::size_t index) const { return !by_hook_point_[index].empty(); }
    bool wanted(std::size_t index, Dialect dialect) const {
        return wanted_[dialect][index];
    }
    const std::vector<fields::OptionVariable>& options(int family) const {
        return family == 4 ? options4_ : options6_;
    }
    std::string summary() const;
    // Whether SHADOWABLE_VARIABLES[i] gives way to a listed option: decided at load, so a
    // callout compares no names.
    bool shadowed(std::size_t i) const { return shadowed_[i]; }

private:
    // A script entry and, when it is persistent, its handlers.
    struct Entry {
        const ScriptConfig* script;
        HandlerPool* pool;
    };

    Outcome launch(const ScriptConfig& s, const char* point, const Environment& env,
                   long long cap = 0, Completion done = Completion()) const;
    Outcome hand_over(const ScriptConfig& s, HandlerPool& pool, const char* point,
                      const Environment& env, Completion done = Completion()) const;
    // Starts a `park: true` run whose end settles `runs`; false when it did not start (its
    // failure is settled then).
    bool start_parked(const Entry& entry, const char* point, const Environment& env,
                      const std::shared_ptr<ParkedRuns>& runs) const;

    Config config_;
    std::vector<std::vector<Entry> > by_hook_point_;
    std::vector<NextStep> failure_step_;
    std::vector<bool> wanted_[2];  // by dialect
    std::vector<fields::OptionVariable> options4_;
    std::vector<fields::OptionVariable> options6_;
    std::vector<bool> shadowed_;
    std::vector<bool> parks_;
    // Parked queries go on from Kea's main thread. Destroyed after the launcher and the pools,
    // whose ends settle every run still going: it then resumes what is left.
    std::unique_ptr<Resumer> resumer_;
    std::unique_ptr<Launcher> launcher_;
    // One per script entry, null for exec-mode ones. Destroyed first: their stop is bounded
    // by drain-timeout (handler.h).
    std::vector<std::unique_ptr<HandlerPool> > pools_;
    // The lease replay, while it runs; stopped before the pools and the launcher stop.
    std::unique_ptr<Replayer> replayer_;
};

// The replay's callout could not start it: logs why (no script run, Kea goes on).
void replay_failed(std::size_t index, const char* what);

// Hands the scripts' verdict to Kea.
void apply_next_step(isc::hooks::CalloutHandle& handle, NextStep step);

// The callout's answer when building the environment threw: logs it, applies `on-failure`.
void callout_failed(isc::hooks::CalloutHandle& handle, std::size_t index, const char* what);

// The runner of the loaded library (null when not loaded). Set in load(), read-only while
// Kea runs callouts, reset in unload().
extern std::unique_ptr<Runner> runner;

}  // namespace runscript

#endif
