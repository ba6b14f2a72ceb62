// Test and benchmark driver for hook/launcher.cc, outside Kea. Built by tests/launcher.py.
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

#include "launcher.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
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

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: see the header of launcher_driver.cc\n");
        return 2;
    }
    const std::string mode = argv[1];
    const char* script = argv[2];
    std::vector<std::string> env_storage = {"KEA_TEST=1", "KEA_BYTES=a;$(reboot)\n\xff\xfe end"};
    // DRIVER_BIG_ENV=N: one more variable of N bytes (larger than an async launch's copy area).
    if (const char* big = getenv("DRIVER_BIG_ENV")) {
        env_storage.push_back("KEA_BIG=" + std::string(static_cast<std::size_t>(atoi(big)), 'b'));
    }
    std::vector<char*> envp = make_env(env_storage);

    if (mode == "run") {
        dirty_parent();
        bool wait = atoi(argv[3]) != 0;
        int timeout = atoi(argv[4]);
        std::string arg1_storage = argc > 5 ? argv[5] : "pkt4_receive";
        char* args[] = {const_cast<char*>("script-name"), &arg1_storage[0], 0};
        Launcher launcher(wait ? 0 : 4, [](const runscript::AsyncEvent& e) {
            printf("event %d %d\n", static_cast<int>(e.kind), e.code);
        });
        double t0 = now_us();
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

    if (mode == "thief") {
        // Kea's own child handling (kea-lfc) calls waitpid(-1, WNOHANG) on SIGCHLD: it must
        // not take the script's exit status away from the hook.
        std::atomic<bool> stop(false);
        std::atomic<int> stolen(0);
        std::thread thief([&stop, &stolen]() {
            while (!stop) {
                int status;
                if (waitpid(-1, &status, WNOHANG) > 0) ++stolen;
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
        {
            Launcher launcher(max, [&nonzero](const runscript::AsyncEvent&) { ++nonzero; });
            char* args[] = {const_cast<char*>("script-name"), const_cast<char*>("lease4_select"), 0};
            for (int i = 0; i < count; ++i) {
                Outcome o = launcher.run(script, args, envp.data(), false, 10000);
                if (o.kind == Outcome::STARTED) ++started;
                else if (o.kind == Outcome::LIMIT) { ++limited; usleep(200); }
                else ++failed;
            }
            // Let the reaper catch up before counting.
            for (int i = 0; i < 500 && launcher.running_async() > 0; ++i) usleep(10 * 1000);
            printf("running_after %zu\n", launcher.running_async());
        }
        int status = 0;
        pid_t got = waitpid(foreign, &status, 0);
        printf("started %d limited %d failed %d nonzero %d zombies %d foreign %s %d\n", started,
               limited, failed, nonzero.load(), count_zombies(),
               got == foreign ? "reaped" : "lost", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return 0;
    }

    if (mode == "mappings") {
        // The launcher's memory goes with it (Kea unloads and reloads the library at every
        // reconfiguration).
        auto count = []() { return static_cast<int>(runscript::kept_mappings()); };
        char* args[] = {const_cast<char*>("script-name"), const_cast<char*>("pkt4_receive"), 0};
        int during = 0;
        {
            Launcher launcher(8, Launcher::EventSink());
            for (int i = 0; i < 5; ++i) launcher.run(script, args, envp.data(), true, 5000);
            for (int i = 0; i < 5; ++i) launcher.run(script, args, envp.data(), false, 5000);
            for (int i = 0; i < 300 && launcher.running_async() > 0; ++i) usleep(10 * 1000);
            during = count();
        }
        printf("during %d after %d\n", during, count());
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
