#!/bin/sh
# Publish job (on a tag vX.Y.Z): dist/release/<version>/ comes from the sign job.
#   ci/publish.sh v2.0.0
# Uploads it to the GitHub release of the tag when GITHUB_TOKEN and GITHUB_REPOSITORY are set
# (created as a draft, every file uploaded, then published; a published release is never
# changed), or lists what would be uploaded. The token comes from the environment only, is
# sent to the API host only, and is never printed. Python's standard library only (-S):
# nothing is installed in the job that holds the token.
set -eu
cd "$(dirname "$0")/.."
[ $# -eq 1 ] && [ -n "$1" ] || { echo "usage: ci/publish.sh <tag>" >&2; exit 2; }
tag=$1
version=${tag#v}
if [ -n "${GITHUB_TOKEN:-}" ] && [ -n "${GITHUB_REPOSITORY:-}" ]; then
    python3 -S -m kea_runscript.release.github "dist/release/$version" --tag "$tag"
else
    echo "GITHUB_TOKEN/GITHUB_REPOSITORY not set: not publishing"
    python3 -S -m kea_runscript.release.github "dist/release/$version" --tag "$tag" --dry-run
fi
