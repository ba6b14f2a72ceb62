// What the launcher and the handler pools report, into Kea's log (runscript.cc hands these
// sinks to them).

#include "reports.h"
#include "log_text.h"
#include "logger.h"

#include <string.h>

namespace runscript {

void report_async(const AsyncEvent& e) {
    switch (e.kind) {
    case AsyncEvent::TIMED_OUT:
        LOG_WARN(logger, RUNSCRIPT_ASYNC_TIMEOUT).arg(e.script).arg(e.pid);
        break;
    case AsyncEvent::EXITED_NONZERO:
        LOG_DEBUG(logger, isc::log::DBGLVL_TRACE_BASIC, RUNSCRIPT_ASYNC_FAILED)
            .arg(e.script).arg(e.pid).arg(e.code);
        break;
    case AsyncEvent::SPAWN_FAILED:
        LOG_ERROR(logger, RUNSCRIPT_ASYNC_SPAWN_FAILED).arg(e.script).arg(strerror(e.code));
        break;
    case AsyncEvent::SIGNALED:
        LOG_WARN(logger, RUNSCRIPT_ASYNC_FAILED).arg(e.script).arg(e.pid)
            .arg("signal " + std::to_string(e.code));
        break;
    case AsyncEvent::LIMITED:
        LOG_WARN(logger, RUNSCRIPT_ASYNC_LIMIT).arg(e.code).arg(e.pid).arg(e.script).arg(e.point);
        break;
    }
}

void report_line(const std::string& script, pid_t pid, const std::string& line) {
    LOG_INFO(logger, RUNSCRIPT_OUTPUT).arg(script).arg(pid).arg(log_safe(line));
}

// Handler events into Kea's log (from the pool's thread, or a callout's for a timeout).
HandlerSink handler_sink(const std::string& path) {
    return [path](const HandlerEvent& e) {
        switch (e.kind) {
        case HandlerEvent::STARTED:
            LOG_INFO(logger, RUNSCRIPT_HANDLER_STARTED).arg(path).arg(e.worker).arg(e.pid);
            break;
        case HandlerEvent::EXITED:
            // value 1: at unload, where ending is what was asked of it.
            if (e.value) {
                LOG_INFO(logger, RUNSCRIPT_HANDLER_EXITED).arg(path).arg(e.worker).arg(e.pid)
                    .arg(e.text);
            } else {
                LOG_WARN(logger, RUNSCRIPT_HANDLER_EXITED).arg(path).arg(e.worker).arg(e.pid)
                    .arg(e.text);
            }
            break;
        case HandlerEvent::RESTART:
            LOG_INFO(logger, RUNSCRIPT_HANDLER_RESTART).arg(path).arg(e.worker).arg(e.value);
            break;
        case HandlerEvent::TIMEOUT:
            LOG_WARN(logger, RUNSCRIPT_HANDLER_TIMEOUT).arg(path).arg(e.worker).arg(e.text)
                .arg(e.value);
            break;
        case HandlerEvent::BUSY:
            LOG_WARN(logger, RUNSCRIPT_HANDLER_BUSY).arg(path).arg(e.text).arg(e.value);
            break;
        case HandlerEvent::QUEUE_FULL:
            LOG_WARN(logger, RUNSCRIPT_HANDLER_QUEUE_FULL).arg(path).arg(e.worker).arg(e.value);
            break;
        case HandlerEvent::OUTPUT:
            LOG_INFO(logger, RUNSCRIPT_HANDLER_OUTPUT).arg(path).arg(e.pid).arg(log_safe(e.text));
            break;
        case HandlerEvent::PROTOCOL:
            LOG_WARN(logger, RUNSCRIPT_HANDLER_PROTOCOL).arg(path).arg(e.worker).arg(log_safe(e.text));
            break;
        }
    };
}

}  // namespace runscript
