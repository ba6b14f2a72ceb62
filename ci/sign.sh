#!/bin/sh
# Sign job: the only job that sees the signing key (KEA_RUNSCRIPT_SIGNING_KEY, a secret of the
# `release` environment alone). It runs gpg and our signing module with Python's standard
# library only (python3 -S: no site-packages), installs nothing and builds nothing.
#   ci/sign.sh dist/release/<version>    sign a release made by ci/release.sh, then check it
#   ci/sign.sh --apt-only dist/apt       re-stamp (Valid-Until) and re-sign an apt repository
# (--test-release before the directory: sign a test release with the key it ships.)
set -eu
cd "$(dirname "$0")/.."
command -v gpg >/dev/null || { echo "ci/sign.sh: gpg is missing from this image" >&2; exit 3; }
python3 -S -m kea_runscript.release.signing "$@"
for dir; do :; done   # the last argument
case " $* " in
    *" --apt-only "*) ;;
    *)  # what users check: the signature by the pinned key, for this version; every checksum
        version=$(python3 -S -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' "$dir/manifest.json")
        sh "$dir/install.sh" --list --from "$dir" --version "$version"
        (cd "$dir" && sha256sum --quiet -c SHA256SUMS) ;;
esac
