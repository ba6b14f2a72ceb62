#!/bin/sh
# debug.sh - a kea-hook-runscript script that logs every call: the hook point (argv[1]) and
# every variable the hook passed, to /var/log/kea/kea-hook-runscript-debug.log (or to the
# file named by DEBUG_LOG, which you can set with the hook's "environment" parameter).
#
#   "hooks-libraries": [{
#       "library": "/usr/lib/x86_64-linux-gnu/kea/hooks/kea-hook-runscript.so",
#       "parameters": {"script": "/usr/local/share/kea-hook-runscript/debug.sh"}
#   }]
#
# The log holds every client's data. So it lives in Kea's own log directory, not in /tmp,
# it is created with mode 0600, and the script writes only to a regular file that the user
# it runs as (Kea's) owns: a file or symbolic link planted at that path by another user is
# refused, never followed. Point DEBUG_LOG only into a directory no other user can write to.
#
# The hook passes only KEA_* variables (plus "environment"): no PATH, hence the full paths.
# Values may span several lines (KEA_*_DEBUG), so variables are NUL-separated until sorted.
# Calls may run concurrently (wait: false, multi-threaded Kea): one lock per entry.

umask 077
log="${DEBUG_LOG:-/var/log/kea/kea-hook-runscript-debug.log}"
# Create it if it is missing. With noclobber the shell creates the file exclusively (O_EXCL),
# which fails on an existing file and on a symbolic link, dangling or not.
( set -C; : > "$log" ) 2>/dev/null
if [ -L "$log" ] || [ ! -f "$log" ] || [ ! -O "$log" ]; then
    echo "debug.sh: not writing to $log: it is a symbolic link, not a regular file, or owned by another user" >&2
    exit 1
fi
exec 9>>"$log" || exit 1
/usr/bin/flock 9
{
    printf '=== %s %s (pid %s)\n' "$(/bin/date '+%Y-%m-%dT%H:%M:%S%z')" "$1" "$$"
    /usr/bin/env -0 | /usr/bin/sort -z | /usr/bin/tr '\0' '\n'
    printf '\n'
} >&9
exit 0
