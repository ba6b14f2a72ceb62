#!/bin/bash
# A kea-hook-runscript handler ("persistent": true) in bash: for every event it appends the hook
# point and the event's variables to $HANDLER_LOG (else stderr, which goes to Kea's log) and
# replies "exit 0". Builtins only: the handler has no PATH unless `environment` gives one.
# Each record is NUL-separated fields: the hook point, NAME=value..., then an empty field.
umask 077                                               # the log holds clients' data
exec 3>>"${HANDLER_LOG:-/dev/stderr}"
while IFS= read -r -d '' point; do                      # stdin closed: Kea unloads, we exit
    entry="== $point"$'\n'
    while IFS= read -r -d '' var && [ -n "$var" ]; do   # until the empty field
        entry+="$var"$'\n'                              # every byte kept: IFS= and -r
    done
    printf '%s' "$entry" >&3                            # one write: entries of workers stay whole
    echo "exit 0"                                       # the reply; "exit 3" -> exit-codes "3"
done
