// One worker of a HandlerPool (handler.h) and the pool's constants: internal to the pool's
// files (handler_pool.cc, handler_call.cc, handler_queue.cc, handler_monitor.cc). Who touches
// what:
//   - Worker::io (a timed mutex) guards the record socket, the reply pipe, the reply reader and
//     `outstanding`: held by one call() for its round trip, or by the pool's thread for one
//     non-blocking pass (asynchronous writing and reading), or at a restart;
//   - Worker::proc_mutex guards the Process: a call() kills it on timeout, the pool's thread
//     reaps it; a Process is never used after reap_program released it;
//   - Worker::queue_mutex guards the asynchronous ring only (O(1) work under it);
//   - everything else of a Worker belongs to the pool's thread.
// Lock order: io, then proc_mutex.

#ifndef RUNSCRIPT_HANDLER_WORKER_H
#define RUNSCRIPT_HANDLER_WORKER_H

#include "handler.h"
#include "line_buffer.h"

#include <deque>
#include <utility>

#pragma GCC visibility push(hidden)

namespace runscript {

const long long OUTPUT_WINDOW_MS = 1000;        // max_lines per worker per window
const long long DROP_REPORT_MS = 1000;          // QUEUE_FULL at most this often per worker
const long long EXIT_CHECK_MS = 100;            // exit checks without a pidfd
const long long BUSY_RETRY_MS = 2;              // a worker held by a call(): look again
const int FIRST_BACKOFF_MS = 100;
const int MAX_BACKOFF_MS = 10000;
const long long STABLE_RUN_MS = 10000;          // a run this long resets the backoff
const std::size_t SEND_BATCH = 64;              // records per asynchronous write
const std::size_t IOV_CHUNK = 128;              // iovecs per synchronous write
const std::size_t REPLY_CHUNK = 4096;           // reply-pipe bytes a call() reads at a time
const int REPLY_SPIN_US = 50;                   // a call() reads its reply before it sleeps
const long QUEUE_LINGER_US = 500;               // see HandlerPool::lingering_

struct HandlerPool::Worker {
    std::size_t index = 0;

    DeadlineMutex io;
    int in_fd = -1;                  // our end of the record socket (non-blocking)
    int out_fd = -1;                 // read end of the reply pipe (non-blocking)
    LineBuffer out_lines;            // the reply pipe's lines (longer ones cut)
    std::vector<std::string> read;   // lines just read from it (capacity reserved)
    std::size_t outstanding = 0;     // records written whose reply is not read yet
    std::vector<std::string> sending;  // records taken from the queue, being written
    std::size_t sending_at = 0;      // first record of `sending` not fully written
    std::size_t sent_bytes = 0;      // bytes of that record written
    bool in_closed = false;          // at stop: stdin closed

    std::mutex proc_mutex;
    Process proc = Process{-1, -1, 0};
    std::atomic<pid_t> pid{-1};
    std::atomic<bool> alive{false};  // a handler runs and its pipes may be used

    // park: the Completion of each record, beside it in `ring` and `sending`; `awaiting` holds
    // those written and not answered yet, oldest first (pool's thread).
    struct Awaiting {
        Completion done;
        long long by;        // monotonic ms deadline of its reply (0: none)
        std::string record;  // as written: its first field names the hook point
    };
    std::vector<Completion> ring_done;
    std::vector<Completion> sending_done;
    std::deque<Awaiting> awaiting;

    std::mutex queue_mutex;
    std::vector<std::string> ring;   // capacity `queue`
    std::size_t head = 0;
    std::size_t count = 0;
    std::atomic<unsigned long long> unreported_drops{0};

    std::mutex log_mutex;
    long long window_start = 0;
    std::size_t window_lines = 0;
    std::size_t window_dropped = 0;
    std::atomic<bool> dropping{false};  // window_dropped > 0 (read without the lock)

    // The pool's thread only.
    int err_fd = -1;
    LineBuffer err_lines;
    std::vector<std::string> err_read;
    long long started_at = 0;
    long long restart_at = 0;
    int next_delay_ms = 0;
    long long next_exit_check = 0;
    long long last_progress = 0;     // asynchronous: last byte accepted, or pending since
    bool pending = false;
    long long last_drop_report = 0;
    long long busy_until = 0;
    bool err_ready = false;          // poll() said so in this wake-up
    bool out_ready = false;
    long long next_read_at = 0;      // while dropping output lines: when to read again
};

// How a handler ended, for EXITED's text (result as reap_program's).
std::string how_ended(int result, int status);

// Milliseconds left until `deadline` (0: none, -1 returned); 0 once it has passed.
long long remaining(long long deadline);

}  // namespace runscript

#pragma GCC visibility pop

#endif  // RUNSCRIPT_HANDLER_WORKER_H
