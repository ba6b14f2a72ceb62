"""Benchmarks: the launcher's per-call cost, handler round trips, DHCP capacity per hook
configuration (tables, never assertions)."""
