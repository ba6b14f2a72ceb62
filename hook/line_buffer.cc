// Splitting output into lines (line_buffer.h).

#include "line_buffer.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace runscript {

LineBuffer::LineBuffer(std::size_t max_lines) : max_lines_(max_lines) {}

void LineBuffer::end_line(std::vector<std::string>& lines) {
    if (kept_ < max_lines_) {
        lines.push_back(partial_);
        ++kept_;
    } else {
        ++dropped_;
    }
    partial_.clear();
    pending_ = false;
}

bool LineBuffer::read_from(int fd, std::size_t max_bytes, std::vector<std::string>& lines) {
    char buf[16 * 1024];
    std::size_t total = 0;
    while (total < max_bytes) {
        ssize_t n = read(fd, buf, std::min(sizeof(buf), max_bytes - total));
        if (n > 0) {
            total += static_cast<std::size_t>(n);
            const char* at = buf;
            const char* const end = buf + n;
            while (at < end) {
                const char* nl = static_cast<const char*>(std::memchr(at, '\n', end - at));
                const char* stop = nl ? nl : end;
                if (stop > at) {
                    pending_ = true;
                    // Lines past the cap are only counted: their text is never kept.
                    if (kept_ < max_lines_ && partial_.size() < MAX) {
                        partial_.append(at, std::min<std::size_t>(stop - at, MAX - partial_.size()));
                    }
                }
                if (!nl) break;
                end_line(lines);
                at = nl + 1;
            }
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
        return false;  // end of file or error
    }
    return true;  // this wake-up's share is read; more may wait
}

void LineBuffer::drop(std::size_t lines) {
    dropped_ += lines;
}

void LineBuffer::flush(std::vector<std::string>& lines) {
    if (pending_) end_line(lines);
    if (dropped_ > 0) {
        lines.push_back("... " + std::to_string(dropped_) + " more lines dropped (max-output-lines)");
        dropped_ = 0;
    }
}

}  // namespace runscript
