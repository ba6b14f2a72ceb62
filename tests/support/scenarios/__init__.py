"""Run-time scenarios: what the hook guarantees inside the real Kea of a cell.

Each scenario starts the cell's real kea-dhcp4 (with the built hook) on the test network of
:mod:`kea_runscript.verify.testnet` (:class:`~kea_runscript.verify.testnet.TestNet`: namespaces ``srv`` /
``cli`` joined by a veth pair, the scapy client, perfdhcp) with a configuration of its own, drives traffic, and returns
an :class:`Outcome`: the facts it measured (``facts``) and what contradicts the guarantee
(``problems``, empty when the scenario holds). tests/integration/test_runtime.py asserts on
both.

Kea runs as the cell's packaged unit runs it (:meth:`testnet.TestNet.start_kea`: the unit's user
and ambient capabilities through setpriv); the scripts live in :data:`C_RT` (root's, 0755)
and write to :data:`C_RT_OUT` (Kea's user's).

0. :func:`kea_identity`: kea-dhcp4 has the unit's user and ambient capabilities (read back
   from /proc/<pid>/status), and a script it starts has the same.
1. :func:`fd_list`: a script sees file descriptors 0, 1 and 2 only, although Kea has sockets
   and the lease file open (sync, async and capture-output scripts).
2. :func:`env_list`: the script's environment is exactly the catalogue's variables for the
   hook point plus ``environment``; nothing of Kea's own environment (``LEAK_TEST=1``).
3. :func:`hung_script`: a synchronous ``sleep 300`` with ``timeout: 1`` is killed with its
   process group (RUNSCRIPT_TIMEOUT), Kea still answers, no ``sleep 300`` remains.
4. :func:`async_zombies`: >= 10,000 ``wait: false`` calls under perfdhcp with multi-threading
   (4 threads): no zombie child of Kea afterwards.
5. :func:`lfc_with_async`: Kea's lease file cleanup (``lfc-interval: 1``) runs and completes
   again and again while asynchronous scripts run: no kea-lfc zombie, no LFC error, the
   cleanup's files end in the finished state.
6. :func:`bad_configs`: each bad parameter set makes kea-dhcp4 exit non-zero quickly, with
   RUNSCRIPT_LOAD_ERROR naming the parameter (kea-dhcp4 -t does not load hooks, so the server
   is started for real, without interfaces).
7. :func:`exit_code_drop`: ``exit-codes: {"3": "drop"}`` at pkt4_receive: the blocked MAC gets
   no OFFER, another MAC does.
8. :func:`hostname_bytes`: option 12 with ``$(touch /tmp/pwned)``, ``;``, a newline and
   non-UTF-8 bytes reaches the script byte for byte (KEA_QUERY4_OPTION12, KEA_LEASE4_HOSTNAME)
   and nothing runs it.
9. :func:`perfdhcp_no_lost_lease`: perfdhcp DORA for 60 s with the hook synchronous at the 1.4
   hook points and multi-threading: every ACK perfdhcp counted is a lease in the lease file.
11. :func:`on_failure`: a script at pkt4_receive fails in each way the real Kea can show
    (removed or made non-executable after load, killed by a signal, timed out, async limit):
    with ``on-failure: drop`` the client gets no OFFER, with the default a lease.
12. :func:`earlier_drop`: two copies of the library; the first drops a MAC: the second's
    script never sees that MAC's packets.
13. :func:`parameter_defaults`: top-level settings are defaults of ``scripts`` beside a top-level
    ``script``; ``timeout: 0.0004`` is 1 ms; a mixed v4/v6 hook point list loads in kea-dhcp4.
14. :func:`trust_checks`: ``check-permissions: false`` loads refused scripts; kea-dhcp4 as _kea
    refuses a script it cannot execute or reach, naming the user and the permission.
15. :func:`output_flood`: a script that writes without pause (``exec yes``; or one endless
    line) with capture-output and ``timeout: 1`` at pkt4_receive, sync or async, MT on or
    off: each run is killed within timeout + DEADLINE_ALLOWANCE_S (measured by a pidfd watcher),
    4 scapy DORAs and a low-rate perfdhcp run are all answered, no script is left, Kea logs
    at most max-output-lines + 1 lines per run (one says how many were dropped) and its peak
    RSS stays within FLOOD_RSS_GROWTH_KB of its RSS at start.
16. :func:`teardown`: 8 asynchronous ``sleep 300``, one with ``timeout: 0`` and a chatty
    ``exec yes`` running: SIGHUP reloads (RUNSCRIPT_LOADED) and SIGTERM stops kea-dhcp4 within
    3 s with the default drain, a DORA is answered right after the reload, and nothing Kea
    started is left.
17. :func:`debug_log_private`: examples/debug.sh writes a 0600 log of Kea's user in Kea's
    log directory, nothing in /tmp, and neither follows a link nor appends to a file another
    user planted at its DEBUG_LOG path.
18. :func:`handler_faults`: persistent handlers (issue 14) in one kea-dhcp4 run: a handler's
    records equal an exec script's environment byte for byte for hostile client bytes, its
    ``exit 3`` drops, a hung synchronous handler fails each event within timeout + DEADLINE_ALLOWANCE_S and is
    replaced, an asynchronous one that never reads has its drops counted, crashed handlers are
    restarted with backoff (sync events in the gap fail at once), reload and stop under
    perfdhcp leave no handler and no zombie.
19. :func:`skip_and_async_failures`: ``skip`` by exit code and by on-failure at lease4_select
    (the client gets its OFFER, then a NAK), an unmapped exit code continues, a run's captured
    output logged as ``max-output-lines: 3`` lines + one "dropped" line, and the asynchronous
    failure messages (RUNSCRIPT_ASYNC_FAILED, _TIMEOUT, _SPAWN_FAILED) in one kea-dhcp4 run;
    an asynchronous `load` script that fails does not keep the library from loading.
20. :func:`failing_load_script`: a synchronous `load` script that exits 1 refuses the library
    (RUNSCRIPT_LIFECYCLE_FAILED), kea-dhcp4 exits non-zero.
21. :func:`busy_handler`: one slow synchronous handler worker behind Kea's 4 threads under
    perfdhcp: events that waited the whole timeout for it fail as BUSY, the handler is never
    killed for other events' waits, Kea answers.
22. :func:`log_bytes`: a client's option 60 with control characters, a backslash, non-UTF-8
    bytes, a newline and a NUL, echoed by exec scripts (capture-output, sync and async) and by
    a handler's stderr: Kea's log gets the escaped text, no raw control byte.
23. :func:`isc_documented_example` and 24. :func:`isc_sync_flag`: ISC's run_script
    configurations (ISC's dialect): ISC's documented example from the cell's kea-doc runs with
    only the library path changed; ``sync: true`` runs asynchronously and is logged;
    ``wait: true`` beside ``name`` is synchronous, its exit code drops.
25. :func:`park`: ``park: true`` at leases4_committed, exec and handler, multi-threading on
    and off: the ACK comes after the run's end, Kea answers others meanwhile, exit code 3 and
    timeouts and a killed handler drop the query, a reload with queries parked leaves none
    behind.
26. :func:`replay`: ``replay: true`` (exec, synchronous and asynchronous handlers): after a
    restart one ``lease4_replay`` / ``lease6_replay`` event per active lease with the
    catalogue's variables (hostile hostname bytes kept), none for a released lease, none again
    at a reload that keeps the lease database, none after a stop mid-replay.
27. :func:`config_tests`: ``kea-dhcp4 -t`` (every Kea) and ``-T`` (Kea >= 2.3.6) check the
    hook's parameters (a status warning shown), run no ``load``/``unload`` script and start no
    handler, which serving the same file does; as the service's user they refuse a script
    only root can run, as root they accept it.
28. :func:`lease_times`: leases in Kea's lease file released by their clients reach
    lease4_release with Kea's times: a last transmission just before 2038 and one past it (Kea
    with 64-bit time_t), the infinite lifetime 4294967295.

The package by concern: :mod:`.runtime` (Runtime, Outcome, the container), :mod:`.processes`
(0-4), :mod:`.load` (5, 9, 10), :mod:`.config` (6, 13, 14), :mod:`.failures` (7, 8, 11, 12, 22),
:mod:`.output` (15), :mod:`.teardown` (16), :mod:`.debug_log` (17), :mod:`.handler` (18, 21),
:mod:`.actions` (19, 20), :mod:`.isc` (23, 24), :mod:`.park` (25),
:mod:`.replay` (26), :mod:`.config_test` (27), :mod:`.times` (28).
Everything is importable from the package itself (``scenarios.fd_list``), as the tests use it.

Addresses: 192.0.2.0/24 on the veth pair, perfdhcp as a relay from 198.18.0.1 into
198.18.0.0/15 (a pool large enough for tens of thousands of clients).
"""

