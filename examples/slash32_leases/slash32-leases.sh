#!/bin/sh
# slash32-leases.sh - kea-hook-runscript script: one /32 host route per IPv4 lease.
#
# For networks where every client gets a /32 (no shared subnet on the wire, e.g. one VLAN or
# one PPP-like link per customer): the server routes each leased address to the interface the
# request came in on (or to the relay that forwarded it), and removes the route when the lease
# is released, declined or expires. Clients learn their routes from option 121 (see README).
#
# Hook points: lease4_select (only when the lease is really allocated, i.e. a REQUEST, not a
# DISCOVER), lease4_renew, lease4_release, lease4_decline, lease4_expire; and lease4_replay
# ("replay": true): after a restart or a reboot Kea's active leases come again, and each gets
# its route back as it was made (a lease has no interface or relay: those are kept in STATE).

PATH=/usr/sbin:/usr/bin:/sbin:/bin   # the hook passes no PATH
export PATH
TABLE="${SLASH32_TABLE:-main}"       # routing table; set it with the hook's "environment"
STATE="${SLASH32_STATE:-/var/lib/kea/slash32-routes}"   # one file per routed lease

add_route() {
    if [ "$KEA_QUERY4_RELAYED" = 1 ] && [ "$KEA_QUERY4_GIADDR" != 0.0.0.0 ]; then
        to="via $KEA_QUERY4_GIADDR"
    else
        to="dev $KEA_QUERY4_INTERFACE"
    fi
    # $to is two words (an interface name holds no blank)
    ip route replace "$KEA_LEASE4_ADDRESS/32" $to table "$TABLE" proto static
    mkdir -p "$STATE" && printf '%s\n' "$to" > "$STATE/$KEA_LEASE4_ADDRESS"
}

replay_route() {
    # Routed before the restart: route it the same way again. Never routed: nothing to do.
    [ -r "$STATE/$KEA_LEASE4_ADDRESS" ] || return 0
    to=$(cat "$STATE/$KEA_LEASE4_ADDRESS")
    ip route replace "$KEA_LEASE4_ADDRESS/32" $to table "$TABLE" proto static
}

del_route() {
    # Already gone is fine (a lease can be released, then expire-reclaimed, ...).
    ip route del "$KEA_LEASE4_ADDRESS/32" table "$TABLE" 2>/dev/null || true
    rm -f "$STATE/$KEA_LEASE4_ADDRESS"
}

case "$1" in
    lease4_select)
        [ "$KEA_FAKE_ALLOCATION" = 1 ] && exit 0   # DISCOVER: nothing is allocated yet
        add_route ;;
    lease4_renew)
        add_route ;;
    lease4_replay)
        replay_route ;;
    lease4_release|lease4_decline|lease4_expire)
        del_route ;;
esac
exit 0
