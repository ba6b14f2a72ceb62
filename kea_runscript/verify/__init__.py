"""Verification of built cells: the test network, smoke tests and examples with real Kea and
clients (tools/ runs inside the containers), checks, fuzzing, the test tiers."""
