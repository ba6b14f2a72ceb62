// Test driver for the handler pool (hook/handler.h, over the launcher), outside Kea. Built by
// tests/support/handler_driver.py; tests/unit/test_handler.py runs it.
//
//   handler_driver PROGRAM [SETTING...] -- COMMAND...
//
// SETTINGs: wait=0|1 park=0|1 workers=N queue=N timeout=MS drain=MS lines=N env=NAME=VALUE (repeatable)
// pools=N (N pools of these settings, as N persistent entries; commands but `unload` use the
// first).
// COMMANDs, run in order; each prints one line (t = ms since the pool was made):
//   call KEY POINT [VAR...]      "call KIND CODE MS PID"     one synchronous round trip (PID:
//                                 the handler that took it)
//   parallel N KEY POINT [VAR...]  N calls at once from N threads, then their lines
//   post KEY POINT [VAR...]      "post KIND CODE"            one asynchronous record
//   park KEY POINT [VAR...]      "park KIND CODE" now, then "parked N KIND CODE MS" when the
//                                 pool answers record N (the Nth `park`; setting park=1)
//   posts N KEY POINT [VAR...]   "posts queued Q dropped D ms MS"   N records, VAR "SEQ=#"
//                                 gets the record's number
//   lifecycle POINT              "lifecycle KIND CODE"
//   sleep MS                     (nothing)
//   pids                         "pids P..." (-1: no running handler)
//   wait-started W MS            "started W PID" once worker W runs a handler other than the
//                                 one the last `pids` or `wait-started` showed for it
//                                 ("started W -1" after MS)
//   tasks                        "task NAME SIGBLK" per thread
//   destroy                      "destroy MS zombies Z"      the pool's destructor
//   unload                       "unload MS zombies Z"       what the hook does at unload, to
//                                 every pool: "unload" records and the stops by one deadline
//                                 (drain), then the destructors
// A VAR is NAME=VALUE, or NAME=@FILE: the value is FILE's bytes (any, NUL included), made
// into a variable as the hook makes one (Environment::add).
// Events print as "event T KIND worker W pid P value V text TEXT" (TEXT cut at 200 bytes).
//
// Like Kea, the driver holds extra fds open without close-on-exec, ignores SIGHUP (a handler
// must get default dispositions) and keeps SIGPIPE's default (a write to a dead handler must
// not kill it).

#include "environment.h"
#include "handler.h"
#include "task_signals.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using runscript::HandlerEvent;
using runscript::HandlerPool;
using runscript::HandlerSettings;
using runscript::Outcome;

namespace {

std::mutex print_mutex;
long long t0 = 0;

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

const char* event_name(HandlerEvent::Kind k) {
    switch (k) {
    case HandlerEvent::STARTED: return "STARTED";
    case HandlerEvent::EXITED: return "EXITED";
    case HandlerEvent::RESTART: return "RESTART";
    case HandlerEvent::TIMEOUT: return "TIMEOUT";
    case HandlerEvent::BUSY: return "BUSY";
    case HandlerEvent::QUEUE_FULL: return "QUEUE_FULL";
    case HandlerEvent::OUTPUT: return "OUTPUT";
    case HandlerEvent::PROTOCOL: return "PROTOCOL";
    }
    return "?";
}

void say(const std::string& line) {
    std::lock_guard<std::mutex> lock(print_mutex);
    fwrite(line.data(), 1, line.size(), stdout);
    fputc('\n', stdout);
    fflush(stdout);
}

void on_event(const HandlerEvent& e) {
    std::string text = e.text.substr(0, 200);
    for (char& c : text) {
        if (c == '\n' || c == '\0') c = ' ';
    }
    say("event " + std::to_string(runscript::monotonic_ms() - t0) + " " + event_name(e.kind) +
        " worker " + std::to_string(e.worker) + " pid " + std::to_string(e.pid) + " value " +
        std::to_string(e.value) + " text " + text);
}

// Made as the hook makes a variable (Environment::add), so that values of any bytes take
// the hook's path into a record.
std::string var(const std::string& spec) {
    const std::size_t eq = spec.find('=');
    if (eq == std::string::npos) return spec;
    std::string value = spec.substr(eq + 1);
    if (!value.empty() && value[0] == '@') {
        std::ifstream f(value.substr(1), std::ios::binary);
        std::stringstream content;
        content << f.rdbuf();
        value = content.str();
    }
    runscript::Environment env(1);
    env.add(spec.substr(0, eq + 1).c_str(), value);
    return env.vars()[0];
}

int count_zombies() {
    int zombies = 0;
    DIR* d = opendir("/proc");
    if (!d) return -1;
    const std::string me = std::to_string(getpid());
    while (struct dirent* e = readdir(d)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        FILE* f = fopen((std::string("/proc/") + e->d_name + "/stat").c_str(), "r");
        if (!f) continue;
        char buf[512];
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        const char* close_paren = strrchr(buf, ')');
        char state;
        int ppid;
        if (close_paren && sscanf(close_paren + 2, "%c %d", &state, &ppid) == 2 &&
            state == 'Z' && std::to_string(ppid) == me) {
            ++zombies;
        }
    }
    closedir(d);
    return zombies;
}

void print_tasks() {
    for (const TaskSignals& t : task_signals()) say("task " + t.comm + " " + t.blocked);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: see the header of handler_driver.cc\n");
        return 2;
    }
    // Kea holds sockets and lease files open; none of them may reach a handler.
    for (int i = 0; i < 5; ++i) open("/dev/null", O_RDONLY);
    signal(SIGHUP, SIG_IGN);

