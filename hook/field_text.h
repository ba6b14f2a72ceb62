// How the extractors (fields.h) write Kea's values: the same text as Kea's own toText(), but
// without the iostreams Kea's go through, a good part of an event's cost in Kea's thread.

#ifndef RUNSCRIPT_FIELD_TEXT_H
#define RUNSCRIPT_FIELD_TEXT_H

#include "environment.h"

#include <asiolink/io_address.h>
#include <dhcp/hwaddr.h>

#include <stdint.h>

#include <string>
#include <vector>

namespace runscript {
namespace fields {

inline void put_bool(Environment& env, const char* name, bool value) {
    env.add(name, value ? "1" : "0");
}

// An address as IOAddress::toText() writes it (IPv4 without Kea's iostreams).
inline void address(Environment& env, const char* name, const isc::asiolink::IOAddress& a) {
    if (a.isV4()) {
        env.add_ipv4(name, a.toUint32());
    } else {
        env.add(name, a.toText());
    }
}

// Bytes as Kea's HWAddr, DUID and ClientId toText() write them: "0a:1b:..." ("" for none).
inline void hex_pairs(Environment& env, const char* name, const std::vector<uint8_t>& bytes) {
    env.add_hex_pairs(name, bytes.data(), bytes.size());
}

// ---- hardware address helpers (1.4 sends empty values when Kea has none) ----

inline void hwaddr_text(Environment& env, const char* name, const isc::dhcp::HWAddrPtr& hw) {
    if (hw) {
        hex_pairs(env, name, hw->hwaddr_);  // hw->toText(false)
    } else {
        env.add(name, "");
    }
}
inline void hwaddr_type(Environment& env, const char* name, const isc::dhcp::HWAddrPtr& hw) {
    env.add(name, hw ? std::to_string(hw->htype_) : std::string());
}
inline void hwaddr_source(Environment& env, const char* name, const isc::dhcp::HWAddrPtr& hw) {
    env.add(name, hw ? std::to_string(hw->source_) : std::string());
}

}  // namespace fields
}  // namespace runscript

#endif
