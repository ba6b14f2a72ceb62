// Refusals at max-async, counted and reported at most once a second (refusals.h).

#include "refusals.h"

namespace runscript {

bool Refusals::count(const char* script, const char* point) {
    {
        std::unique_lock<std::mutex> lock(names_mutex_, std::try_to_lock);
        if (lock.owns_lock()) {
            try {
                script_.assign(script);
                point_.assign(point ? point : "");
            } catch (...) {
            }
        }
    }
    return runs_.fetch_add(1) == 0;
}

bool Refusals::take(long long now, bool all, Report* report, long long* due) {
    *due = 0;
    if (runs_.load() == 0) return false;
    if (!all && now < due_) {
        *due = due_;
        return false;
    }
    report->runs = runs_.exchange(0);
    if (report->runs == 0) return false;
    due_ = now + LIMIT_REPORT_MS;
    try {
        std::lock_guard<std::mutex> lock(names_mutex_);
        report->script = script_;
        report->point = point_;
    } catch (...) {
    }
    return true;
}

}  // namespace runscript
