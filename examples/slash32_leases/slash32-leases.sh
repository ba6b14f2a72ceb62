#!/bin/sh
# slash32-leases.sh - kea-hook-runscript script: one /32 host route per IPv4 lease.
#
# For networks where every client gets a /32 (no shared subnet on the wire, e.g. one VLAN or
# one PPP-like link per customer): the server routes each leased address to the interface the
# request came in on (or to the relay that forwarded it), and removes the route when the lease
# is released, declined or expires. Clients learn their routes from option 121 (see README).
#
# Hook points: lease4_select (only when the lease is really allocated, i.e. a REQUEST, not a
# DISCOVER), lease4_renew, lease4_release, lease4_decline, lease4_expire.

PATH=/usr/sbin:/usr/bin:/sbin:/bin   # the hook passes no PATH
export PATH
TABLE="${SLASH32_TABLE:-main}"       # routing table; set it with the hook's "environment"

add_route() {
    if [ "$KEA_QUERY4_RELAYED" = 1 ] && [ "$KEA_QUERY4_GIADDR" != 0.0.0.0 ]; then
        ip route replace "$KEA_LEASE4_ADDRESS/32" via "$KEA_QUERY4_GIADDR" table "$TABLE" proto static
    else
        ip route replace "$KEA_LEASE4_ADDRESS/32" dev "$KEA_QUERY4_INTERFACE" table "$TABLE" proto static
    fi
}

del_route() {
    # Already gone is fine (a lease can be released, then expire-reclaimed, ...).
    ip route del "$KEA_LEASE4_ADDRESS/32" table "$TABLE" 2>/dev/null || true
}

case "$1" in
    lease4_select)
        [ "$KEA_FAKE_ALLOCATION" = 1 ] && exit 0   # DISCOVER: nothing is allocated yet
        add_route ;;
    lease4_renew)
        add_route ;;
    lease4_release|lease4_decline|lease4_expire)
        del_route ;;
esac
exit 0
