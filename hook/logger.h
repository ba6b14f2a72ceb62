#ifndef RUNSCRIPT_LOGGER_H
#define RUNSCRIPT_LOGGER_H

#include "messages.h"

#include <log/logger.h>
#include <log/macros.h>

namespace runscript {

// Kea shows it as <daemon>.hook-runscript, the name kea-hook-runscript 1.4 used.
extern isc::log::Logger logger;

}  // namespace runscript

#endif
