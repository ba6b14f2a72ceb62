#!/bin/sh
# install.sh: install the prebuilt kea-hook-runscript built for exactly the Kea on this machine.
#
#   sh install.sh [--from URL|DIR] [--hooks-dir DIR] [--list] [--dry-run]
#
# --from       the release: a directory or an http(s) URL holding SHA256SUMS and the tarballs
#              (default: $KEA_RUNSCRIPT_RELEASE, else the directory this script is in)
# --hooks-dir  where Kea loads hooks from (default: the first existing of
#              /usr/lib/<multiarch>/kea/hooks, /usr/local/lib/kea/hooks, /usr/lib64/kea/hooks,
#              /usr/lib/kea/hooks)
# --list       print the builds the release offers and exit
# --dry-run    pick and verify the artifact, install nothing
#
# It detects Kea's version (kea-dhcp4 -V), the distribution (/etc/os-release) and the
# architecture (dpkg --print-architecture, else uname -m), forms the cell id
# kea<X.Y.Z>-<distro><release>-<arch> and installs only the tarball whose name ends in
# -<cell id>.tar.gz, after checking its sha256 against SHA256SUMS. Nothing matching exactly:
# it lists the builds there are and exits 3. Needs sh, sed, grep, awk, tar, gzip, sha256sum,
# and curl or wget for a URL.
#
# Exit status: 0 installed (or listed), 2 usage, 3 no build for this machine, 4 download or
# checksum failure, 5 installation failure.
set -eu

PACKAGE=kea-hook-runscript
LIBRARY=kea-hook-runscript.so
PATH="$PATH:/usr/sbin:/sbin:/usr/local/sbin"

say() { printf '%s\n' "$*"; }
err() { printf 'install.sh: %s\n' "$*" >&2; }
die() { code=$1; shift; err "$*"; exit "$code"; }

here=$(cd "$(dirname "$0")" 2>/dev/null && pwd || echo .)
from=${KEA_RUNSCRIPT_RELEASE:-}
hooks_dir=
list_only=0
dry_run=0
while [ $# -gt 0 ]; do
    case $1 in
        --from) [ $# -ge 2 ] || die 2 "--from needs a URL or directory"; from=$2; shift 2 ;;
        --from=*) from=${1#--from=}; shift ;;
        --hooks-dir) [ $# -ge 2 ] || die 2 "--hooks-dir needs a directory"; hooks_dir=$2; shift 2 ;;
        --hooks-dir=*) hooks_dir=${1#--hooks-dir=}; shift ;;
        --list) list_only=1; shift ;;
        --dry-run) dry_run=1; shift ;;
        -h|--help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die 2 "unknown argument '$1' (see --help)" ;;
    esac
done
[ -n "$from" ] || from=$here
from=${from%/}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kea-hook-runscript.XXXXXX")
trap 'rm -rf "$tmp"' EXIT HUP INT TERM

# fetch NAME DEST: copy one file of the release
fetch() {
    case $from in
        http://*|https://*)
            if command -v curl >/dev/null 2>&1; then
                curl -fsSL -o "$2" "$from/$1"
            elif command -v wget >/dev/null 2>&1; then
                wget -q -O "$2" "$from/$1"
            else
                die 4 "downloading from $from needs curl or wget (or download the release and use --from DIR)"
            fi ;;
        *) cp "$from/$1" "$2" ;;
    esac
}

# available: cell ids of the binary tarballs listed in SHA256SUMS
available() {
    awk '{ n = $2; sub(/^\*/, "", n); print n }' "$tmp/SHA256SUMS" \
        | sed -n "s/^$PACKAGE-.*-\(kea[0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*-[a-z][a-z0-9.]*-[a-z0-9_]*\)\.tar\.gz\$/\1/p" \
        | sort
}

fetch SHA256SUMS "$tmp/SHA256SUMS" || die 4 "cannot read $from/SHA256SUMS (is --from a $PACKAGE release?)"

if [ "$list_only" = 1 ]; then
    say "builds in $from:"
    available | sed 's/^/  /'
    exit 0
fi

# --- what is this machine? ------------------------------------------------------------------
kea_bin=
for b in kea-dhcp4 kea-dhcp6; do
    if command -v "$b" >/dev/null 2>&1; then kea_bin=$b; break; fi
done
[ -n "$kea_bin" ] || die 3 "no Kea found (kea-dhcp4 / kea-dhcp6 not in PATH): install Kea first"
kea_version=$("$kea_bin" -V 2>/dev/null | sed -n 's/^[^0-9]*\([0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' | head -n 1)
[ -n "$kea_version" ] || die 3 "cannot read Kea's version from '$kea_bin -V'"

[ -r /etc/os-release ] || die 3 "no /etc/os-release: cannot tell the distribution"
os_field() { sed -n "s/^$1=//p" /etc/os-release | head -n 1 | sed 's/^"\(.*\)"$/\1/; s/^'"'"'\(.*\)'"'"'$/\1/'; }
distro=$(os_field ID)
release=$(os_field VERSION_ID)
if [ -z "$release" ] && [ "$distro" = debian ]; then
    release=sid   # testing and unstable have no VERSION_ID
fi
[ -n "$distro" ] && [ -n "$release" ] || die 3 "cannot tell the distribution from /etc/os-release (ID='$distro' VERSION_ID='$release')"

