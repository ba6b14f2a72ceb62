// Whether Kea runs to check a configuration file rather than to serve: a configuration test
// must check the hook's parameters as the service would, but must not run scripts or start
// handlers (they act on the world, and as the user who runs the test, often root).
#ifndef RUNSCRIPT_CONFIG_TEST_H
#define RUNSCRIPT_CONFIG_TEST_H

#include <string>
#include <vector>

namespace runscript {

enum ConfigTest {
    CONFIG_TEST_NONE,       // serving
    CONFIG_TEST_OPEN_ONLY,  // `-t FILE` (every Kea): Kea only opens the library and calls version()
    CONFIG_TEST_LOADING,    // `-T FILE` (Kea >= 2.3.6): Kea loads it, load() and unload() run
};

struct ConfigTestRun {
    ConfigTest mode;
    std::string file;  // the file checked (`-t FILE`, `-T FILE`)
};

// The mode of a Kea command line (argv[0] included), read the way Kea's getopt does: options
// may be grouped (`-dt FILE`), an option's argument may follow it (`-tFILE`), `--` ends them.
ConfigTestRun config_test_of(const std::vector<std::string>& argv);

// The mode of this process (/proc/self/cmdline); CONFIG_TEST_NONE when it cannot be read.
ConfigTestRun config_test_mode();

}  // namespace runscript

#endif
