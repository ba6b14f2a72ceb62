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
        t.retry_ms = s->timeout_ms > 0 ? std::min(s->timeout_ms, REPLAY_RETRY_MS) : REPLAY_RETRY_MS;
        HandlerPool* pool = entry.pool;
        if (!pool) {
            // Asynchronous runs (a completion makes launch() start one), their ends counted;
            // half of max-async stays for Kea's own events.
            t.window = std::max<std::size_t>(1, config_.max_async / 2);
            t.completes = true;
            t.submit = [this, s, point](const Environment& env, Completion done) {
                // Full: the event waits (the launcher would log each refusal).
                if (launcher_->running_async() >= config_.max_async) {
                    return Outcome{Outcome::LIMIT, 0, -1};
                }
                return launch(*s, point, env, 0, std::move(done));
            };
        } else {
            // As Kea's events go (hand_over): a parking pool answers each posted record
            // (half its queue for the replay), a synchronous handler's round trip waits on the
            // replay's thread, never Kea's, an asynchronous one's queue is the bound (full:
            // LIMIT, the event waits).
            t.completes = s->park;
            t.window = s->park ? std::max<std::size_t>(1, s->queue / 2) : 1;
            t.submit = [this, s, pool, point](const Environment& env, Completion done) {
                return hand_over(*s, *pool, point, env, std::move(done));
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
