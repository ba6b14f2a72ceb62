// What the launcher and the handler pools report, into Kea's log.

#ifndef RUNSCRIPT_REPORTS_H
#define RUNSCRIPT_REPORTS_H

#include "handler.h"
#include "launcher.h"

#include <sys/types.h>

#include <string>

namespace runscript {

// An asynchronous script's end that is worth a line (launcher.h's EventSink).
void report_async(const AsyncEvent& e);
// A captured output line (launcher.h's LineSink).
void report_line(const std::string& script, pid_t pid, const std::string& line);
// The pool of handler `path`'s events (handler.h's HandlerSink).
HandlerSink handler_sink(const std::string& path);

}  // namespace runscript

#endif
