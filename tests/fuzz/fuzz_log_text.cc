// Fuzz target: bytes a script or handler wrote, made into log text (log_text.h log_safe). The
// text must hold no C0 control, DEL or C1 control, be well-formed UTF-8 (checked here by a
// second, naive decoder), and give the input back when its \xHH escapes are read.
#include "log_text.h"

#include <cstdint>
#include <cstdlib>
#include <string>

namespace {

// The code point of the UTF-8 sequence at s[i] and its length; length 0 when malformed.
std::size_t decode(const std::string& s, std::size_t i, uint32_t* cp) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return 0;
    uint32_t v = len == 1 ? c : c & (0x7F >> len);
    for (std::size_t k = 1; k < len; ++k) {
        const unsigned char d = static_cast<unsigned char>(s[i + k]);
        if ((d & 0xC0) != 0x80) return 0;
        v = (v << 6) | (d & 0x3F);
    }
    static const uint32_t MIN[] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < MIN[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string in(reinterpret_cast<const char*>(data), size);
    const std::string out = runscript::log_safe(in);
    std::string back;
    for (std::size_t i = 0; i < out.size();) {
        uint32_t cp = 0;
        const std::size_t len = decode(out, i, &cp);
        if (len == 0) std::abort();                                    // not UTF-8
        if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) std::abort();  // a control
        if (cp == '\\') {
            if (i + 4 > out.size() || out[i + 1] != 'x') std::abort();
            const int h = hex(out[i + 2]), l = hex(out[i + 3]);
            if (h < 0 || l < 0) std::abort();
            back.push_back(static_cast<char>(h * 16 + l));
            i += 4;
            continue;
        }
        back.append(out, i, len);
        i += len;
    }
    if (back != in) std::abort();
    return 0;
}
