#include "runscript.h"
#include "logger.h"

#include <string.h>

namespace runscript {

std::unique_ptr<Runner> runner;

namespace {

void report_async(const AsyncEvent& e) {
    switch (e.kind) {
    case AsyncEvent::TIMED_OUT:
        LOG_WARN(logger, RUNSCRIPT_ASYNC_TIMEOUT).arg(e.script).arg(e.pid);
        break;
    case AsyncEvent::EXITED_NONZERO:
        LOG_DEBUG(logger, isc::log::DBGLVL_TRACE_BASIC, RUNSCRIPT_ASYNC_FAILED)
            .arg(e.script).arg(e.pid).arg(e.code);
        break;
    case AsyncEvent::SIGNALED:
        LOG_WARN(logger, RUNSCRIPT_ASYNC_FAILED).arg(e.script).arg(e.pid)
            .arg("signal " + std::to_string(e.code));
        break;
    }
}

}  // namespace

Runner::Runner(const Config& config)
    : config_(config), by_hook_point_(HOOK_POINT_COUNT) {
    bool any_async = false;
    for (const ScriptConfig& s : config_.scripts) {
        for (std::size_t i = 0; i < HOOK_POINT_COUNT; ++i) {
            if (s.hook_points[i]) by_hook_point_[i].push_back(&s);
        }
        any_async = any_async || !s.wait;
    }
    launcher_.reset(new Launcher(any_async ? config_.max_async : 0, report_async));
}

std::string Runner::summary() const {
    std::string text;
    for (const ScriptConfig& s : config_.scripts) {
        std::string points;
        for (std::size_t i = 0; i < HOOK_POINT_COUNT; ++i) {
            if (s.hook_points[i]) points += (points.empty() ? "" : ",") + std::string(HOOK_POINTS[i].name);
        }
        text += (text.empty() ? "" : "; ") + s.path + (s.wait ? " (wait" : " (async") +
                ", timeout " + std::to_string(s.timeout_ms) + " ms) at " + points;
    }
    return text;
}

void Runner::run(std::size_t index, const Environment& env) const {
    const char* point = HOOK_POINTS[index].name;
    for (const ScriptConfig* s : by_hook_point_[index]) {
        // posix_spawn takes char* const[]: the strings are not modified.
        std::vector<char*> envp;
        envp.reserve(env.vars().size() + s->extra_env.size() + 1);
        for (const std::string& v : env.vars()) envp.push_back(const_cast<char*>(v.c_str()));
        for (const std::string& v : s->extra_env) envp.push_back(const_cast<char*>(v.c_str()));
        envp.push_back(0);
        char* argv[] = {const_cast<char*>(s->name.c_str()), const_cast<char*>(point), 0};

        Outcome o = launcher_->run(s->path.c_str(), argv, envp.data(), s->wait, s->timeout_ms);
        switch (o.kind) {
        case Outcome::EXITED:
            if (o.code != 0) {
                LOG_DEBUG(logger, isc::log::DBGLVL_TRACE_BASIC, RUNSCRIPT_SCRIPT_FAILED)
                    .arg(s->path).arg(point).arg(o.code);
            }
            break;
        case Outcome::SIGNALED:
            LOG_WARN(logger, RUNSCRIPT_SCRIPT_SIGNALED).arg(s->path).arg(point).arg(o.code);
            break;
        case Outcome::TIMED_OUT:
            LOG_WARN(logger, RUNSCRIPT_TIMEOUT).arg(s->path).arg(point).arg(s->timeout_ms);
            break;
        case Outcome::SPAWN_FAILED:
            LOG_ERROR(logger, RUNSCRIPT_SPAWN_FAILED).arg(s->path).arg(point).arg(strerror(o.code));
            break;
        case Outcome::LIMIT:
            LOG_WARN(logger, RUNSCRIPT_ASYNC_LIMIT).arg(s->path).arg(point).arg(o.code);
            break;
        case Outcome::STARTED:
        case Outcome::UNKNOWN:
            break;
        }
    }
}

}  // namespace runscript
