#include "protocol.h"

#include <cstring>

namespace runscript {

// strlen, not size(): Environment never makes a variable holding a NUL, and the record's
// framing must not depend on every maker of variables (a client's option 60 with NULs would
// forge records).
std::size_t field_length(const std::string& s) {
    return std::strlen(s.c_str());
}

std::string handler_record(const char* point, const std::vector<std::string>& vars) {
    std::size_t size = std::strlen(point) + 2;
    for (const std::string& v : vars) size += field_length(v) + 1;
    std::string record;
    record.reserve(size);
    record.append(point, std::strlen(point) + 1);
    for (const std::string& v : vars) record.append(v.c_str(), field_length(v) + 1);
    record.push_back('\0');
    return record;
}

ReplyKind parse_reply(const char* s, std::size_t n, int* code) {
    if (n < 4 || std::memcmp(s, "exit", 4) != 0) return REPLY_OTHER;
    if (n < 6 || n > 8 || s[4] != ' ') return REPLY_MALFORMED;
    int value = 0;
    for (std::size_t i = 5; i < n; ++i) {
        if (s[i] < '0' || s[i] > '9') return REPLY_MALFORMED;
        value = value * 10 + (s[i] - '0');
    }
    if ((n > 6 && s[5] == '0') || value > 255) return REPLY_MALFORMED;
    *code = value;
    return REPLY_EXIT;
}

}  // namespace runscript
