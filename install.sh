#!/bin/sh
# install.sh: install the prebuilt kea-hook-runscript built for exactly the Kea on this machine.
#
#   sh install.sh [--from URL|DIR] [--hooks-dir DIR] [--key FILE] [--list] [--dry-run]
#                 [--allow-http] [--no-signature-check]
#
# --from       the release: an https:// URL or a directory holding SHA256SUMS, SHA256SUMS.asc
#              and the tarballs (default: $KEA_RUNSCRIPT_RELEASE, else this script's directory)
# --hooks-dir  where Kea loads hooks from (default: the first existing of
#              /usr/lib/<multiarch>/kea/hooks, /usr/local/lib/kea/hooks, /usr/lib64/kea/hooks,
#              /usr/lib/kea/hooks)
# --key FILE   the release's public key from a file you already have (armored or binary)
#              instead of the release's kea-hook-runscript.asc; its fingerprint must be the
#              pinned one either way
# --list       print the builds the release offers and exit
# --dry-run    pick and verify the artifact, install nothing
# --allow-http accept a plain http:// URL (refused otherwise: anyone on the way could read
#              and change the download; the signature check still applies)
# --no-signature-check
#              skip the signature check when neither sqv nor gpgv can be had: then
#              SHA256SUMS, which comes from the same place as the files, is all that is checked
#
# Before anything is installed it checks that SHA256SUMS.asc is a good signature of SHA256SUMS
# by the release key pinned below (with sqv or gpgv, whichever apt uses here), then the
# tarball against SHA256SUMS. Downloads go through curl over https only, redirects included
# (--proto =https --proto-redir =https). It detects Kea's version (kea-dhcp4 -V), the
# distribution (/etc/os-release) and Kea's architecture (the ELF header of Kea's binary, else
# dpkg --print-architecture, else uname -m), forms the cell id kea<X.Y.Z>-<distro><release>-<arch> and installs only the
# tarball whose name ends in -<cell id>.tar.gz. Nothing matching exactly: it lists the builds
# there are and exits 3. Needs sh, sed, grep, awk, od, tar, gzip, base64, sha256sum, sqv or
# gpgv, and curl for a URL.
#
# Exit status: 0 installed (or listed), 2 usage, 3 no build for this machine, 4 download,
# signature or checksum failure, 5 installation failure.

# The whole script is functions; the last line calls main. A download cut short defines
# some functions or fails to parse, and does nothing.

say() { printf '%s\n' "$*"; }
err() { printf 'install.sh: %s\n' "$*" >&2; }
die() { code=$1; shift; err "$*"; exit "$code"; }

# fetch NAME DEST: copy one file of the release
fetch() {
    case $from in
        http://*|https://*)
            command -v curl >/dev/null 2>&1 \
                || die 4 "downloading from $from needs curl (apt-get install curl), or download the release and use --from DIR"
            curl --proto "$protocols" --proto-redir "$protocols" -fsSL -o "$2" "$from/$1" ;;
        *) cp "$from/$1" "$2" ;;
    esac
}

# dearmor FILE DEST: a binary keyring gpgv reads, from an armored or binary key file
dearmor() {
    if head -n 1 "$1" | grep -q '^-----BEGIN PGP PUBLIC KEY BLOCK-----'; then
        # Armor = header lines, a blank line, base64, an optional =CRC line, the END line.
        sed -e '1,/^[[:space:]]*$/d' -e '/^=/,$d' -e '/^-----END/,$d' "$1" | base64 -d >"$2" 2>/dev/null
    else
        cp "$1" "$2"
    fi
}

