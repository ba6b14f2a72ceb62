// Test and benchmark driver for the launcher (hook/launcher.h), outside Kea. Built by
// kea_runscript/builder/launcher_driver.py.
//
//   launcher_driver run SCRIPT WAIT(0|1) TIMEOUT_MS [ARG1]   one run; prints the outcome
//   launcher_driver capture SCRIPT WAIT(0|1)                 run with output captured; prints
//                                                            "line <text>" per line
//   launcher_driver thief SCRIPT                             sync run while another thread
//                                                            reaps with waitpid(-1) like Kea
//   launcher_driver async-many SCRIPT COUNT MAX              COUNT async runs, then reports
//                                                            zombies and a foreign child
//   launcher_driver mappings SCRIPT                          launcher memory kept, then freed
//   launcher_driver bench SCRIPT COUNT HEAP_MB               per-call cost: launcher (sync),
//                                                            bare posix_spawn+waitpid, fork+exec;
//                                                            then the caller's time per async
//                                                            launch of each
//   launcher_driver flood SCRIPT WAIT TIMEOUT_MS QUICK       a chatty SCRIPT with capture (max 100
//                                                            lines): how long it runs, lines
//                                                            logged; async: meanwhile another
//                                                            thread launches QUICK, the longest
//                                                            launch, the peak RSS
//   launcher_driver stop DRAIN_MS SCRIPT:TIMEOUT:CAPTURE...  async runs, then the launcher stops:
//                                                            how long that took, events, what is
//                                                            left of the scripts (their pids are
//                                                            read from $DRIVER_PIDS afterwards)
//   launcher_driver park SCRIPT TIMEOUT_MS STOP_MS           async run with a Completion (a parked
//                                                            query's); the launcher stops (drain
//                                                            100 ms) STOP_MS after the launch:
//                                                            "done KIND CODE MS" per call of it
//   launcher_driver tasks                                    name and blocked signals of each
//                                                            thread, a launcher with a reaper alive
//   launcher_driver maps SCRIPT                              /proc/self/maps after one run
//   launcher_driver throw SCRIPT                             async run that throws after the spawn
//                                                            (RUNSCRIPT_FAULT_THROW_AFTER_SPAWN)
//   launcher_driver eintr SCRIPT COUNT                       COUNT sync runs under a 20 us timer
//                                                            whose handler interrupts system calls
//   launcher_driver path SCRIPT                              which way the launcher started SCRIPT,
//                                                            which prints its $PPID: the driver's
//                                                            pid (plain) or a supervisor's
//   launcher_driver paths SCRIPT...                          `path` for each SCRIPT in turn, with
//                                                            one launcher (a failed run must not
//                                                            change the next one's way)
//   launcher_driver programs SCRIPT...                       the same with start_program (how
//                                                            handlers are started), stdout read
//                                                            from a pipe
//   launcher_driver waves SCRIPT WAVES COUNT MAX             WAVES times: COUNT async runs, then
//                                                            until the reaper has given every
//                                                            slot back (at most 5 s): started,
//                                                            limited, slots still taken
//                                                            ($DRIVER_FD_LIMIT_DURING: see there)
//
// DRIVER_SINK_US=N (flood): each captured line costs the line sink N us, as Kea's logger does.
// DRIVER_CLOSE_STDIO=closed|cloexec: the driver starts with fds 0-2 closed (cloexec: then opens
// a close-on-exec fd, which lands on 0), as Kea may be started; its output goes to a copy of 1.

#include "launcher.h"
#include "task_signals.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/time.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <fstream>
#include <iterator>
#include <new>
#include <mutex>
#include <thread>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using runscript::Launcher;
using runscript::Outcome;

