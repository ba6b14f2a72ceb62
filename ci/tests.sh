#!/bin/bash
# The tests a hosted pipeline runs beside the cells: the unit tier and the sanitizer tier
# (the toolkit, the launcher and the handlers on the host), and the run-time tests on one
# native cell (what the hook promises inside a real Kea: timeouts, floods, zombies, handler
# faults, reload and stop). The cells' jobs build and smoke-test each cell.
#   ci/tests.sh <cell id>
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 1 ] || { echo "usage: ci/tests.sh <native cell id>" >&2; exit 2; }
cell=$1
ci/setup.sh --docker
# The tools the unit tests build and run with (compilers, qemu-user, Kea's headers, ...):
# bootstrap.sh installs what is missing and leaves a Docker engine that answers as it is.
sudo=()
[ "$(id -u)" = 0 ] || sudo=(sudo --preserve-env=PATH,DOCKER_HOST,DOCKER_TLS_VERIFY,DOCKER_CERT_PATH)
"${sudo[@]}" ./bootstrap.sh true
status=0
nox -s tests sanitize || status=$?
python3 -m kea_runscript.cli tier runtime -- -m integration tests/integration/test_runtime.py -k "$cell" || status=$?
python3 -m kea_runscript.cli tiers || true
exit $status
