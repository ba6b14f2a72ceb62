#!/bin/sh
# GitLab's pages job: the signed apt repository as the site's apt/ (a tag's release, or the
# scheduled job's re-signed repository in dist/apt).
#   ci/pages.sh public
set -eu
cd "$(dirname "$0")/.."
mkdir -p "$1"
if [ -n "${CI_COMMIT_TAG:-}" ]; then
    cp -r "dist/release/${CI_COMMIT_TAG#v}/apt" "$1/apt"
else
    cp -r dist/apt "$1/apt"
fi
