// The test drivers' view of their own threads: each one's name and blocked-signal mask, read
// from /proc/self/task (the tests check that Kea's signal handlers never run in our threads).

#ifndef RUNSCRIPT_TEST_TASK_SIGNALS_H
#define RUNSCRIPT_TEST_TASK_SIGNALS_H

#include <dirent.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

struct TaskSignals {
    std::string comm;     // the thread's name
    std::string blocked;  // SigBlk, 16 hex digits; "?" when unreadable
};

inline std::vector<TaskSignals> task_signals() {
    std::vector<TaskSignals> tasks;
    DIR* d = opendir("/proc/self/task");
    while (struct dirent* e = d ? readdir(d) : 0) {
        if (e->d_name[0] == '.') continue;
        const std::string dir = std::string("/proc/self/task/") + e->d_name;
        char comm[64] = "";
        if (FILE* f = fopen((dir + "/comm").c_str(), "r")) {
            if (!fgets(comm, sizeof(comm), f)) comm[0] = 0;
            fclose(f);
        }
        comm[strcspn(comm, "\n")] = 0;
        std::string blocked = "?";
        if (FILE* f = fopen((dir + "/status").c_str(), "r")) {
            char line[256];
            while (fgets(line, sizeof(line), f)) {
                if (strncmp(line, "SigBlk:", 7) == 0) blocked = std::string(line + 8, 16);
            }
            fclose(f);
        }
        tasks.push_back(TaskSignals{comm, blocked});
    }
    if (d) closedir(d);
    return tasks;
}

#endif
