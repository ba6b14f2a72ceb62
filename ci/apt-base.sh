#!/bin/sh
# The apt repository of the project's latest GitHub release (pre-releases included), verified
# against the committed release key, unpacked into OUT: the pool the next release keeps, or
# what the scheduled job re-signs. No release yet: OUT is not made (the repository starts empty).
#   ci/apt-base.sh OWNER/NAME OUT
# GITHUB_API_URL / GITHUB_SERVER_URL (set on GitHub runners) point elsewhere, e.g. to a mirror;
# KEA_RUNSCRIPT_RELEASE_KEY: another public key file (a test release's).
set -eu
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: ci/apt-base.sh OWNER/NAME OUT" >&2; exit 2; }
repo=$1 out=$2
if [ -z "$repo" ]; then
    echo "ci/apt-base.sh: no GitHub repository (GITHUB_REPOSITORY) set: the apt repository starts empty"
    exit 0
fi
api=${GITHUB_API_URL:-https://api.github.com}
server=${GITHUB_SERVER_URL:-https://github.com}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
curl -fsSL --proto '=https,file' -o "$tmp/releases.json" "$api/repos/$repo/releases"
tag=$(python3 -S -c 'import json, sys
r = [x for x in json.load(open(sys.argv[1])) if not x.get("draft")]
print(r[0]["tag_name"] if r else "")' "$tmp/releases.json")
if [ -z "$tag" ]; then
    echo "ci/apt-base.sh: $repo has no release yet: the apt repository starts empty"
    exit 0
fi
version=${tag#v}
archive=kea-hook-runscript-$version-apt.tar.gz
for f in SHA256SUMS SHA256SUMS.asc "$archive"; do
    curl -fsSL --proto '=https,file' -o "$tmp/$f" "$server/$repo/releases/download/$tag/$f"
done
gpg --dearmor <"${KEA_RUNSCRIPT_RELEASE_KEY:-keys/kea-hook-runscript.asc}" >"$tmp/key.gpg"
mkdir -m 700 "$tmp/gnupg"
gpgv --homedir "$tmp/gnupg" --keyring "$tmp/key.gpg" "$tmp/SHA256SUMS.asc" "$tmp/SHA256SUMS" \
    || { echo "ci/apt-base.sh: $tag's SHA256SUMS is not signed by the release key" >&2; exit 4; }
(cd "$tmp" && grep "  $archive\$" SHA256SUMS | sha256sum --quiet -c -) \
    || { echo "ci/apt-base.sh: $archive does not match $tag's SHA256SUMS" >&2; exit 4; }
mkdir -p "$out"
tar -xzf "$tmp/$archive" -C "$out" --strip-components=1
echo "ci/apt-base.sh: $out = the apt repository of $tag, verified"
