#ifndef RUNSCRIPT_LOGGER_H
#define RUNSCRIPT_LOGGER_H

#include "kea_features.h"
#include "messages.h"

#include <log/log_dbglevels.h>
#include <log/logger.h>
#include <log/macros.h>

#if !RUNSCRIPT_HAS_ISC_LOG_DBGLVLS
// Kea 1.1 has the debug levels in an anonymous namespace at global scope; name them as later
// releases do (isc::log::DBGLVL_*).
namespace isc {
namespace log {
using ::DBGLVL_TRACE_BASIC;
}  // namespace log
}  // namespace isc
#endif

namespace runscript {

// Kea shows it as <daemon>.hook-runscript, the name kea-hook-runscript 1.4 used.
extern isc::log::Logger logger;

}  // namespace runscript

#endif
