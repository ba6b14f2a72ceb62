#!/bin/bash
# Release job (on a tag vX.Y.Z), after `ci/setup.sh --release`; dist/<id>/ of every cell job
# is already in dist/. No secret here: the release is made unsigned, and ci/sign.sh signs it
# in a job of its own.
#   ci/release.sh v2.0.0 [APT_BASE]
# APT_BASE: the previous release's apt repository (ci/apt-base.sh), whose packages the new
# repository keeps. The release's SHA256SUMS is copied to dist/release/SHA256SUMS, where the
# provenance step reads what to attest.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] && [ -n "$1" ] || { echo "usage: ci/release.sh <tag> [apt base]" >&2; exit 2; }
tag=$1
version=${tag#v}
base=()
if [ -n "${2:-}" ] && [ -d "$2" ]; then
    base=(--apt-base "$2")
fi
nox -s release -- --version "$version" "${base[@]}"
(cd "dist/release/$version" && sha256sum --quiet -c SHA256SUMS)
cp "dist/release/$version/SHA256SUMS" dist/release/SHA256SUMS
