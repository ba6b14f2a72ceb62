// Fuzz target: a handler's reply line (protocol.h parse_reply), any bytes, any length,
// against a second, naive reading of the rule: "exit " followed by the decimal spelling of a
// number 0-255 and nothing else is a reply with that code; any other line starting with
// "exit" is malformed; anything else is not a reply.
#include "protocol.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string line(reinterpret_cast<const char*>(data), size);
    int code = -1;
    const runscript::ReplyKind kind = runscript::parse_reply(line.data(), line.size(), &code);
    int expected_code = -1;
    for (int c = 0; c <= 255; ++c) {
        if (line == "exit " + std::to_string(c)) expected_code = c;
    }
    runscript::ReplyKind expected = runscript::REPLY_OTHER;
    if (expected_code >= 0) {
        expected = runscript::REPLY_EXIT;
    } else if (line.compare(0, 4, "exit") == 0 && line.size() >= 4) {
        expected = runscript::REPLY_MALFORMED;
    }
    if (kind != expected) std::abort();
    if (kind == runscript::REPLY_EXIT && code != expected_code) std::abort();
    if (kind != runscript::REPLY_EXIT && code != -1) std::abort();  // *code only for a reply
    return 0;
}
