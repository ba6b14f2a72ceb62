// The lease replay's side of the Runner (replay.h): which script gets its events how.

#include "logger.h"
#include "runscript.h"

#include <algorithm>

namespace runscript {

void Runner::start_replay(std::size_t index, const std::string& lease_database,
                          std::unique_ptr<LeaseSource> source) {
    const char* point = HOOK_POINTS[index].name;
    if (replayer_) return;  // Kea configured this library once already
    if (!first_replay(HOOK_POINTS[index].family, lease_database)) {
        LOG_INFO(logger, RUNSCRIPT_REPLAY_SKIPPED).arg(point);
        return;
    }
    std::vector<ReplayTarget> targets;
    for (const Entry& entry : by_hook_point_[index]) {
        const ScriptConfig* s = entry.script;
        ReplayTarget t;
        t.path = s->path;
        t.retry_ms = s->timeout_ms > 0 ? std::min(s->timeout_ms, REPLAY_RETRY_MS) : REPLAY_RETRY_MS;
        HandlerPool* pool = entry.pool;
        if (!pool) {
            // Asynchronous runs whose ends are counted; half of max-async stays for Kea's
            // own events.
            t.window = std::max<std::size_t>(1, config_.max_async / 2);
            t.completes = true;
            t.submit = [this, s, point](const Environment& env, Completion done) {
                // Full: the event waits (the launcher would log each refusal).
                if (launcher_->running_async() >= config_.max_async) {
                    return Outcome{Outcome::LIMIT, 0, -1};
                }
                ScriptConfig async = *s;
                async.wait = false;
                return launch(async, point, env, 0, std::move(done));
            };
        } else if (s->park) {  // the pool answers each posted record (handler.h)
            t.window = std::max<std::size_t>(1, s->queue / 2);
            t.completes = true;
            t.submit = [pool, point](const Environment& env, Completion done) {
                const std::size_t key = pool->workers() > 1 ? env.client_key() : 0;
                return pool->post(key, handler_record(point, env.vars()), std::move(done));
            };
        } else {
            // A synchronous handler's round trip waits on the replay's thread, never Kea's;
            // an asynchronous one's queue is the bound (full: LIMIT, the event waits).
            t.window = 1;
            t.completes = false;
            const bool wait = s->wait;
            t.submit = [pool, point, wait](const Environment& env, Completion) {
                const std::size_t key = pool->workers() > 1 ? env.client_key() : 0;
                return wait ? pool->call(key, point, env.vars())
                            : pool->post(key, handler_record(point, env.vars()));
            };
        }
        targets.push_back(std::move(t));
    }
    replayer_.reset(new Replayer(point, std::move(source), std::move(targets),
                                 config_.replay_rate, HOOK_POINT_MAX_VARS[index]));
}

void replay_failed(std::size_t index, const char* what) {
    try {
        LOG_ERROR(logger, RUNSCRIPT_REPLAY_ERROR).arg(HOOK_POINTS[index].name).arg(what);
    } catch (...) {
    }
}

}  // namespace runscript
