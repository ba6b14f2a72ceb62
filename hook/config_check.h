// The checks of a configuration beyond its parameters' values, shared by load() and by a
// configuration test (`kea-dhcp4 -t`, which never calls load()).
#ifndef RUNSCRIPT_CONFIG_CHECK_H
#define RUNSCRIPT_CONFIG_CHECK_H

#include "parameters.h"

#include <cstddef>
#include <functional>
#include <string>

namespace runscript {

// That the configuration has hook points for this server: `take(i)` registers hook point i's
// callout (load) or only says whether Kea has it (a test), false when it has not. Points of the
// other family are left out (one configuration may serve kea-dhcp4 and kea-dhcp6). Throws
// ConfigError when no hook point and no load/unload script is left.
void check_hook_points(const Config& config, const std::function<bool(std::size_t)>& take);

// Whether this Kea process registered hook point `name`.
bool hook_registered(const char* name);

// `kea-dhcpN -t FILE` (Kea only opens the library): reads FILE and checks the parameters of
// each `hooks-libraries` entry of this server that is this library, as load() will, and runs
// nothing. Returns lines for the operator (a file this reader cannot read is reported, not
// refused: Kea's own parser judges the syntax); throws ConfigError naming the entry's library
// and the parameter at fault.
std::string check_file_parameters(const std::string& file);

}  // namespace runscript

#endif
