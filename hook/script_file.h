// Whether a configured script may be run, asked once at load(): an absolute path to an
// executable that the user Kea runs as can reach and run, and, with check-permissions, one that
// only root or that user could have changed (the file, its directories, the links on the way).

#ifndef RUNSCRIPT_SCRIPT_FILE_H
#define RUNSCRIPT_SCRIPT_FILE_H

#include <string>

namespace runscript {

// Throws ConfigError naming the parameter (`name`) and what is wrong.
void check_executable(const std::string& path, const std::string& name, bool check_permissions);

}  // namespace runscript

#endif  // RUNSCRIPT_SCRIPT_FILE_H
