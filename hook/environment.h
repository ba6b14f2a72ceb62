// The environment handed to one script run: NAME=value strings, built per call.

#ifndef RUNSCRIPT_ENVIRONMENT_H
#define RUNSCRIPT_ENVIRONMENT_H

#include <cstddef>
#include <string>
#include <vector>

namespace runscript {

class Environment {
public:
    explicit Environment(std::size_t expected) { vars_.reserve(expected); }

    // `name` is a literal of the form "KEA_FOO=" (the generated code passes it with the '=').
    // A value ends at its first NUL byte (docs/variables.md): execve() cuts an exec script's
    // there anyway, and a handler record, whose fields end with NUL, must not hold one (a
    // client's option 60 with NULs would forge records). The hex values of options keep
    // every byte.
    void add(const char* name, const std::string& value) {
        vars_.emplace_back(name);
        vars_.back() += value.c_str();
    }
    void add(const char* name, const char* value) {
        vars_.emplace_back(name);
        vars_.back() += value;
    }

    const std::vector<std::string>& vars() const { return vars_; }

private:
    std::vector<std::string> vars_;
};

}  // namespace runscript

#endif
