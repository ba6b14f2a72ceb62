#!/bin/sh
# pd-routes.sh - kea-hook-runscript script: route each delegated IPv6 prefix to its client.
#
# When Kea delegates a prefix (IA_PD), the server (acting as the router) needs a route for it
# towards the requesting router's link-local address; the route goes when the prefix is
# released or expires. Relayed requests are routed via the relay (the query's remote address).
#
# Hook points: lease6_select (only real allocations: REQUEST, not SOLICIT), lease6_renew,
# lease6_rebind, lease6_release, lease6_expire; and lease6_replay ("replay": true): after a
# restart or a reboot Kea's active leases come again, and each prefix gets its route back (a
# lease has no link-local address or interface: those are kept in STATE). Non-PD leases
# (addresses) are ignored.

PATH=/usr/sbin:/usr/bin:/sbin:/bin   # the hook passes no PATH
export PATH
STATE="${PD_ROUTES_STATE:-/var/lib/kea/pd-routes}"   # one file per routed prefix

# KEA_LEASE6_DELEGATED_PREFIX is set only for PD leases.
[ -n "$KEA_LEASE6_DELEGATED_PREFIX" ] || exit 0
kept="$STATE/$(printf '%s' "$KEA_LEASE6_DELEGATED_PREFIX" | tr / _)"

case "$1" in
    lease6_select|lease6_renew|lease6_rebind)
        [ "$KEA_FAKE_ALLOCATION" = 1 ] && exit 0     # SOLICIT: nothing delegated yet
        to="via $KEA_QUERY6_REMOTE_ADDRESS dev $KEA_QUERY6_INTERFACE"
        ip -6 route replace "$KEA_LEASE6_DELEGATED_PREFIX" $to proto static
        mkdir -p "$STATE" && printf '%s\n' "$to" > "$kept" ;;
    lease6_replay)
        # Routed before the restart: route it the same way again.
        [ -r "$kept" ] || exit 0
        ip -6 route replace "$KEA_LEASE6_DELEGATED_PREFIX" $(cat "$kept") proto static ;;
    lease6_release|lease6_expire)
        ip -6 route del "$KEA_LEASE6_DELEGATED_PREFIX" 2>/dev/null || true
        rm -f "$kept" ;;
esac
exit 0
