// Text for Kea's log from bytes a script or a handler wrote, which may hold whatever a DHCP
// client sent (a hostname echoed by a script): printable ASCII and well-formed UTF-8 (but C1
// controls) stay as they are; every other byte, and the backslash, becomes \xHH. So a logged
// line holds no control character (no forged line, no terminal escape), is valid UTF-8 for
// log shippers, and the original bytes can be read back from it. Pure: tests/fuzz/ feeds it
// anything.

#ifndef RUNSCRIPT_LOG_TEXT_H
#define RUNSCRIPT_LOG_TEXT_H

#include <string>

namespace runscript {

std::string log_safe(const std::string& bytes);

}  // namespace runscript

#endif