    HandlerSettings s;
    std::size_t extra_pools = 0;
    s.path = argv[1];
    s.name = s.path.substr(s.path.find_last_of('/') + 1);
    int at = 2;
    for (; at < argc && strcmp(argv[at], "--") != 0; ++at) {
        const std::string a = argv[at];
        const std::size_t eq = a.find('=');
        const std::string key = a.substr(0, eq), value = a.substr(eq + 1);
        if (key == "wait") s.wait = value == "1";
        else if (key == "park") s.park = value == "1";
        else if (key == "workers") s.workers = std::stoul(value);
        else if (key == "queue") s.queue = std::stoul(value);
        else if (key == "timeout") s.timeout_ms = std::stoi(value);
        else if (key == "drain") s.drain_ms = std::stoi(value);
        else if (key == "lines") s.max_lines = std::stoul(value);
        else if (key == "env") s.env.push_back(value);
        else if (key == "pools") extra_pools = std::stoul(value) - 1;
        else {
            fprintf(stderr, "unknown setting %s\n", a.c_str());
            return 2;
        }
    }
    ++at;
    t0 = runscript::monotonic_ms();
    HandlerPool* pool = 0;
    std::vector<std::unique_ptr<HandlerPool> > others;
    std::vector<pid_t> shown;  // handler pids, as last shown
    try {
        pool = new HandlerPool(s, on_event);
        for (std::size_t i = 0; i < extra_pools; ++i) others.emplace_back(new HandlerPool(s, on_event));
    } catch (const std::exception& e) {
        say(std::string("error ") + e.what());
        return 1;
    }
    while (at < argc) {
        const std::string cmd = argv[at++];
        std::vector<std::string> args;
        while (at < argc && strcmp(argv[at], ";") != 0) args.push_back(argv[at++]);
        if (at < argc) ++at;  // the ";"
        if (cmd == "call" || cmd == "post") {
            const std::size_t key = std::stoul(args.at(0));
            std::vector<std::string> vars;
            for (std::size_t i = 2; i < args.size(); ++i) vars.push_back(var(args[i]));
            const long long start = runscript::monotonic_ms();
            Outcome o = cmd == "call"
                ? pool->call(key, args.at(1).c_str(), vars)
                : pool->post(key, runscript::handler_record(args.at(1).c_str(), vars));
            say(cmd + " " + kind_name(o.kind) + " " + std::to_string(o.code) + " " +
                std::to_string(runscript::monotonic_ms() - start) + " " + std::to_string(o.pid));
        } else if (cmd == "park") {
            static int parked = 0;
            const int n = ++parked;
            const std::size_t key = std::stoul(args.at(0));
            std::vector<std::string> vars;
            for (std::size_t i = 2; i < args.size(); ++i) vars.push_back(var(args[i]));
            const long long start = runscript::monotonic_ms();
            runscript::Completion done = [n, start](const Outcome& o) {
                say("parked " + std::to_string(n) + " " + kind_name(o.kind) + " " +
                    std::to_string(o.code) + " " + std::to_string(runscript::monotonic_ms() - start));
            };
            Outcome o = pool->post(key, runscript::handler_record(args.at(1).c_str(), vars), done);
            say(std::string("park ") + kind_name(o.kind) + " " + std::to_string(o.code));
        } else if (cmd == "parallel") {
            const long n = std::stol(args.at(0));
            const std::size_t key = std::stoul(args.at(1));
            std::vector<std::string> vars;
            for (std::size_t i = 3; i < args.size(); ++i) vars.push_back(var(args[i]));
            std::vector<std::thread> threads;
            std::vector<std::string> results(n);
            for (long i = 0; i < n; ++i) {
                threads.emplace_back([&, i]() {
                    const long long start = runscript::monotonic_ms();
                    Outcome o = pool->call(key, args.at(2).c_str(), vars);
                    results[i] = std::string("call ") + kind_name(o.kind) + " " +
                                 std::to_string(o.code) + " " +
                                 std::to_string(runscript::monotonic_ms() - start) + " " +
                                 std::to_string(o.pid);
                });
            }
            for (std::thread& t : threads) t.join();
            for (const std::string& r : results) say(r);
        } else if (cmd == "posts") {
            const long n = std::stol(args.at(0));
            const std::size_t key = std::stoul(args.at(1));
            long queued = 0, dropped = 0;
            const long long start = runscript::monotonic_ms();
            for (long i = 0; i < n; ++i) {
                std::vector<std::string> vars;
                for (std::size_t j = 3; j < args.size(); ++j) {
                    vars.push_back(args[j] == "SEQ=#" ? "SEQ=" + std::to_string(i) : var(args[j]));
                }
                Outcome o = pool->post(key, runscript::handler_record(args.at(2).c_str(), vars));
                if (o.kind == Outcome::STARTED) ++queued;
                else ++dropped;
            }
            say("posts queued " + std::to_string(queued) + " dropped " + std::to_string(dropped) +
                " ms " + std::to_string(runscript::monotonic_ms() - start));
        } else if (cmd == "lifecycle") {
            Outcome o = pool->lifecycle(args.at(0).c_str());
            say(std::string("lifecycle ") + kind_name(o.kind) + " " + std::to_string(o.code));
        } else if (cmd == "now") {  // CLOCK_MONOTONIC in ns, as a handler's clock reads it
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            say("now " + std::to_string(ts.tv_sec * 1000000000LL + ts.tv_nsec));
        } else if (cmd == "sleep") {
            usleep(std::stoi(args.at(0)) * 1000);
        } else if (cmd == "pids") {
            std::string line = "pids";
            shown = pool->pids();
            for (pid_t p : shown) line += " " + std::to_string(p);
            say(line);
        } else if (cmd == "wait-started") {
            const std::size_t w = std::stoul(args.at(0));
            shown.resize(pool->workers(), -1);
            const pid_t before = shown[w];
            const long long until = runscript::monotonic_ms() + std::stoi(args.at(1));
            pid_t now = -1;
            while (runscript::monotonic_ms() < until) {
                now = pool->pids().at(w);
                if (now > 0 && now != before) break;
                now = -1;
                usleep(5000);
            }
            if (now > 0) shown[w] = now;
            say("started " + std::to_string(w) + " " + std::to_string(now));
        } else if (cmd == "tasks") {
            print_tasks();
        } else if (cmd == "destroy") {
            const long long start = runscript::monotonic_ms();
            delete pool;
            pool = 0;
            const long long took = runscript::monotonic_ms() - start;
            usleep(50 * 1000);  // a SIGKILLed grandchild needs a moment to be reparented
            say("destroy " + std::to_string(took) + " zombies " + std::to_string(count_zombies()));
            break;
        } else if (cmd == "unload") {
            const long long start = runscript::monotonic_ms();
            const long long deadline = start + s.drain_ms;
            std::vector<HandlerPool*> all{pool};
            for (auto& p : others) all.push_back(p.get());
            for (HandlerPool* p : all) p->lifecycle("unload", deadline);
            for (HandlerPool* p : all) p->begin_stop(deadline);
            others.clear();
            delete pool;
            pool = 0;
            const long long took = runscript::monotonic_ms() - start;
            usleep(50 * 1000);
            say("unload " + std::to_string(took) + " zombies " + std::to_string(count_zombies()));
            break;
        } else {
            fprintf(stderr, "unknown command %s\n", cmd.c_str());
            return 2;
        }
    }
    delete pool;
    return 0;
}
