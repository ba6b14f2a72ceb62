#include "logger.h"

namespace runscript {

isc::log::Logger logger("hook-runscript");

}  // namespace runscript
