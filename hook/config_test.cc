#include "config_test.h"

#include <fstream>
#include <iterator>

namespace runscript {

namespace {

// Kea's server options that take an argument (its main.cc getopt strings, 1.1 to 3.x):
// -c config, -p server port, -P client port, -t / -T file to check.
bool takes_argument(char option) {
    return option == 'c' || option == 'p' || option == 'P' || option == 't' || option == 'T';
}

}  // namespace

ConfigTestRun config_test_of(const std::vector<std::string>& argv) {
    ConfigTestRun run = {CONFIG_TEST_NONE, ""};
    for (std::size_t i = 1; i < argv.size(); ++i) {
        const std::string& arg = argv[i];
        if (arg == "--") break;
        if (arg.size() < 2 || arg[0] != '-') continue;  // glibc's getopt skips operands
        for (std::size_t j = 1; j < arg.size(); ++j) {
            const char option = arg[j];
            if (!takes_argument(option)) continue;
            std::string value = arg.substr(j + 1);
            if (value.empty() && i + 1 < argv.size()) value = argv[++i];  // the next word
            if (option == 't' || option == 'T') {
                run.mode = option == 't' ? CONFIG_TEST_OPEN_ONLY : CONFIG_TEST_LOADING;
                run.file = value;
            }
            break;
        }
    }
    return run;
}

ConfigTestRun config_test_mode() {
    std::ifstream in("/proc/self/cmdline", std::ios::binary);
    if (!in) return ConfigTestRun{CONFIG_TEST_NONE, ""};
    const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> argv;
    std::string::size_type start = 0;
    while (start < all.size()) {
        std::string::size_type end = all.find('\0', start);
        if (end == std::string::npos) end = all.size();
        argv.push_back(all.substr(start, end - start));
        start = end + 1;
    }
    return config_test_of(argv);
}

}  // namespace runscript
