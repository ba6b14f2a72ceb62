#!/bin/sh
# pd-routes.sh - kea-hook-runscript script: route each delegated IPv6 prefix to its client.
#
# When Kea delegates a prefix (IA_PD), the server (acting as the router) needs a route for it
# towards the requesting router's link-local address; the route goes when the prefix is
# released or expires. Relayed requests are routed via the relay (the query's remote address).
#
# Hook points: lease6_select (only real allocations: REQUEST, not SOLICIT), lease6_renew,
# lease6_rebind, lease6_release, lease6_expire. Non-PD leases (addresses) are ignored.

PATH=/usr/sbin:/usr/bin:/sbin:/bin   # the hook passes no PATH
export PATH

# KEA_LEASE6_DELEGATED_PREFIX is set only for PD leases.
[ -n "$KEA_LEASE6_DELEGATED_PREFIX" ] || exit 0

case "$1" in
    lease6_select|lease6_renew|lease6_rebind)
        [ "$KEA_FAKE_ALLOCATION" = 1 ] && exit 0     # SOLICIT: nothing delegated yet
        ip -6 route replace "$KEA_LEASE6_DELEGATED_PREFIX" \
            via "$KEA_QUERY6_REMOTE_ADDRESS" dev "$KEA_QUERY6_INTERFACE" proto static ;;
    lease6_release|lease6_expire)
        ip -6 route del "$KEA_LEASE6_DELEGATED_PREFIX" 2>/dev/null || true ;;
esac
exit 0
