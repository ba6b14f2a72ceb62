// Whether a configured script may be run (script_file.h).

#include "script_file.h"
#include "parameters.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace runscript {

namespace {

// "name (uid N)", or "uid N" for a uid without a passwd entry.
std::string user_text(uid_t uid) {
    struct passwd pw;
    struct passwd* found = 0;
    char buf[2048];
    if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found) {
        return std::string(found->pw_name) + " (uid " + std::to_string(uid) + ")";
    }
    return "uid " + std::to_string(uid);
}

std::string mode_text(mode_t mode) {
    char text[16];
    snprintf(text, sizeof(text), "%04o", static_cast<unsigned>(mode & 07777));
    return text;
}

// The directories a path goes through, "/" first: "/a/b/c" -> "/", "/a", "/a/b".
std::vector<std::string> parent_directories(const std::string& path) {
    std::vector<std::string> dirs(1, "/");
    for (std::size_t slash = path.find('/', 1); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
        if (slash > 0 && path[slash - 1] != '/') dirs.push_back(path.substr(0, slash));
    }
    return dirs;
}

// Why a user other than root or Kea's could change this file or directory, or "".
std::string untrusted(const struct stat& st, uid_t kea_uid) {
    if (st.st_uid != 0 && st.st_uid != kea_uid) {
        return "is owned by " + user_text(st.st_uid) + ", neither root nor the user Kea runs as";
    }
    if (st.st_mode & S_IWOTH) return "is writable by others (mode " + mode_text(st.st_mode) + ")";
    if (st.st_mode & S_IWGRP) return "is writable by its group (mode " + mode_text(st.st_mode) + ")";
    return "";
}

// The change that makes `path` trusted, as the operator would type it (issue 26: hosts first
// installed with Debian 7-9 have /usr/local/* root:staff 2775).
std::string remedy(const struct stat& st, const std::string& path, uid_t kea_uid) {
    if (S_ISDIR(st.st_mode) && (st.st_mode & S_IWOTH) && (st.st_mode & S_ISVTX)) {
        return "move the script out of '" + path + "' (anyone may create files there)";
    }
    std::string run;
    if (st.st_uid != 0 && st.st_uid != kea_uid) run = "chown root '" + path + "'";
    const char* drop = (st.st_mode & S_IWGRP) && (st.st_mode & S_IWOTH) ? "go-w"
                     : (st.st_mode & S_IWGRP) ? "g-w" : (st.st_mode & S_IWOTH) ? "o-w" : 0;
    if (drop) run += (run.empty() ? "" : " and ") + std::string("chmod ") + drop + " '" + path + "'";
    return "run " + run;
}

// sshd's StrictModes for the script: the file and every directory above it, on the path as
// written (the directories holding symlinks) and on the resolved path, may be changed only by
// root or the user Kea runs as. Otherwise that other user can make Kea run anything.
void check_trusted(const std::string& path, const std::string& name) {
    const uid_t kea_uid = geteuid();
    const std::string why_fix = " (anyone who can change it can make Kea run any program; or set "
                                "'check-permissions': false)";
    struct stat st;
    if (stat(path.c_str(), &st) == 0) {
        std::string why = untrusted(st, kea_uid);
        if (!why.empty()) {
            refuse("parameter '" + name + "': script '" + path + "' " + why + ": " +
                   remedy(st, path, kea_uid) + why_fix);
        }
    }
    std::vector<std::string> dirs = parent_directories(path);
    char* resolved = realpath(path.c_str(), 0);
    if (resolved) {
        std::vector<std::string> more = parent_directories(resolved);
        dirs.insert(dirs.end(), more.begin(), more.end());
        free(resolved);
    }
    std::vector<std::pair<dev_t, ino_t> > seen;
    for (const std::string& dir : dirs) {
        if (stat(dir.c_str(), &st) != 0) continue;
        std::pair<dev_t, ino_t> id(st.st_dev, st.st_ino);
        if (std::find(seen.begin(), seen.end(), id) != seen.end()) continue;
        seen.push_back(id);
        std::string why = untrusted(st, kea_uid);
        if (!why.empty()) {
            refuse("parameter '" + name + "': script '" + path + "' lies under '" + dir +
                   "', which " + why + ": " + remedy(st, dir, kea_uid) + why_fix);
        }
    }
}

// The user Kea runs as must be able to execute the script (with its effective ids, as the
// kernel will check at exec): say which permission is missing.
void check_runnable(const std::string& path, const std::string& name) {
    const std::string who = "the user Kea runs as, " + user_text(geteuid());
    for (const std::string& dir : parent_directories(path)) {
        if (faccessat(AT_FDCWD, dir.c_str(), X_OK, AT_EACCESS) != 0 && errno == EACCES) {
            refuse("parameter '" + name + "': script '" + path + "' is not executable by " +
                              who + ": no search (x) permission on directory '" + dir + "'");
        }
    }
    struct stat st;
    if (stat(path.c_str(), &st) != 0) {
        refuse("parameter '" + name + "': script '" + path + "' does not exist");
    }
    if (!S_ISREG(st.st_mode)) {
        refuse("parameter '" + name + "': '" + path + "' is not a regular file");
    }
    if (faccessat(AT_FDCWD, path.c_str(), X_OK, AT_EACCESS) != 0) {
        refuse("parameter '" + name + "': script '" + path + "' is not executable by " +
                          who + ": no execute (x) permission on the file for it (mode " +
                          mode_text(st.st_mode) + ", owner " + user_text(st.st_uid) + ")");
    }
}

}  // namespace

void check_executable(const std::string& path, const std::string& name, bool check_permissions) {
    if (path.empty() || path[0] != '/') {
        refuse("parameter '" + name + "' must be an absolute path, got '" + path + "'");
    }
    check_runnable(path, name);
    if (check_permissions) check_trusted(path, name);
}

}  // namespace runscript
