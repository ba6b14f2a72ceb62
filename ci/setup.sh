#!/bin/bash
# CI set-up shared by every job: the toolkit and its tools in the job's Python, and
#   --docker   a Docker engine (the runner's, a dind service via DOCKER_HOST, or dockerd
#              started by ./bootstrap.sh when running as root on a bare Debian machine);
#   --release  the Debian tools a release needs: dpkg-deb, gpg (+ agent), apt-ftparchive.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet -e '.[test,release]' nox
if [ "${1:-}" = --docker ]; then
    if ! python3 -c 'import docker; docker.from_env().ping()' 2>/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            ./bootstrap.sh
        fi
        for _ in $(seq 60); do
            python3 -c 'import docker; docker.from_env().ping()' 2>/dev/null && break
            sleep 2
        done
        python3 -c 'import docker; docker.from_env().ping()' \
            || { echo "ci/setup.sh: no Docker engine reachable (DOCKER_HOST=${DOCKER_HOST:-unset})" >&2; exit 3; }
    fi
fi
if [ "${1:-}" = --release ]; then
    missing=()
    command -v dpkg-deb >/dev/null || missing+=(dpkg-dev)
    command -v gpg-agent >/dev/null || missing+=(gnupg)
    command -v apt-ftparchive >/dev/null || missing+=(apt-utils)
    if [ ${#missing[@]} -gt 0 ]; then
        sudo=()
        [ "$(id -u)" = 0 ] || sudo=(sudo)
        "${sudo[@]}" apt-get update
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
    fi
fi
