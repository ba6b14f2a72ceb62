// Runs the launcher refused at max-async: counted on the thread that was refused (Kea's), reported
// by the reaper as one count at most every LIMIT_REPORT_MS, the first of a series at once and
// what is left at the stop. Under overload a line per refusal would flood Kea's log from its
// packet threads.

#ifndef RUNSCRIPT_REFUSALS_H
#define RUNSCRIPT_REFUSALS_H

#include <atomic>
#include <mutex>
#include <string>

namespace runscript {

const long long LIMIT_REPORT_MS = 1000;

class Refusals {
public:
    struct Report {
        unsigned long long runs;  // refused since the previous report
        std::string script;       // the last refused one's path and hook point
        std::string point;
    };

    // One refusal of `script` at `point` (may be null). Never blocks, never throws: the names
    // are kept only when nobody else is writing them (the count is what matters). True for the
    // first refusal since the last report: the reporter must be woken.
    bool count(const char* script, const char* point);

    // The reporter (one thread): the refusals counted so far, when a report is due at `now` or
    // `all` (the stop). False when there is none to make; *due: when the next one is due then
    // (0: nothing waits).
    bool take(long long now, bool all, Report* report, long long* due);

private:
    std::atomic<unsigned long long> runs_{0};
    std::mutex names_mutex_;
    std::string script_;
    std::string point_;
    long long due_ = 0;  // monotonic ms; the reporter's only
};

}  // namespace runscript

#endif
