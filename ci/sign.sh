#!/bin/sh
# Sign job: the only job that sees the signing key (KEA_RUNSCRIPT_SIGNING_KEY, a secret of the
# `release` environment alone). It runs gpg and our signing module with Python's standard
# library only (python3 -S: no site-packages), installs nothing and builds nothing.
#   ci/sign.sh dist/release/<version>    sign a release made by ci/release.sh, then check it
#   ci/sign.sh --apt-only dist/apt       re-stamp (Valid-Until) and re-sign an apt repository
set -eu
cd "$(dirname "$0")/.."
command -v gpg >/dev/null || { echo "ci/sign.sh: gpg is missing from this image" >&2; exit 3; }
python3 -S -m kea_runscript.release.signing "$@"
if [ "$1" != --apt-only ]; then
    sh "$1/install.sh" --list --from "$1" --version "$(basename "$1")"  # the signature, by the pinned key
    (cd "$1" && sha256sum --quiet -c SHA256SUMS)
fi
