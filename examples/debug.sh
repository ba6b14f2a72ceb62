#!/bin/sh
# debug.sh - a kea-hook-runscript script that logs every call: the hook point (argv[1]) and
# every variable the hook passed, to /tmp/kea-hook-runscript-debug.log (or to the file named
# by DEBUG_LOG, which you can set with the hook's "environment" parameter).
#
#   "hooks-libraries": [{
#       "library": "/usr/lib/x86_64-linux-gnu/kea/hooks/kea-hook-runscript.so",
#       "parameters": {"script": "/usr/local/share/kea-hook-runscript/debug.sh"}
#   }]
#
# The hook passes only KEA_* variables (plus "environment"): no PATH, hence the full paths.
# Values may span several lines (KEA_*_DEBUG), so variables are NUL-separated until sorted.
# Calls may run concurrently (wait: false, multi-threaded Kea): one lock per entry.

log="${DEBUG_LOG:-/tmp/kea-hook-runscript-debug.log}"
exec 9>>"$log" || exit 1
/usr/bin/flock 9
{
    printf '=== %s %s (pid %s)\n' "$(/bin/date '+%Y-%m-%dT%H:%M:%S%z')" "$1" "$$"
    /usr/bin/env -0 | /usr/bin/sort -z | /usr/bin/tr '\0' '\n'
    printf '\n'
} >&9
exit 0
