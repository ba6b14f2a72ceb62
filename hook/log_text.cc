#include "log_text.h"

#include <cstddef>

namespace runscript {

namespace {

// Length of the well-formed UTF-8 sequence of two or more bytes at s[i], 0 when there is none
// (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF), or when it encodes a
// C1 control (U+0080-U+009F: terminals take some of them as escapes).
std::size_t utf8_sequence(const unsigned char* s, std::size_t i, std::size_t n) {
    const unsigned char c = s[i];
    std::size_t len;
    unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        if (c == 0xC2) lo = 0xA0;  // C1 controls
    } else if (c == 0xE0) {
        len = 3;
        lo = 0xA0;
    } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
        len = 3;
    } else if (c == 0xED) {
        len = 3;
        hi = 0x9F;
    } else if (c == 0xF0) {
        len = 4;
        lo = 0x90;
    } else if (c >= 0xF1 && c <= 0xF3) {
        len = 4;
    } else if (c == 0xF4) {
        len = 4;
        hi = 0x8F;
    } else {
        return 0;
    }
    if (n - i < len || s[i + 1] < lo || s[i + 1] > hi) return 0;
    for (std::size_t k = 2; k < len; ++k) {
        if (s[i + k] < 0x80 || s[i + k] > 0xBF) return 0;
    }
    return len;
}

}  // namespace

std::string log_safe(const std::string& bytes) {
    static const char HEX[] = "0123456789abcdef";
    const unsigned char* s = reinterpret_cast<const unsigned char*>(bytes.data());
    const std::size_t n = bytes.size();
    std::string out;
    out.reserve(n);
    for (std::size_t i = 0; i < n;) {
        const unsigned char c = s[i];
        if (c >= 0x20 && c < 0x7F && c != '\\') {
            out.push_back(static_cast<char>(c));
            ++i;
            continue;
        }
        const std::size_t len = c >= 0x80 ? utf8_sequence(s, i, n) : 0;
        if (len) {
            out.append(bytes, i, len);
            i += len;
            continue;
        }
        out += "\\x";
        out.push_back(HEX[c >> 4]);
        out.push_back(HEX[c & 15]);
        ++i;
    }
    return out;
}

}  // namespace runscript
