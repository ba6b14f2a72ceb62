// The persistent handlers' wire format (docs/hook.md), apart from the pool that moves it:
// what a record's bytes are, what a reply line means. Pure functions of their input, so
// tests/fuzz/ can feed them anything. (Which worker an event goes to: environment.h.)
//
//   record (hook -> handler):  <hook point>\0NAME=value\0...\0\0
//   reply  (handler -> hook):  exit <decimal 0-255>\n

#ifndef RUNSCRIPT_PROTOCOL_H
#define RUNSCRIPT_PROTOCOL_H

#include <cstddef>
#include <string>
#include <vector>

namespace runscript {

// The record's bytes for an event (HandlerPool::post takes them): the hook point and the
// NAME=value strings, each written up to its first NUL and NUL-terminated, then one NUL. So
// a record holds exactly 1 + vars.size() fields whatever the strings hold.
std::string handler_record(const char* point, const std::vector<std::string>& vars);

// The bytes of one field of a record: `s` up to its first NUL (a synchronous call writes the
// fields one by one, with this length, as handler_record does).
std::size_t field_length(const std::string& s);

// One reply line without its newline: REPLY_EXIT for "exit N" with N 0-255 in plain decimal
// (*code = N), REPLY_MALFORMED for a line that starts with "exit" but is not that (it counts
// as the reply and is reported), REPLY_OTHER for any other line (logged, not a reply).
enum ReplyKind { REPLY_OTHER = 0, REPLY_EXIT = 1, REPLY_MALFORMED = 2 };
ReplyKind parse_reply(const char* s, std::size_t n, int* code);

}  // namespace runscript

#endif
