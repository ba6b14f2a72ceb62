// Fuzz target: an event's variables with hostile values (any byte, NUL included, any length)
// through Environment (environment.h) into a handler record (protocol.h handler_record), read
// back as a handler reads it. The record must hold exactly the hook point and one field per
// variable, each NAME=value with the value up to its first NUL, then the empty field that
// ends the record: no value can end a record early or make one of its own. The client key
// (Environment::client_key) is the same for the same client identity at any hook point.
//
// Input: a hook-point index byte, then values separated by the byte 0xFF (each becomes the
// value of the next name of NAMES, cyclically).
#include "environment.h"
#include "protocol.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

const char* const POINTS[] = {"pkt4_receive", "lease4_release", "pkt6_send", "leases6_committed"};
const char* const NAMES[] = {"KEA_QUERY4_HWADDR=", "KEA_QUERY4_OPTION60=", "KEA_LEASE4_HOSTNAME=",
                             "KEA_QUERY6_DUID=", "KEA_LEASE4_ADDRESS=", "KEA_SUBNET4_ID="};
const std::size_t N_NAMES = sizeof(NAMES) / sizeof(NAMES[0]);

// The names whose values identify the client (types hwaddr and duid: `client: true` in the
// catalogue); the generated callouts mark them so.
bool identifies_client(const char* name) {
    return std::strcmp(name, "KEA_QUERY4_HWADDR=") == 0 || std::strcmp(name, "KEA_QUERY6_DUID=") == 0;
}

std::vector<std::string> split_fields(const std::string& record) {
    std::vector<std::string> fields;
    std::size_t at = 0;
    while (at < record.size()) {
        const std::size_t nul = record.find('\0', at);
        if (nul == std::string::npos) std::abort();  // every field is NUL-terminated
        fields.push_back(record.substr(at, nul - at));
        at = nul + 1;
    }
    return fields;
}

// A handler reads fields up to the first empty one: that must be the record's last, and
// each field is NAME=value with the value up to its first NUL.
void check_record(const char* point, const std::vector<std::string>& vars,
                  const std::vector<std::string>& values) {
    const std::vector<std::string> fields = split_fields(runscript::handler_record(point, vars));
    if (fields.size() != values.size() + 2) std::abort();
    if (fields.front() != point || !fields.back().empty()) std::abort();
    for (std::size_t i = 0; i < values.size(); ++i) {
        const std::string& f = fields[i + 1];
        if (f.empty() || f != std::string(NAMES[i % N_NAMES]) + values[i].c_str()) std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const char* point = POINTS[data[0] % (sizeof(POINTS) / sizeof(POINTS[0]))];
    std::vector<std::string> values;
    std::string current;
    for (size_t i = 1; i < size; ++i) {
        if (data[i] == 0xFF) {
            values.push_back(current);
            current.clear();
        } else {
            current.push_back(static_cast<char>(data[i]));
        }
    }
    values.push_back(current);

    runscript::Environment env(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
        env.add(NAMES[i % N_NAMES], values[i]);
        if (identifies_client(NAMES[i % N_NAMES])) env.identifies_client();
    }
    check_record(point, env.vars(), values);
    // The framing holds on its own too, for strings that kept their NUL bytes (a future
    // maker of variables that does not go through Environment).
    std::vector<std::string> raw;
    for (std::size_t i = 0; i < values.size(); ++i) raw.push_back(NAMES[i % N_NAMES] + values[i]);
    check_record(point, raw, values);

    // The same identity at another hook point, among other variables: the same worker.
    runscript::Environment again(2);
    for (const std::string& v : env.vars()) {
        const std::size_t eq = v.find('=');
        const std::string name = v.substr(0, eq + 1);
        if (identifies_client(name.c_str()) && eq + 1 < v.size()) {
            again.add("KEA_SUBNET4_ID=", "1");
            again.add(name.c_str(), v.substr(eq + 1));
            again.identifies_client();
            break;
        }
    }
    if (again.client_key() != env.client_key()) std::abort();
    return 0;
}
