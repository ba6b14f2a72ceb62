#!/bin/bash
# Release job (on a tag vX.Y.Z): dist/<id>/ of every cell job is already in dist/.
#   ci/release.sh v2.0.0
# Makes dist/release/<version>/ with `nox -s release`, checks SHA256SUMS, then uploads it to
# the GitHub release of the tag when GITHUB_TOKEN (and GITHUB_REPOSITORY) are set, or lists
# what would be uploaded. The token is read from the environment only, never printed.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 1 ] && [ -n "$1" ] || { echo "usage: ci/release.sh <tag>" >&2; exit 2; }
tag=$1
version=${tag#v}
ci/setup.sh
missing=()
command -v dpkg-deb >/dev/null || missing+=(dpkg-dev)
command -v gpg-agent >/dev/null || missing+=(gnupg)
command -v apt-ftparchive >/dev/null || missing+=(apt-utils)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"
fi
# The signing key: KEA_RUNSCRIPT_SIGNING_KEY (a CI secret, see docs/release.md); the toolkit
# reads it, drops it from its environment and refuses any key but keys/kea-hook-runscript.asc.
nox -s release -- --version "$version"
(cd "dist/release/$version" && sha256sum -c SHA256SUMS)
sh "dist/release/$version/install.sh" --list   # checks SHA256SUMS.asc against the pinned key
if [ -n "${GITHUB_TOKEN:-}" ] && [ -n "${GITHUB_REPOSITORY:-}" ]; then
    python3 -m kea_runscript.cli release publish --version "$version" --tag "$tag"
else
    echo "GITHUB_TOKEN/GITHUB_REPOSITORY not set: not publishing"
    python3 -m kea_runscript.cli release publish --version "$version" --tag "$tag" --dry-run
fi