from __future__ import annotations

from typing import Callable, Sequence

# Every public name of the package, as the tests and callers use it (scenarios.fd_list).
from .bounds import (DEADLINE_ALLOWANCE_S, DEFAULT_DRAIN_S, EMULATION_SLOWDOWN,
                     REFUSAL_BOUND_EMULATED_S, REFUSAL_BOUND_S, TEARDOWN_BOUND_S)
from .runtime import (BIG_SUBNET, C_RT, C_RT_OUT, LEASE_DIR, LONG, MAC_ALLOWED, MAC_BLOCKED, MT4,
                      Outcome, PERF_RELAY, Perf, Runtime, answered, parse_perfdhcp, runtime, timed)
from .processes import (EXTRA_ENV, LEAK, async_zombies, env_list, expected_env, fd_list,
                        hung_script, kea_identity, parse_ls_fd)
from .load import (EXIT_STATUS_LOST, LFC_FAIL, RELOAD_GROWTH_KB, lease_file_stats, lfc_with_async,
                   perfdhcp_no_lost_lease, reconfigure)
from .config import (BadConfig, OTHER_UID, TRUST_GROUP_WRITABLE, TRUST_IN_GROUP_DIR,
                     TRUST_IN_OTHER_DIR, TRUST_IN_TMP, TRUST_LINK_TO_TMP, TRUST_OTHERS_WRITABLE,
                     TRUST_OTHER_OWNER, bad_configs, bad_configs_list, hardening_bad_configs,
                     parameter_defaults, trust_checks)