# verify_signature: SHA256SUMS.asc must be a good signature of SHA256SUMS by the pinned key.
# Either verifier accepts a signature by any key of the keyring it is given; both name the
# primary key that made it (sqv on stdout, gpgv in VALIDSIG), and only the pinned one is taken.
verify_signature() {
    if [ "$check_signature" = 0 ]; then
        err "WARNING: --no-signature-check: SHA256SUMS is NOT checked against the release key;"
        err "WARNING: it only shows that the files match each other, not who made them."
        return 0
    fi
    if command -v sqv >/dev/null 2>&1; then
        verifier=sqv   # apt's verifier from Debian 13 on
    elif command -v gpgv >/dev/null 2>&1; then
        verifier=gpgv  # apt's verifier up to Debian 12 / Ubuntu 24.04
    else
        die 4 "neither sqv nor gpgv is installed; one of them checks the release's signature.
Install one (apt-get install sqv, or apt-get install gpgv; dnf install gnupg2; apk add gpgv) and
run again, or pass --no-signature-check to trust SHA256SUMS as downloaded."
    fi
    fetch SHA256SUMS.asc "$tmp/SHA256SUMS.asc" \
        || die 4 "cannot read $from/SHA256SUMS.asc: the release is not signed (or --from is not a $PACKAGE release); not installed"
    if [ -n "$key_file" ]; then
        cp "$key_file" "$tmp/key" 2>/dev/null || die 2 "cannot read --key $key_file"
    else
        fetch "$KEY_NAME" "$tmp/key" || die 4 "cannot read $from/$KEY_NAME (the release key); pass --key FILE"
    fi
    if [ "$verifier" = sqv ]; then
        signers=$(sqv --keyring "$tmp/key" --signature-file "$tmp/SHA256SUMS.asc" "$tmp/SHA256SUMS" 2>"$tmp/verify.log") \
            || die 4 "SHA256SUMS does not carry a good signature by the release key; not installed:
$(cat "$tmp/verify.log")"
    else
        dearmor "$tmp/key" "$tmp/keyring.gpg" && [ -s "$tmp/keyring.gpg" ] \
            || die 4 "the release key file is not an OpenPGP key"
        mkdir -m 700 "$tmp/gnupg"
        status=$(gpgv --homedir "$tmp/gnupg" --status-fd 1 --keyring "$tmp/keyring.gpg" \
            "$tmp/SHA256SUMS.asc" "$tmp/SHA256SUMS" 2>"$tmp/verify.log") \
            || die 4 "SHA256SUMS does not carry a good signature by the release key; not installed:
$(cat "$tmp/verify.log")"
        signers=$(printf '%s\n' "$status" | awk '$1 == "[GNUPG:]" && $2 == "VALIDSIG" { print $NF }')
    fi
    printf '%s\n' "$signers" | grep -qx "$RELEASE_KEY_FINGERPRINT" \
        || die 4 "SHA256SUMS is signed by key $(printf '%s' "${signers:-(none)}" | tr '\n' ' '), not by the release key $RELEASE_KEY_FINGERPRINT that this install.sh pins; not installed"
    say "verified SHA256SUMS.asc ($verifier): signed by the release key $RELEASE_KEY_FINGERPRINT"
}

# available: cell ids of the binary tarballs listed in SHA256SUMS
available() {
    awk '{ n = $2; sub(/^\*/, "", n); print n }' "$tmp/SHA256SUMS" \
        | sed -n "s/^$PACKAGE-.*-\(kea[0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*-[a-z][a-z0-9.]*-[a-z0-9_]*\)\.tar\.gz\$/\1/p" \
        | sort
}

os_field() {
    sed -n "s/^$1=//p" /etc/os-release | head -n 1 | sed 's/^"\(.*\)"$/\1/; s/^'"'"'\(.*\)'"'"'$/\1/'
}