namespace {

const char* kind_name(Outcome::Kind k) {
    switch (k) {
    case Outcome::EXITED: return "exited";
    case Outcome::SIGNALED: return "signaled";
    case Outcome::TIMED_OUT: return "timed_out";
    case Outcome::STARTED: return "started";
    case Outcome::SPAWN_FAILED: return "spawn_failed";
    case Outcome::LIMIT: return "limit";
    case Outcome::UNKNOWN: return "unknown";
    case Outcome::HANDLER_DOWN: return "handler_down";
    case Outcome::BUSY: return "busy";
    }
    return "?";
}

// Zombie children of this process, from /proc.
int count_zombies() {
    int zombies = 0;
    DIR* d = opendir("/proc");
    if (!d) return -1;
    const std::string me = std::to_string(getpid());
    while (struct dirent* e = readdir(d)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        std::string path = std::string("/proc/") + e->d_name + "/stat";
        FILE* f = fopen(path.c_str(), "r");
        if (!f) continue;
        char buf[512];
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        const char* close_paren = strrchr(buf, ')');
        if (!close_paren) continue;
        char state;
        int ppid;
        if (sscanf(close_paren + 2, "%c %d", &state, &ppid) == 2 && state == 'Z' &&
            std::to_string(ppid) == me) {
            ++zombies;
        }
    }
    closedir(d);
    return zombies;
}

// Make the parent look like Kea: open sockets/files without CLOEXEC, ignored and blocked
// signals. The script must see none of it.
void dirty_parent() {
    for (int i = 0; i < 5; ++i) open("/dev/null", O_RDONLY);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, 0);
}

std::vector<char*> make_env(std::vector<std::string>& storage) {
    std::vector<char*> env;
    for (std::string& s : storage) env.push_back(&s[0]);
    env.push_back(0);
    return env;
}

double now_us() {
    return runscript::monotonic_ms() * 1000.0;
}

double now_precise_us() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

// A field of /proc/self/status (e.g. VmHWM, in kB).
long status_field(const char* name) {
    FILE* f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long value = -1;
    const std::size_t n = strlen(name);
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, name, n) == 0 && line[n] == ':') value = atol(line + n + 1);
    }
    fclose(f);
    return value;
}

// 'R', 'S', 'Z'... of a process, 0 when it is gone.
char process_state(pid_t pid) {
    FILE* f = fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
    if (!f) return 0;
    char buf[512];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    const char* close_paren = strrchr(buf, ')');
    return close_paren && close_paren[1] ? close_paren[2] : 0;
}

// True if `pid` is on its way out: SIGKILL pending (killed, not yet scheduled since) or in
// the kernel's exit path (PF_EXITING). A killed grandchild of the launcher (a script's own
// child, killed with the group) may still be so when the stop returns: only the script itself
// is the launcher's to reap.
bool dying(pid_t pid) {
    const std::string dir = "/proc/" + std::to_string(pid);
    FILE* f = fopen((dir + "/stat").c_str(), "r");
    if (!f) return false;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    const char* p = strrchr(buf, ')');
    unsigned long flags = 0;
    // after ')': state ppid pgrp session tty_nr tpgid flags
    if (p && sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) == 1 && (flags & 0x4)) return true;
    f = fopen((dir + "/status").c_str(), "r");
    if (!f) return false;
    char line[256];
    bool pending = false;
    while (fgets(line, sizeof(line), f)) {
        unsigned long long mask;
        if ((sscanf(line, "SigPnd: %llx", &mask) == 1 || sscanf(line, "ShdPnd: %llx", &mask) == 1) &&
            (mask & (1ULL << (SIGKILL - 1))))
            pending = true;
    }
    fclose(f);
    return pending;
}

// Stops the driver when the code under test hangs or grows without bound: reports what it
// saw, then exits at once (the launcher's destructor would wait as well).
void watchdog(int seconds, long max_rss_kb, std::function<void(const char*)> report) {
    std::thread([seconds, max_rss_kb, report]() {
        const long long end = runscript::monotonic_ms() + seconds * 1000LL;
        while (runscript::monotonic_ms() < end) {
            if (max_rss_kb > 0 && status_field("VmRSS") > max_rss_kb) {
                report("rss");
                fflush(stdout);
                _exit(0);
            }
            usleep(20 * 1000);
        }
        report("time");
        fflush(stdout);
        _exit(0);
    }).detach();
}

