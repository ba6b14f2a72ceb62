#include "callout_status.h"

#include <algorithm>

namespace runscript {

namespace {

const char* status_name(NextStep step) { return step == STEP_SKIP ? "skip" : "drop"; }

// One status asked for by one parameter, at every hook point of the script.
void check_one(ScriptConfig& s, NextStep step, const std::string& parameter,
               const std::string& inherited, const HookPointInfo* table, std::size_t count,
               const char* kea_version) {
    for (std::size_t i = 0; i < count && i < s.hook_points.size(); ++i) {
        if (!s.hook_points[i]) continue;
        const HookPointInfo& p = table[i];
        const int verdict = step == STEP_SKIP ? p.skip_verdict : p.drop_verdict;
        const std::string effect = step == STEP_SKIP ? p.skip_effect : p.drop_effect;
        const std::string what = "parameter '" + parameter + "' is \"" + status_name(step) +
                                 "\" at hook point '" + p.name + "'" + inherited;
        if (verdict == STATUS_REFUSE) {
            refuse(what + ", which cannot work on Kea " + kea_version + ": " + effect +
                   ". Leave that hook point out of this script's 'hook-points', or ask for "
                   "another status there (docs/hook.md: callout status)");
        }
        if (verdict == STATUS_WARN) {
            const std::string line = what + " for script " + s.path + ": " + effect;
            if (std::find(s.warnings.begin(), s.warnings.end(), line) == s.warnings.end()) {
                s.warnings.push_back(line);
            }
        }
    }
}

}  // namespace

void check_statuses(ScriptConfig& s, const StatusOrigin& origin, const HookPointInfo* table,
                    std::size_t count, const char* kea_version) {
    // An asynchronous script's exit code comes after Kea has moved on (refused earlier).
    if (s.wait || s.park) {
        for (const auto& code : s.exit_codes) {
            if (code.second == STEP_SKIP || code.second == STEP_DROP) {
                check_one(s, code.second, origin.exit_codes + "." + std::to_string(code.first),
                          origin.exit_codes_inherited, table, count, kea_version);
            }
        }
    }
    if (s.on_failure == STEP_SKIP || s.on_failure == STEP_DROP) {
        check_one(s, s.on_failure, origin.on_failure, origin.on_failure_inherited, table, count,
                  kea_version);
    }
}

}  // namespace runscript