main() {
    set -eu
    # The release key (keys/kea-hook-runscript.asc in the repository, kea-hook-runscript.asc
    # in every release). A test release rewrites these two lines.
    RELEASE_KEY_FINGERPRINT=8EFBA2B12AEC1CC39CF75922787000EE861B89BE
    TEST_RELEASE=

    PACKAGE=kea-hook-runscript
    LIBRARY=kea-hook-runscript.so
    KEY_NAME=kea-hook-runscript.asc
    PATH="$PATH:/usr/sbin:/sbin:/usr/local/sbin"

    here=$(cd "$(dirname "$0")" 2>/dev/null && pwd || echo .)
    from=${KEA_RUNSCRIPT_RELEASE:-}
    hooks_dir=
    key_file=
    list_only=0
    dry_run=0
    allow_http=0
    check_signature=1
    while [ $# -gt 0 ]; do
        case $1 in
            --from) [ $# -ge 2 ] || die 2 "--from needs a URL or directory"; from=$2; shift 2 ;;
            --from=*) from=${1#--from=}; shift ;;
            --hooks-dir) [ $# -ge 2 ] || die 2 "--hooks-dir needs a directory"; hooks_dir=$2; shift 2 ;;
            --hooks-dir=*) hooks_dir=${1#--hooks-dir=}; shift ;;
            --key) [ $# -ge 2 ] || die 2 "--key needs a file"; key_file=$2; shift 2 ;;
            --key=*) key_file=${1#--key=}; shift ;;
            --list) list_only=1; shift ;;
            --dry-run) dry_run=1; shift ;;
            --allow-http) allow_http=1; shift ;;
            --no-signature-check) check_signature=0; shift ;;
            -h|--help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
            *) die 2 "unknown argument '$1' (see --help)" ;;
        esac
    done
    [ -n "$from" ] || from=$here
    from=${from%/}
    protocols='=https'
    case $from in
        https://*) ;;
        http://*)
            [ "$allow_http" = 1 ] || die 2 "refusing plain http ($from): anyone on the way could read and change the download. Use the https:// URL, or pass --allow-http"
            protocols='=http,https' ;;
        *://*) die 2 "unsupported URL $from: https:// or a directory" ;;
    esac
    if [ -n "$TEST_RELEASE" ]; then
        err "WARNING: $TEST_RELEASE"
    fi

    tmp=$(mktemp -d "${TMPDIR:-/tmp}/kea-hook-runscript.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT HUP INT TERM

    fetch SHA256SUMS "$tmp/SHA256SUMS" || die 4 "cannot read $from/SHA256SUMS (is --from a $PACKAGE release?)"
    verify_signature

    if [ "$list_only" = 1 ]; then
        say "builds in $from:"
        available | sed 's/^/  /'
        exit 0
    fi

    # --- what is this machine? --------------------------------------------------------------
    kea_bin=
    for b in kea-dhcp4 kea-dhcp6; do
        if command -v "$b" >/dev/null 2>&1; then kea_bin=$b; break; fi
    done
    [ -n "$kea_bin" ] || die 3 "no Kea found (kea-dhcp4 / kea-dhcp6 not in PATH): install Kea first"
    kea_version=$("$kea_bin" -V 2>/dev/null | sed -n 's/^[^0-9]*\([0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' | head -n 1)
    [ -n "$kea_version" ] || die 3 "cannot read Kea's version from '$kea_bin -V'"

    [ -r /etc/os-release ] || die 3 "no /etc/os-release: cannot tell the distribution"
    distro=$(os_field ID)
    release=$(os_field VERSION_ID)
    if [ -z "$release" ] && [ "$distro" = debian ]; then
        release=sid   # testing and unstable have no VERSION_ID
    fi
    [ -n "$distro" ] && [ -n "$release" ] || die 3 "cannot tell the distribution from /etc/os-release (ID='$distro' VERSION_ID='$release')"

    # The hook is loaded by Kea, so it must be of Kea's architecture, which on a multiarch
    # machine (an arm64 Kea on an amd64 system, say) is not the system's default: read it from
    # the ELF header of Kea's binary (e_machine, 2 bytes at offset 18), else ask dpkg / uname.
    kea_path=$(command -v "$kea_bin")
    kea_path=$(readlink -f "$kea_path" 2>/dev/null || printf '%s' "$kea_path")
    case $(od -An -tx1 -j18 -N2 "$kea_path" 2>/dev/null | tr -d ' \n') in
        3e00) arch=amd64 ;;
        b700) arch=arm64 ;;
        0300) arch=i386 ;;
        1500) arch=ppc64el ;;
        0016) arch=s390x ;;
        f300) arch=riscv64 ;;
        *) arch= ;;   # 32-bit arm (armhf or armel) and the rest: ask the system
    esac
    if [ -n "$arch" ]; then
        :
    elif command -v dpkg >/dev/null 2>&1; then
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
    say "this machine: Kea $kea_version ($kea_path, $arch), $distro $release -> build $cell"

    # --- pick the artifact --------------------------------------------------------------------
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

    # --- download and verify ------------------------------------------------------------------
    fetch "$name" "$tmp/$name" || die 4 "cannot download $from/$name"
    ( cd "$tmp" && printf '%s  %s\n' "$sum" "$name" | sha256sum -c - >/dev/null 2>&1 ) \
        || die 4 "checksum mismatch for $name (expected $sum from SHA256SUMS); not installed"
    say "verified $name (sha256 $sum)"
    mkdir "$tmp/x"
    tar -xzf "$tmp/$name" -C "$tmp/x" || die 4 "cannot unpack $name"
    top=$tmp/x/${name%.tar.gz}
    [ -f "$top/$LIBRARY" ] && [ -f "$top/build-info.json" ] || die 4 "$name does not hold $LIBRARY and build-info.json"
    grep -q "\"id\": \"$cell\"" "$top/build-info.json" || die 4 "$name's build-info.json is not for $cell; not installed"

    # The exact Debian package revision the hook was compiled against (a different revision of
    # the same Kea release keeps its ABI; say so rather than refuse).
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

    # --- install ------------------------------------------------------------------------------
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
}

main "$@"