void on_timer(int) {}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: see the header of launcher_driver.cc\n");
        return 2;
    }
    const char* close_stdio = getenv("DRIVER_CLOSE_STDIO");
    if (close_stdio) {
        int keep = fcntl(1, F_DUPFD_CLOEXEC, 20);
        close(0);
        close(1);
        close(2);
        stdout = fdopen(keep, "w");
        if (strcmp(close_stdio, "cloexec") == 0) open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    const std::string mode = argv[1];
    if (mode == "tasks") {
        // Kea's threads block SIGCHLD, SIGINT, SIGHUP and SIGTERM; this one blocks nothing.
        Launcher launcher(1, Launcher::EventSink());
        usleep(100 * 1000);
        for (const TaskSignals& t : task_signals()) {
            printf("task %s %s\n", t.comm.c_str(), t.blocked.c_str());
        }
        return 0;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: see the header of launcher_driver.cc\n");
        return 2;
    }
    const char* script = argv[2];
    std::vector<std::string> env_storage = {"KEA_TEST=1", "KEA_BYTES=a;$(reboot)\n\xff\xfe end"};
    // DRIVER_BIG_ENV=N: one more variable of N bytes (larger than an async launch's copy area).
    if (const char* big = getenv("DRIVER_BIG_ENV")) {
        env_storage.push_back("KEA_BIG=" + std::string(static_cast<std::size_t>(atoi(big)), 'b'));
    }
    std::vector<char*> envp = make_env(env_storage);

    if (mode == "run") {
        if (!close_stdio) dirty_parent();
        bool wait = atoi(argv[3]) != 0;
        int timeout = atoi(argv[4]);
        std::string arg1_storage = argc > 5 ? argv[5] : "pkt4_receive";
        char* args[] = {const_cast<char*>("script-name"), &arg1_storage[0], 0};
        double t0 = now_us();
        // Events: kind, code, milliseconds since the launch.
        Launcher launcher(wait ? 0 : 4, [&t0](const runscript::AsyncEvent& e) {
            printf("event %d %d %.0f\n", static_cast<int>(e.kind), e.code, (now_us() - t0) / 1000.0);
        });
        t0 = now_us();
        Outcome o = launcher.run(script, args, envp.data(), wait, timeout);
        printf("%s %d %.0f\n", kind_name(o.kind), o.code, (now_us() - t0) / 1000.0);
        fflush(stdout);
        // The caller's strings may go as soon as run() returns, as Kea's do.
        for (std::string& s : env_storage) std::fill(s.begin(), s.end(), 'X');
        std::fill(arg1_storage.begin(), arg1_storage.end(), 'X');
        // Give the reaper the time to report (events) before the launcher stops.
        for (int i = 0; i < 300 && launcher.running_async() > 0; ++i) usleep(10 * 1000);
        return 0;
    }

    if (mode == "park") {
        char* args[] = {const_cast<char*>("script-name"), const_cast<char*>("leases4_committed"), 0};
        const int timeout = atoi(argv[3]);
        const int stop_ms = atoi(argv[4]);
        const double t0 = now_us();
        {
            runscript::Limits limits;
            limits.max_async = 4;
            limits.drain_ms = 100;
            Launcher launcher(limits, Launcher::EventSink());
            Outcome o = launcher.run(script, args, envp.data(), false, timeout, false,
                                     [t0](const Outcome& end) {
                                         printf("done %s %d %.0f\n", kind_name(end.kind), end.code,
                                                (now_us() - t0) / 1000.0);
                                         fflush(stdout);
                                     });
            printf("%s %d\n", kind_name(o.kind), o.code);
            fflush(stdout);
            usleep(stop_ms * 1000);
        }
        printf("stopped %.0f\n", (now_us() - t0) / 1000.0);
        return 0;
    }

    if (mode == "flood") {
        const bool wait = atoi(argv[3]) != 0;
        const int timeout = atoi(argv[4]);
        const char* quick = argc > 5 ? argv[5] : script;
        const double sink_us = getenv("DRIVER_SINK_US") ? atof(getenv("DRIVER_SINK_US")) : 0;
        char* args[] = {const_cast<char*>("script-name"), const_cast<char*>("pkt4_receive"), 0};
        std::mutex m;
        long lines = 0;
        std::string last;
        std::atomic<double> timed_out_ms(-1);
        std::atomic<double> max_launch_us(0), launch_started_us(0);
        std::atomic<int> launches(0);
        const double t0 = now_precise_us();
        auto report = [&](const char* why) {
            std::lock_guard<std::mutex> lock(m);
            double longest = max_launch_us;
            if (launch_started_us > 0) longest = std::max(longest, now_precise_us() - launch_started_us);
            // CPU time of this process's threads (the caller's and the reaper's), not the
            // scripts': what reading the flood costs Kea.
            struct rusage ru;
            getrusage(RUSAGE_SELF, &ru);
            const double cpu_ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                                  (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
            printf("why %s elapsed_ms %.0f timed_out_ms %.0f max_launch_ms %.1f launches %d "
                   "lines %ld vmhwm_kb %ld cpu_ms %.0f\nlast %s\n", why,
                   (now_precise_us() - t0) / 1000, timed_out_ms.load(), longest / 1000,
                   launches.load(), lines, status_field("VmHWM"), cpu_ms, last.c_str());
        };
        // The launcher this run had could not stop (or grew): report, stop the driver.
        watchdog(20, 400 * 1024, report);
        runscript::Limits limits;
        limits.max_async = wait ? 0 : 8;
        Launcher launcher(limits,
                          [&](const runscript::AsyncEvent& e) {
                              if (e.kind == runscript::AsyncEvent::TIMED_OUT) {
                                  timed_out_ms = (now_precise_us() - t0) / 1000;
                              }
                          },
                          [&](const std::string&, pid_t, const std::string& line) {
                              const double start = now_precise_us();
                              while (now_precise_us() - start < sink_us) {
                              }
                              std::lock_guard<std::mutex> lock(m);
                              ++lines;
                              last = line;
                          });
        Outcome o = launcher.run(script, args, envp.data(), wait, timeout, true);
        if (wait) {
            report(kind_name(o.kind));
            return 0;
        }
        // Kea's packet threads meanwhile: launches must not wait for the flood's reading.
        std::atomic<bool> stop(false);
        std::thread other([&]() {
            while (!stop) {
                launch_started_us = now_precise_us();
                launcher.run(quick, args, envp.data(), false, 5000);
                const double took = now_precise_us() - launch_started_us;
                launch_started_us = 0;
                if (took > max_launch_us) max_launch_us = took;
                ++launches;
                usleep(2000);
            }
        });
        for (int i = 0; i < 1000 && (timed_out_ms < 0 || launcher.running_async() > 0); ++i) {
            usleep(10 * 1000);
            // Keep the other thread launching for at least 2 s, with the flood on.
            if (timed_out_ms >= 0 && now_precise_us() - t0 > 2e6) stop = true;
        }
        stop = true;
        other.join();
        report(kind_name(o.kind));
        return 0;
    }

    if (mode == "stop") {
        const int drain_ms = atoi(argv[2]);
        std::mutex m;
        std::vector<std::string> events;
        const double t0 = now_precise_us();
        double destroy_started = 0;
        auto report = [&](const char* why) {
            printf("why %s destroy_ms %.0f\n", why, (now_precise_us() - destroy_started) / 1000);
        };
        char* args[] = {const_cast<char*>("script-name"), const_cast<char*>("pkt4_receive"), 0};
        {
            runscript::Limits limits;
            limits.max_async = static_cast<std::size_t>(argc);
            limits.drain_ms = drain_ms;
            Launcher launcher(limits,
                              [&](const runscript::AsyncEvent& e) {
                                  std::lock_guard<std::mutex> lock(m);
                                  events.push_back(std::to_string(static_cast<int>(e.kind)) + ":" +
                                                   std::to_string(e.code) + ":" +
                                                   std::to_string(static_cast<int>(
                                                       (now_precise_us() - t0) / 1000)));
                              },
                              [](const std::string&, pid_t, const std::string&) {});
            for (int i = 3; i < argc; ++i) {
                std::string spec = argv[i];
                const std::size_t a = spec.find(':'), b = spec.rfind(':');
                const std::string path = spec.substr(0, a);
                Outcome o = launcher.run(path.c_str(), args, envp.data(), false,
                                         atoi(spec.substr(a + 1, b - a - 1).c_str()),
                                         spec.substr(b + 1) == "1");
                printf("launch %s\n", kind_name(o.kind));
            }
            // Let every script start and write its pids.
            usleep(300 * 1000);
            destroy_started = now_precise_us();
            if (const char* spent = getenv("DRIVER_UNLOAD_SPENT_MS")) {
                // As Runner::unload: one deadline, drain_ms from the unload's start, of which
                // the unload scripts and records spent this much before the launcher's turn.
                const long long deadline = runscript::monotonic_ms() + drain_ms;
                usleep(atoi(spent) * 1000);
                launcher.begin_stop(deadline);
            }
            watchdog(drain_ms / 1000 + 15, 0, report);
        }
        printf("destroy_ms %.0f zombies %d\n", (now_precise_us() - destroy_started) / 1000,
               count_zombies());
        for (const std::string& e : events) printf("event %s\n", e.c_str());
        if (const char* pids = getenv("DRIVER_PIDS")) {
            if (FILE* f = fopen(pids, "r")) {
                int pid;
                while (fscanf(f, "%d", &pid) == 1) {
                    const char state = process_state(pid);
                    printf("pid %d %c%s\n", pid, state ? state : '-',
                           state && state != 'Z' && dying(pid) ? " dying" : "");
                }
                fclose(f);
            }
        }
        return 0;
    }

    if (mode == "maps") {
        Launcher launcher(0, Launcher::EventSink());
        char* args[] = {const_cast<char*>("script-name"), const_cast<char*>("pkt4_receive"), 0};
        Outcome o = launcher.run(script, args, envp.data(), true, 5000);
        printf("%s %d\n", kind_name(o.kind), o.code);
        if (FILE* f = fopen("/proc/self/maps", "r")) {
            char line[512];
            while (fgets(line, sizeof(line), f)) printf("map %s", line);
            fclose(f);
        }
        return 0;
    }

    if (mode == "throw") {
        char* args[] = {const_cast<char*>("script-name"), const_cast<char*>("pkt4_receive"), 0};
        int thrown = 0;
        std::size_t running = 0;
        {
            Launcher launcher(4, Launcher::EventSink());
            for (int i = 0; i < 3; ++i) {
                try {
                    launcher.run(script, args, envp.data(), false, 5000);
                } catch (const std::bad_alloc&) {
                    ++thrown;
                }
            }
            for (int i = 0; i < 300 && launcher.running_async() > 0; ++i) usleep(10 * 1000);
            running = launcher.running_async();
            usleep(100 * 1000);
        }
        printf("thrown %d running %zu zombies %d\n", thrown, running, count_zombies());
        return 0;
    }

    if (mode == "eintr") {
        // Kea handles signals (SIGCHLD for kea-lfc, SIGHUP...) on any thread that has them
        // unblocked: a handler without SA_RESTART makes waits return EINTR.
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_timer;
        sigaction(SIGALRM, &sa, 0);
        struct itimerval every = {{0, 20}, {0, 20}};
        setitimer(ITIMER_REAL, &every, 0);
        const int count = atoi(argv[3]);
        char* args[] = {const_cast<char*>("script-name"), const_cast<char*>("pkt4_receive"), 0};
        Launcher launcher(0, Launcher::EventSink());
        int failed = 0, other = 0;
        for (int i = 0; i < count; ++i) {
            Outcome o = launcher.run(script, args, envp.data(), true, 5000);
            if (o.kind == Outcome::SPAWN_FAILED) ++failed;
            else ++other;
        }
        struct itimerval off = {{0, 0}, {0, 0}};
        setitimer(ITIMER_REAL, &off, 0);
        printf("failed %d other %d zombies %d\n", failed, other, count_zombies());
        return 0;
    }

    if (mode == "path") {
        // A plain child's parent is this process; a supervised script's is its supervisor.
        char* args[] = {const_cast<char*>("script-name"), const_cast<char*>("pkt4_receive"), 0};
        std::vector<std::string> got;
        Launcher launcher(0, Launcher::EventSink(),
                          [&got](const std::string&, pid_t, const std::string& line) {
                              got.push_back(line);
                          });
        Outcome o = launcher.run(script, args, envp.data(), true, 5000, true);
        const char* path = got.empty() ? "unknown"
                           : atoi(got[0].c_str()) == getpid() ? "plain" : "supervised";
        printf("%s %d path %s\n", kind_name(o.kind), o.code, path);
        return 0;
    }

    if (mode == "paths") {
        char* args[] = {const_cast<char*>("script-name"), const_cast<char*>("pkt4_receive"), 0};
        std::vector<std::string> got;
        Launcher launcher(0, Launcher::EventSink(),
                          [&got](const std::string&, pid_t, const std::string& line) {
                              got.push_back(line);
                          });
        for (int i = 2; i < argc; ++i) {
            got.clear();
            Outcome o = launcher.run(argv[i], args, envp.data(), true, 5000, true);
            const char* path = got.empty() ? "unknown"
                               : atoi(got[0].c_str()) == getpid() ? "plain" : "supervised";
            printf("%s %d path %s\n", kind_name(o.kind), o.code, path);
        }
        return 0;
    }

    if (mode == "programs") {
        char* args[] = {const_cast<char*>("program-name"), 0};
        for (int i = 2; i < argc; ++i) {
            int out[2];
            if (pipe2(out, O_CLOEXEC) != 0) return 1;
            const int w = fcntl(out[1], F_DUPFD_CLOEXEC, 3);  // given fds are >= 3
            close(out[1]);
            runscript::Process p = runscript::start_program(argv[i], args, envp.data(),
                                                            runscript::Stdio{-1, w, -1});
            close(w);
            std::string got;
            char buf[256];
            ssize_t n;
            while ((n = read(out[0], buf, sizeof(buf))) > 0) got.append(buf, n);
            close(out[0]);
            const char* path = got.empty() ? "unknown"
                               : atoi(got.c_str()) == getpid() ? "plain" : "supervised";
            if (p.pid < 0) {
                printf("spawn_failed %d path %s\n", -p.pid, path);
                continue;
            }
            int status = 0;
            const int r = runscript::reap_program(p, &status, true);
            printf("%s %d path %s\n", r == 1 && WIFEXITED(status) ? "exited" : "unknown",
                   r == 1 && WIFEXITED(status) ? WEXITSTATUS(status) : 0, path);
        }
        return 0;
    }

    if (mode == "waves") {
        const int waves = atoi(argv[3]);
        const int count = atoi(argv[4]);
        const std::size_t max = static_cast<std::size_t>(atoi(argv[5]));
        char* args[] = {const_cast<char*>("script-name"), const_cast<char*>("pkt4_receive"), 0};
        Launcher launcher(max, Launcher::EventSink());
        for (int w = 0; w < waves; ++w) {
            int started = 0, limited = 0, failed = 0;
            for (int i = 0; i < count; ++i) {
                Outcome o = launcher.run(script, args, envp.data(), false, 10000);
                if (o.kind == Outcome::STARTED) ++started;
                else if (o.kind == Outcome::LIMIT) ++limited;
                else ++failed;
            }
            // DRIVER_FD_LIMIT_DURING=N: the soft fd limit is N (below the fds open) while the
            // wave's scripts run, as a limit lowered by someone else would be.
            struct rlimit saved;
            getrlimit(RLIMIT_NOFILE, &saved);
            if (const char* during = getenv("DRIVER_FD_LIMIT_DURING")) {
                struct rlimit lowered = saved;
                lowered.rlim_cur = static_cast<rlim_t>(atoi(during));
                setrlimit(RLIMIT_NOFILE, &lowered);
            }
            for (int i = 0; i < 500 && launcher.running_async() > 0; ++i) usleep(10 * 1000);
            setrlimit(RLIMIT_NOFILE, &saved);
            printf("wave %d started %d limited %d failed %d running_after %zu\n", w, started,
                   limited, failed, launcher.running_async());
            fflush(stdout);
        }
        return 0;
    }

    if (mode == "thief") {
        // Kea's own child handling (kea-lfc) calls waitpid(-1, WNOHANG) on SIGCHLD: it must
        // not take the script's exit status away from the hook.
        std::atomic<bool> stop(false);
        std::atomic<int> stolen(0);
        std::thread thief([&stop, &stolen]() {
            while (!stop) {
                int status;
                // Only the scripts' statuses: a plain path's probe child may be taken too.
                if (waitpid(-1, &status, WNOHANG) > 0 && WIFEXITED(status) &&
                    WEXITSTATUS(status) == 3) {
                    ++stolen;
                }
                usleep(100);
            }
        });
        char* args[] = {const_cast<char*>("script-name"), const_cast<char*>("pkt4_receive"), 0};
        Launcher launcher(0, Launcher::EventSink());
        int exited3 = 0;
        for (int i = 0; i < 20; ++i) {
            Outcome o = launcher.run(script, args, envp.data(), true, 5000);
            if (o.kind == Outcome::EXITED && o.code == 3) ++exited3;
        }
        stop = true;
        thief.join();
        printf("exited3 %d stolen %d\n", exited3, stolen.load());
        return 0;
    }

    if (mode == "capture") {
        bool wait = atoi(argv[3]) != 0;
        char* args[] = {const_cast<char*>("script-name"), const_cast<char*>("pkt4_receive"), 0};
        std::mutex m;
        std::vector<std::string> got;
        {
            Launcher launcher(wait ? 0 : 4, Launcher::EventSink(),
                              [&m, &got](const std::string&, pid_t, const std::string& line) {
                                  std::lock_guard<std::mutex> lock(m);
                                  got.push_back(line);
                              });
            Outcome o = launcher.run(script, args, envp.data(), wait, 5000, true);
            printf("%s %d\n", kind_name(o.kind), o.code);
            for (int i = 0; i < 300 && launcher.running_async() > 0; ++i) usleep(10 * 1000);
        }
        for (const std::string& line : got) printf("line %s\n", line.c_str());
        return 0;
    }

    if (mode == "async-many") {
        dirty_parent();
        int count = atoi(argv[3]);
        int max = atoi(argv[4]);
        std::atomic<int> nonzero(0);
        // A child that is not the launcher's (like kea-lfc): it must stay ours to reap.
        pid_t foreign = fork();
        if (foreign == 0) {
            usleep(300 * 1000);
            _exit(42);
        }
        int started = 0, limited = 0, failed = 0;
        // The reaper's reports of refused runs: how many lines, the runs they count, what the
        // last one names.
        std::atomic<int> limit_lines(0), limit_sum(0);
        std::string limit_names;
        const double t0 = now_precise_us();
        double launching_ms = 0;
        {
            Launcher launcher(max, [&](const runscript::AsyncEvent& e) {
                if (e.kind != runscript::AsyncEvent::LIMITED) {
                    ++nonzero;
                    return;
                }
                ++limit_lines;
                limit_sum += e.code;
                limit_names = e.script + "@" + e.point + "/" + std::to_string(e.pid);
            });
            char* args[] = {const_cast<char*>("script-name"), const_cast<char*>("lease4_select"), 0};
            for (int i = 0; i < count; ++i) {
                Outcome o = launcher.run(script, args, envp.data(), false, 10000);
                if (o.kind == Outcome::STARTED) ++started;
                else if (o.kind == Outcome::LIMIT) { ++limited; usleep(200); }
                else ++failed;
            }
            launching_ms = (now_precise_us() - t0) / 1000;
            // Let the reaper catch up before counting.
            for (int i = 0; i < 500 && launcher.running_async() > 0; ++i) usleep(10 * 1000);
            printf("running_after %zu\n", launcher.running_async());
        }
        printf("limit_lines %d limit_sum %d limit_last %s launching_ms %.0f\n", limit_lines.load(),
               limit_sum.load(), limit_names.empty() ? "-" : limit_names.c_str(), launching_ms);
        int status = 0;
        pid_t got = waitpid(foreign, &status, 0);
        printf("started %d limited %d failed %d nonzero %d zombies %d foreign %s %d\n", started,
               limited, failed, nonzero.load(), count_zombies(),
               got == foreign ? "reaped" : "lost", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return 0;
    }

    if (mode == "mappings") {
        // The launcher's memory goes with it (Kea unloads and reloads the library at every
        // reconfiguration). What is mapped is read from /proc/self/maps, not only from the
        // launcher's own count of what it keeps: a mapping it lost track of counts too.
        auto count = []() { return static_cast<int>(runscript::kept_mappings()); };
        auto maps = []() {
            std::ifstream in("/proc/self/maps");
            return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        };
        char* args[] = {const_cast<char*>("script-name"), const_cast<char*>("pkt4_receive"), 0};
        int during = 0;
        std::string maps_during;
        {
            Launcher launcher(8, Launcher::EventSink());
            for (int i = 0; i < 5; ++i) launcher.run(script, args, envp.data(), true, 5000);
            for (int i = 0; i < 5; ++i) launcher.run(script, args, envp.data(), false, 5000);
            for (int i = 0; i < 300 && launcher.running_async() > 0; ++i) usleep(10 * 1000);
            during = count();
            maps_during = maps();
        }
        printf("during %d after %d\n@@maps-during\n%s@@maps-after\n%s", during, count(),
               maps_during.c_str(), maps().c_str());
        return 0;
    }

    if (mode == "bench") {
        int count = atoi(argv[3]);
        size_t heap_mb = static_cast<size_t>(atoi(argv[4]));
        // A large, touched heap: what makes fork() expensive in a real Kea with many leases.
        std::vector<char> heap(heap_mb * 1024 * 1024);
        for (size_t i = 0; i < heap.size(); i += 4096) heap[i] = static_cast<char>(i);
        char* args[] = {const_cast<char*>("script-name"), const_cast<char*>("pkt4_receive"), 0};

        // Interleaved rounds, median per method: the machine is shared and noisy, so the
        // methods must see the same conditions.
        Launcher launcher(0, Launcher::EventSink());
        const int rounds = 10;
        const int per_round = count / rounds > 0 ? count / rounds : 1;
        std::vector<double> hook_r, bare_r, fork_r;
        for (int r = 0; r < rounds; ++r) {
            double t0 = now_precise_us();
            for (int i = 0; i < per_round; ++i) launcher.run(script, args, envp.data(), true, 10000);
            hook_r.push_back((now_precise_us() - t0) / per_round);

            t0 = now_precise_us();
            for (int i = 0; i < per_round; ++i) {
                pid_t pid;
                if (posix_spawn(&pid, script, 0, 0, args, envp.data()) == 0) waitpid(pid, 0, 0);
            }
            bare_r.push_back((now_precise_us() - t0) / per_round);

            // fork() copies the page tables of the whole heap: a tenth of the calls suffice.
            const int fork_calls = per_round / 10 > 0 ? per_round / 10 : 1;
            t0 = now_precise_us();
            for (int i = 0; i < fork_calls; ++i) {
                pid_t pid = fork();
                if (pid == 0) {
                    execve(script, args, envp.data());
                    _exit(127);
                }
                waitpid(pid, 0, 0);
            }
            fork_r.push_back((now_precise_us() - t0) / fork_calls);
        }
        // Asynchronous launches: only the time the calling thread (Kea's) spends per launch
        // counts; each script is waited for, untimed, before the next launch.
        Launcher async_launcher(64, Launcher::EventSink());
        std::vector<double> ahook_r, abare_r, afork_r;
        for (int r = 0; r < rounds; ++r) {
            double spent = 0;
            for (int i = 0; i < per_round; ++i) {
                double t0 = now_precise_us();
                async_launcher.run(script, args, envp.data(), false, 10000);
                spent += now_precise_us() - t0;
                while (async_launcher.running_async() > 0) usleep(50);
            }
            ahook_r.push_back(spent / per_round);

            spent = 0;
            for (int i = 0; i < per_round; ++i) {
                pid_t pid;
                double t0 = now_precise_us();
                int rc = posix_spawn(&pid, script, 0, 0, args, envp.data());
                spent += now_precise_us() - t0;
                if (rc == 0) waitpid(pid, 0, 0);
            }
            abare_r.push_back(spent / per_round);

            const int fork_calls = per_round / 10 > 0 ? per_round / 10 : 1;
            spent = 0;
            for (int i = 0; i < fork_calls; ++i) {
                double t0 = now_precise_us();
                pid_t pid = fork();
                if (pid == 0) {
                    execve(script, args, envp.data());
                    _exit(127);
                }
                spent += now_precise_us() - t0;
                waitpid(pid, 0, 0);
            }
            afork_r.push_back(spent / fork_calls);
        }
        auto median = [](std::vector<double> v) {
            std::sort(v.begin(), v.end());
            return v[v.size() / 2];
        };
        printf("launcher_us %.1f posix_spawn_us %.1f fork_us %.1f async_launcher_us %.1f "
               "async_posix_spawn_us %.1f async_fork_us %.1f heap_mb %zu\n",
               median(hook_r), median(bare_r), median(fork_r), median(ahook_r),
               median(abare_r), median(afork_r), heap_mb);
        return 0;
    }
    fprintf(stderr, "unknown mode %s\n", mode.c_str());
    return 2;
}
