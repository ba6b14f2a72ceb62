// Splitting a program's output into lines, bounded (launcher.h: captured output of scripts;
// handler.h: a handler's stdout and stderr).

#ifndef RUNSCRIPT_LINE_BUFFER_H
#define RUNSCRIPT_LINE_BUFFER_H

#include <cstddef>
#include <string>
#include <vector>

namespace runscript {

// Splits what a program writes into lines (a script's: for one run). Bounded: a line longer
// than MAX is cut; after max_lines lines, further lines are only counted, and flush() adds one
// line saying how many were dropped.
class LineBuffer {
public:
    static const std::size_t MAX = 4096;
    explicit LineBuffer(std::size_t max_lines = static_cast<std::size_t>(-1));
    // Reads at most max_bytes of what is available on the non-blocking fd; false at end of
    // file or error.
    bool read_from(int fd, std::size_t max_bytes, std::vector<std::string>& lines);
    // Counts `lines` more as dropped (the caller could not log them in time).
    void drop(std::size_t lines);
    // Past max_lines: what is read is only counted, so it need not be read at full speed.
    bool discarding() const { return kept_ >= max_lines_; }
    // At the end of the run: the last, unterminated line, then the dropped-lines line.
    void flush(std::vector<std::string>& lines);

private:
    void end_line(std::vector<std::string>& lines);

    std::string partial_;
    bool pending_ = false;  // bytes of an unterminated line were read
    std::size_t max_lines_;
    std::size_t kept_ = 0;
    std::size_t dropped_ = 0;
};

}  // namespace runscript

#endif  // RUNSCRIPT_LINE_BUFFER_H