if command -v dpkg >/dev/null 2>&1; then
    arch=$(dpkg --print-architecture)
else
    case $(uname -m) in
        x86_64) arch=amd64 ;;
        aarch64|arm64) arch=arm64 ;;
        armv7l) arch=armhf ;;
        i386|i686) arch=i386 ;;
        ppc64le) arch=ppc64el ;;
        s390x) arch=s390x ;;
        riscv64) arch=riscv64 ;;
        *) arch=$(uname -m) ;;
    esac
fi
case $arch in
    amd64) triplet=x86_64-linux-gnu ;;
    arm64) triplet=aarch64-linux-gnu ;;
    armhf) triplet=arm-linux-gnueabihf ;;
    i386) triplet=i386-linux-gnu ;;
    ppc64el) triplet=powerpc64le-linux-gnu ;;
    s390x) triplet=s390x-linux-gnu ;;
    *) triplet=$arch-linux-gnu ;;
esac

cell="kea$kea_version-$distro$release-$arch"
say "this machine: Kea $kea_version ($kea_bin), $distro $release, $arch -> build $cell"

# --- pick the artifact ----------------------------------------------------------------------
matches=$(awk -v suf="-$cell.tar.gz" -v pre="$PACKAGE-" '{
    n = $2; sub(/^\*/, "", n)
    if (index(n, pre) == 1 && length(n) > length(suf) && substr(n, length(n) - length(suf) + 1) == suf) print $1 " " n
}' "$tmp/SHA256SUMS")
count=$(printf '%s' "$matches" | grep -c . || true)
if [ "$count" -eq 0 ]; then
    err "no prebuilt $PACKAGE for this machine: Kea $kea_version on $distro $release $arch ($cell)."
    err "A hook built for another Kea release can crash Kea, so nothing was installed."
    err "Builds available in $from:"
    available | sed 's/^/  /' >&2
    err "Build from source instead: the release's $PACKAGE-<version>-src.tar.gz (make, no Python)."
    exit 3
fi
[ "$count" -eq 1 ] || die 3 "several artifacts match $cell in SHA256SUMS; refusing to guess:
$matches"
sum=${matches%% *}
name=${matches#* }

# --- download and verify --------------------------------------------------------------------
fetch "$name" "$tmp/$name" || die 4 "cannot download $from/$name"
( cd "$tmp" && printf '%s  %s\n' "$sum" "$name" | sha256sum -c - >/dev/null 2>&1 ) \
    || die 4 "checksum mismatch for $name (expected $sum from SHA256SUMS); not installed"
say "verified $name (sha256 $sum)"
mkdir "$tmp/x"
tar -xzf "$tmp/$name" -C "$tmp/x" || die 4 "cannot unpack $name"
top=$tmp/x/${name%.tar.gz}
[ -f "$top/$LIBRARY" ] && [ -f "$top/build-info.json" ] || die 4 "$name does not hold $LIBRARY and build-info.json"
grep -q "\"id\": \"$cell\"" "$top/build-info.json" || die 4 "$name's build-info.json is not for $cell; not installed"

# The exact Debian package revision the hook was compiled against (a different revision of the
# same Kea release keeps its ABI; say so rather than refuse).
pkg=$(sed -n 's/^ *"kea_package": "\([^"]*\)".*/\1/p' "$top/build-info.json" | head -n 1)
pkg_version=$(sed -n 's/^ *"kea_package_version": "\([^"]*\)".*/\1/p' "$top/build-info.json" | head -n 1)
if [ -n "$pkg" ] && command -v dpkg-query >/dev/null 2>&1; then
    have=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || true)
    if [ -z "$have" ]; then
        err "note: built against package $pkg $pkg_version, which is not installed here (Kea from elsewhere?)"
    elif [ "$have" != "$pkg_version" ]; then
        err "note: built against $pkg $pkg_version, installed is $have (same Kea $kea_version)"
    fi
fi

# --- install --------------------------------------------------------------------------------
if [ -z "$hooks_dir" ]; then
    for d in "/usr/lib/$triplet/kea/hooks" /usr/local/lib/kea/hooks /usr/lib64/kea/hooks /usr/lib/kea/hooks; do
        if [ -d "$d" ]; then hooks_dir=$d; break; fi
    done
    [ -n "$hooks_dir" ] || die 5 "cannot find Kea's hooks directory; pass --hooks-dir DIR"
fi
target=$hooks_dir/$LIBRARY
if command -v dpkg >/dev/null 2>&1 && dpkg -S "$target" >/dev/null 2>&1; then
    die 5 "$target belongs to a package ($(dpkg -S "$target" 2>/dev/null | cut -d: -f1)); use dpkg/apt to change it"
fi
if [ "$dry_run" = 1 ]; then
    say "dry run: would install $LIBRARY from $name as $target"
    exit 0
fi
mkdir -p "$hooks_dir" || die 5 "cannot create $hooks_dir"
cp "$top/$LIBRARY" "$target.new.$$" && chmod 0644 "$target.new.$$" && mv -f "$target.new.$$" "$target" \
    || { rm -f "$target.new.$$"; die 5 "cannot write $target (run as root?)"; }
say "installed $target"
say "load it from Kea's config:"
say "  \"hooks-libraries\": [{ \"library\": \"$target\", \"parameters\": { \"script\": \"/path/to/script\" } }]"
