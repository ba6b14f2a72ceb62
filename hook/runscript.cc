#include "runscript.h"
#include "logger.h"
#include "reports.h"

#include <string.h>

#include <algorithm>

namespace runscript {

std::unique_ptr<Runner> runner;

namespace {

HandlerSettings handler_settings(const ScriptConfig& s, const Config& config) {
    HandlerSettings h;
    h.path = s.path;
    h.name = s.name;
    h.env = s.extra_env;
    h.workers = s.workers;
    h.wait = s.wait;
    h.queue = s.queue;
    h.timeout_ms = s.timeout_ms;
    h.max_lines = config.max_output_lines;
    h.drain_ms = config.drain_ms;
    h.park = s.park;
    return h;
}

const char* step_name(NextStep step) {
    return step == STEP_DROP ? "drop" : step == STEP_SKIP ? "skip" : "continue";
}

std::vector<fields::OptionVariable> option_variables(int family,
                                                     const std::vector<OptionSpec>& specs) {
    std::vector<fields::OptionVariable> out;
    for (const OptionSpec& spec : specs) {
        fields::OptionVariable v;
        v.code = spec.code;
        v.sub = spec.sub;
        v.name = option_variable_name(family, spec.code, spec.sub);
        out.push_back(v);
    }
    return out;
}

// A run that gave no exit code to act on: `on-failure` decides for it.
bool failed(const Outcome& o) {
    switch (o.kind) {
    case Outcome::SIGNALED:
    case Outcome::TIMED_OUT:
    case Outcome::SPAWN_FAILED:
    case Outcome::LIMIT:
    case Outcome::UNKNOWN:
    case Outcome::HANDLER_DOWN:
    case Outcome::BUSY:
        return true;
    case Outcome::EXITED:
    case Outcome::STARTED:
        return false;
    }
    return true;
}

const char* failure_name(const Outcome& o) {
    switch (o.kind) {
    case Outcome::SIGNALED: return "killed by a signal";
    case Outcome::TIMED_OUT: return "timed out";
    case Outcome::SPAWN_FAILED: return "could not start";
    case Outcome::LIMIT: return "not started, max-async reached";
    case Outcome::UNKNOWN: return "exit status lost";
    case Outcome::HANDLER_DOWN: return "no running handler";
    case Outcome::BUSY: return "every worker busy";
    default: return "failed";
    }
}

// What one run's end asks of Kea: its exit code through `exit-codes`, a failure through
// `on-failure` (logged when it is more than continue).
NextStep step_for(const ScriptConfig& s, const char* point, const Outcome& o) {
    if (failed(o)) {
        if (s.on_failure > STEP_CONTINUE) {
            LOG_DEBUG(logger, isc::log::DBGLVL_TRACE_BASIC, RUNSCRIPT_FAILURE_ACTION)
                .arg(s.path).arg(point).arg(failure_name(o)).arg(step_name(s.on_failure));
        }
        return s.on_failure;
    }
    if (o.kind == Outcome::EXITED && !s.exit_codes.empty()) {
        std::map<int, NextStep>::const_iterator it = s.exit_codes.find(o.code);
        if (it != s.exit_codes.end() && it->second > STEP_CONTINUE) {
            LOG_DEBUG(logger, isc::log::DBGLVL_TRACE_BASIC, RUNSCRIPT_EXIT_ACTION)
                .arg(s.path).arg(point).arg(o.code).arg(step_name(it->second));
            return it->second;
        }
    }
    return STEP_CONTINUE;
}

Limits limits_of(const Config& config, bool any_async) {
    Limits limits;
    limits.max_async = any_async ? config.max_async : 0;
    limits.max_lines = config.max_output_lines;
    limits.drain_ms = config.drain_ms;
    return limits;
}

}  // namespace

Runner::Runner(const Config& config)
    : config_(config), by_hook_point_(HOOK_POINT_COUNT),
      failure_step_(HOOK_POINT_COUNT, STEP_CONTINUE),
      wanted_{std::vector<bool>(HOOK_POINT_COUNT), std::vector<bool>(HOOK_POINT_COUNT)},
      options4_(option_variables(4, config.options4)),
      options6_(option_variables(6, config.options6)), shadowed_(SHADOWABLE_COUNT),
      parks_(HOOK_POINT_COUNT) {
    for (std::size_t i = 0; i < SHADOWABLE_COUNT; ++i) {
        const char* name = SHADOWABLE_VARIABLES[i];
        shadowed_[i] = fields::option_listed(options4_, name) || fields::option_listed(options6_, name);
    }
    bool any_async = false;
    for (const ScriptConfig& s : config_.scripts) {
        HandlerPool* pool = 0;
        if (s.persistent) {
            pools_.emplace_back(new HandlerPool(handler_settings(s, config_), handler_sink(s.path)));
            pool = pools_.back().get();
        } else {
            pools_.emplace_back();
            any_async = any_async || !s.wait || s.park || s.replay;
        }
        for (std::size_t i = 0; i < HOOK_POINT_COUNT; ++i) {
            if (!s.hook_points[i]) continue;
            by_hook_point_[i].push_back(Entry{&s, pool});
            wanted_[s.dialect][i] = true;
            failure_step_[i] = std::max(failure_step_[i], s.on_failure);
            if (s.park) parks_[i] = true;
        }
        if (s.park && !resumer_) resumer_.reset(new Resumer());
    }
    launcher_.reset(new Launcher(limits_of(config_, any_async), report_async, report_line));
}

std::string Runner::summary() const {
    std::string text;
    for (const ScriptConfig& s : config_.scripts) {
        std::string points;
        if (s.at_load) points = "load";
        for (std::size_t i = 0; i < HOOK_POINT_COUNT; ++i) {
            if (s.hook_points[i]) points += (points.empty() ? "" : ",") + std::string(HOOK_POINTS[i].name);
        }
        if (s.at_unload) points += (points.empty() ? "" : ",") + std::string("unload");
        const char* how = s.park ? "park" : s.wait ? "wait" : "async";
        const std::string mode = s.persistent
            ? std::string(" (persistent, ") + how + ", " +
                  std::to_string(s.workers) + (s.workers == 1 ? " worker" : " workers") +
                  (s.wait ? "" : ", queue " + std::to_string(s.queue))
            : std::string(" (") + how;
        text += (text.empty() ? "" : "; ") + s.path +
                (s.dialect == DIALECT_ISC ? " [ISC's dialect]" : "") + mode +
                ", timeout " + std::to_string(s.timeout_ms) + " ms, on-failure " +
                step_name(s.on_failure) + ") at " + points;
    }
    return text;
}

Outcome Runner::launch(const ScriptConfig& s, const char* point, const Environment& env,
                       long long cap, Completion done) const {
    // posix_spawn takes char* const[]: the strings are not modified.
    std::vector<char*> envp;
    envp.reserve(env.vars().size() + s.extra_env.size() + 1);
    for (const std::string& v : env.vars()) envp.push_back(const_cast<char*>(v.c_str()));
    for (const std::string& v : s.extra_env) envp.push_back(const_cast<char*>(v.c_str()));
    envp.push_back(0);
    char* argv[] = {const_cast<char*>(s.name.c_str()), const_cast<char*>(point), 0};

    int timeout_ms = s.timeout_ms;
    const bool wait = s.wait && !done;
    if (cap > 0 && wait) {
        // At unload, a synchronous script is bounded by the drain's end too.
        const long long left = std::max(cap - monotonic_ms(), 1LL);
        if (timeout_ms <= 0 || left < timeout_ms) timeout_ms = static_cast<int>(left);
    }
    Outcome o = launcher_->run(s.path.c_str(), argv, envp.data(), wait, timeout_ms,
                               s.capture, std::move(done));
    switch (o.kind) {
    case Outcome::EXITED:
        if (o.code != 0) {
            LOG_DEBUG(logger, isc::log::DBGLVL_TRACE_BASIC, RUNSCRIPT_SCRIPT_FAILED)
                .arg(s.path).arg(point).arg(o.code);
        }
        break;
    case Outcome::SIGNALED:
        LOG_WARN(logger, RUNSCRIPT_SCRIPT_SIGNALED).arg(s.path).arg(point).arg(o.code);
        break;
    case Outcome::TIMED_OUT:
        LOG_WARN(logger, RUNSCRIPT_TIMEOUT).arg(s.path).arg(point).arg(timeout_ms);
        break;
    case Outcome::SPAWN_FAILED:
        LOG_ERROR(logger, RUNSCRIPT_SPAWN_FAILED).arg(s.path).arg(point).arg(strerror(o.code));
        break;
    case Outcome::LIMIT:  // counted and logged by the launcher's reaper (LIMIT_REPORT_MS)
    case Outcome::STARTED:
    case Outcome::UNKNOWN:
    case Outcome::HANDLER_DOWN:
    case Outcome::BUSY:
        break;
    }
    return o;
}

// The pool logs timeouts, drops and protocol errors itself (bounded); here only what exec
// mode logs per event.
Outcome Runner::hand_over(const ScriptConfig& s, HandlerPool& pool, const char* point,
                          const Environment& env, Completion done) const {
    const std::size_t key = pool.workers() > 1 ? env.client_key() : 0;
    const Outcome o = done ? pool.post(key, handler_record(point, env.vars()), std::move(done))
                    : s.wait ? pool.call(key, point, env.vars())
                             : pool.post(key, handler_record(point, env.vars()));
    if (o.kind == Outcome::EXITED && o.code != 0) {
        LOG_DEBUG(logger, isc::log::DBGLVL_TRACE_BASIC, RUNSCRIPT_SCRIPT_FAILED)
            .arg(s.path).arg(point).arg(o.code);
    }
    return o;
}

bool Runner::start_parked(const Entry& entry, const char* point, const Environment& env,
                          const std::shared_ptr<ParkedRuns>& runs) const {
    const ScriptConfig* s = entry.script;
    Resumer* resumer = resumer_.get();
    // Called once, from the launcher's or the pool's thread, when the run has ended.
    Completion done = [s, point, runs, resumer](const Outcome& o) {
        runs->settle(step_for(*s, point, o));
        if (--runs->pending == 0) resumer->push(runs);
    };
    ++runs->pending;
    const Outcome o = entry.pool ? hand_over(*s, *entry.pool, point, env, std::move(done))
                                 : launch(*s, point, env, 0, std::move(done));
    if (o.kind == Outcome::STARTED) return true;
    // Not started (max-async, a full queue, no handler, exec failure): no end will come.
    --runs->pending;
    runs->settle(step_for(*s, point, o));
    return false;
}

NextStep Runner::run(std::size_t index, const Environment* ours, const Environment* isc,
                     std::unique_ptr<ParkedQuery> parked) const {
    const char* point = HOOK_POINTS[index].name;
    NextStep verdict = STEP_CONTINUE;
    std::shared_ptr<ParkedRuns> runs;
    if (parked) {
        // Held before any run starts: none can end and resume the query before Kea knows it
        // is parked. Kea does not park every query (DHCPv4-over-DHCPv6): then the scripts
        // are waited for, so that their exit codes still decide.
        try {
            parked->reference();
            runs = std::make_shared<ParkedRuns>();
            runs->query = std::move(parked);
            runs->point = point;
        } catch (const std::exception& e) {
            LOG_DEBUG(logger, isc::log::DBGLVL_TRACE_BASIC, RUNSCRIPT_PARK_NOT_PARKED)
                .arg(parked->label()).arg(point);
        }
    }
    bool any_parked = false;
    for (const Entry& entry : by_hook_point_[index]) {
        const ScriptConfig* s = entry.script;
        const Environment* env = s->dialect == DIALECT_ISC ? isc : ours;
        if (!env) continue;
        if (s->park && runs) {
            any_parked = start_parked(entry, point, *env, runs) || any_parked;
            continue;
        }
        Outcome o = Outcome{Outcome::STARTED, 0, -1};
        if (s->park && !entry.pool) {  // Kea did not park the query: the script is waited for
            ScriptConfig waited = *s;
            waited.wait = true;
            o = launch(waited, point, *env);
        } else {  // a parking handler's record is then only queued (docs/hook.md)
            o = entry.pool ? hand_over(*s, *entry.pool, point, *env) : launch(*s, point, *env);
        }
        verdict = std::max(verdict, step_for(*s, point, o));
    }
    if (!runs) return verdict;
    if (!any_parked) {
        // No park run started: decided now. Our hold goes, so that another library's unpark
        // is not kept waiting for ours.
        try {
            runs->query->dereference();
        } catch (...) {
        }
        return std::max(verdict, static_cast<NextStep>(runs->verdict.load()));
    }
    runs->settle(verdict);
    if (--runs->pending == 0) resumer_->push(runs);
    return STEP_PARK;
}

void Runner::unload() {
    // No replay event starts after this; those started end with the others below.
    if (replayer_) replayer_->stop();
    const long long deadline = monotonic_ms() + std::max(config_.drain_ms, 0);
    run_lifecycle(false, deadline);
    // Every pool drains at once, to the same end (one after another, N pools took N drains).
    for (const auto& pool : pools_) {
        if (pool) pool->begin_stop(deadline);
    }
    launcher_->begin_stop(deadline);
}

std::string Runner::run_lifecycle(bool loading, long long cap) const {
    const char* point = loading ? "load" : "unload";
    const Environment env(0);
    std::string failure;
    for (std::size_t i = 0; i < config_.scripts.size(); ++i) {
        const ScriptConfig& s = config_.scripts[i];
        if (!(loading ? s.at_load : s.at_unload)) continue;
        Outcome o = pools_[i] ? pools_[i]->lifecycle(point, cap) : launch(s, point, env, cap);
        std::string problem;
        if (o.kind == Outcome::EXITED && o.code != 0) {
            problem = "exit status " + std::to_string(o.code);
        } else if (o.kind == Outcome::SIGNALED) {
            problem = "killed by signal " + std::to_string(o.code);
        } else if (o.kind == Outcome::TIMED_OUT) {
            problem = "timed out";
        } else if (o.kind == Outcome::SPAWN_FAILED) {
            problem = strerror(o.code);
        } else if (o.kind == Outcome::HANDLER_DOWN) {
            problem = "no running handler";
        } else if (o.kind == Outcome::BUSY) {
            problem = "every worker busy";
        } else if (o.kind == Outcome::UNKNOWN && s.persistent) {
            problem = "malformed reply";
        }
        if (!problem.empty()) {
            LOG_ERROR(logger, RUNSCRIPT_LIFECYCLE_FAILED).arg(s.path).arg(point).arg(problem);
            if (failure.empty()) failure = "script " + s.path + " at " + point + ": " + problem;
        }
    }
    return failure;
}

void callout_failed(isc::hooks::CalloutHandle& handle, std::size_t index, const char* what) {
    try {
        LOG_ERROR(logger, RUNSCRIPT_CALLOUT_ERROR).arg(HOOK_POINTS[index].name).arg(what);
    } catch (...) {
    }
    if (runner) apply_next_step(handle, runner->failure_step(index));
}

void apply_next_step(isc::hooks::CalloutHandle& handle, NextStep step) {
    if (step == STEP_PARK) {
        handle.setStatus(isc::hooks::CalloutHandle::NEXT_STEP_PARK);
    } else if (step == STEP_SKIP) {
        handle.setStatus(isc::hooks::CalloutHandle::NEXT_STEP_SKIP);
    } else if (step == STEP_DROP) {
        handle.setStatus(isc::hooks::CalloutHandle::NEXT_STEP_DROP);
    }
}

}  // namespace runscript
