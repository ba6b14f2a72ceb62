// The environment handed to one script run: NAME=value strings, built per call.

#ifndef RUNSCRIPT_ENVIRONMENT_H
#define RUNSCRIPT_ENVIRONMENT_H

#include <stdint.h>

#include <cstddef>
#include <string>
#include <vector>

namespace runscript {

class Environment {
public:
    explicit Environment(std::size_t expected) { vars_.reserve(expected); }
    void reserve(std::size_t expected) { vars_.reserve(expected); }

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

    // The variable just added identifies the client (its type says so in the catalogue: the
    // generated callouts call this after each such variable). The first of them with a value
    // is the client's: client_key() hashes it.
    void identifies_client() {
        if (client_ < 0 && !vars_.empty() && vars_.back().back() != '=') {
            client_ = static_cast<long>(vars_.size()) - 1;
        }
    }

    // FNV-1a over the client's value: the same client gives the same key at every hook point,
    // so its events go to one handler, in order. 0 when no variable identifies the client.
    std::size_t client_key() const {
        if (client_ < 0) return 0;
        const std::string& v = vars_[static_cast<std::size_t>(client_)];
        uint64_t h = 14695981039346656037ULL;
        for (std::size_t i = v.find('=') + 1; i < v.size(); ++i) {
            h ^= static_cast<unsigned char>(v[i]);
            h *= 1099511628211ULL;
        }
        return static_cast<std::size_t>(h);
    }

    const std::vector<std::string>& vars() const { return vars_; }

private:
    std::vector<std::string> vars_;
    long client_ = -1;  // index of the client's variable in vars_
};

}  // namespace runscript

#endif
