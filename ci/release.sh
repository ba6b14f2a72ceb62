#!/bin/bash
# Release job (on a tag vX.Y.Z), after `ci/setup.sh --release`; dist/<id>/ of every cell job
# is already in dist/.
#   ci/release.sh v2.0.0
# Makes the signed dist/release/<version>/ with `nox -s release` (signing key:
# KEA_RUNSCRIPT_SIGNING_KEY, a CI secret, see docs/release.md; the toolkit drops it from its
# environment before running anything) and checks it as users will: SHA256SUMS.asc against
# the key pinned by install.sh, then every checksum. Publishing is ci/publish.sh, another job.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 1 ] && [ -n "$1" ] || { echo "usage: ci/release.sh <tag>" >&2; exit 2; }
tag=$1
version=${tag#v}
nox -s release -- --version "$version"
sh "dist/release/$version/install.sh" --list   # the signature, by the pinned key
(cd "dist/release/$version" && sha256sum -c SHA256SUMS)