from .failures import (FAILURE_KINDS, HOSTNAME_BYTES, LOG_EXPECTED, PWNED, earlier_drop,
                       exit_code_drop, log_bytes, hostname_bytes, on_failure)
from .output import (DROPPED_RE, FLOODS, FLOOD_RSS_GROWTH_KB, Lifetimes, MAX_OUTPUT_LINES,
                     output_flood)
from .teardown import TEARDOWN_CAP_S, teardown
from .debug_log import DEBUG_LOG_DEFAULT, DEBUG_SH, PLANTER_UID, debug_log_private
from .handler import OPTION60_BYTES, PHASES, busy_handler, handler_faults, phase_problems
from .actions import (ASYNC_MESSAGES, LINES_WRITTEN, SMALL_MAX_OUTPUT_LINES, failing_load_script,
                      output_runs, skip_and_async_failures)
from .isc import (DOC_SCRIPT, documented_example, fill_placeholders, isc_documented_example,
                  isc_sync_flag)
from .park import PHASES as PARK_PHASES, park, park_phase_problems
from .replay import PHASES as REPLAY_PHASES, replay, replay_phase_problems
from .config_test import check_flags, config_tests
from .times import lease_times


SCENARIOS: Sequence[Callable[[Runtime], Outcome]] = (
    kea_identity, fd_list, env_list, hung_script, async_zombies, lfc_with_async, bad_configs, exit_code_drop,
    hostname_bytes, perfdhcp_no_lost_lease, reconfigure, on_failure, earlier_drop,
    parameter_defaults, trust_checks, output_flood, teardown, debug_log_private, handler_faults,
    skip_and_async_failures, failing_load_script, busy_handler, log_bytes, isc_documented_example,
    isc_sync_flag, park,
)
