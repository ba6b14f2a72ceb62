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

    // An IPv4 address (host order) in dotted decimal, as Kea's IOAddress::toText() writes it,
    // and bytes as lowercase hex pairs joined by ':', as HWAddr::toText(false) does: Kea's go
    // through iostreams, a good part of an event's cost in its thread.
    void add_ipv4(const char* name, uint32_t address) {
        std::string& v = start(name, 15);
        for (int shift = 24; shift >= 0; shift -= 8) {
            append_decimal(v, (address >> shift) & 0xff);
            if (shift) v += '.';
        }
    }
    void add_hex_pairs(const char* name, const uint8_t* bytes, std::size_t count) {
        static const char digits[] = "0123456789abcdef";
        std::string& v = start(name, count * 3);
        for (std::size_t i = 0; i < count; ++i) {
            if (i) v += ':';
            v += digits[bytes[i] >> 4];
            v += digits[bytes[i] & 0xf];
        }
    }

    // More text for the variable just added.
    void append(const std::string& more) { vars_.back() += more; }

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
    std::string& start(const char* name, std::size_t value_bytes) {
        vars_.emplace_back();
        std::string& v = vars_.back();
        v.reserve(std::char_traits<char>::length(name) + value_bytes);
        v += name;
        return v;
    }
    static void append_decimal(std::string& v, unsigned n) {
        if (n >= 100) v += static_cast<char>('0' + n / 100);
        if (n >= 10) v += static_cast<char>('0' + n / 10 % 10);
        v += static_cast<char>('0' + n % 10);
    }

    std::vector<std::string> vars_;
    long client_ = -1;  // index of the client's variable in vars_
};

}  // namespace runscript

#endif
