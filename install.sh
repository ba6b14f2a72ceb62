#!/bin/sh
# install.sh: install the prebuilt kea-hook-runscript built for exactly the Kea on this machine.
#
#   sh install.sh [--from URL|DIR] [--version V] [--hooks-dir DIR] [--key FILE] [--list]
#                 [--dry-run] [--allow-http] [--no-signature-check]
#   sh install.sh --uninstall [--hooks-dir DIR] [--dry-run]
#   sh install.sh --check [--hooks-dir DIR] [--kea-config FILE]
#
# --from       the release: an https:// URL or a directory holding SHA256SUMS, SHA256SUMS.asc
#              and the tarballs (default: $KEA_RUNSCRIPT_RELEASE, else this script's directory)
# --version V  the release to install (default: the one this install.sh comes from). The
#              signed SHA256SUMS says which release --from holds; another one is refused
#              (exit 4), so that nobody can slip in an older, validly signed release. The
#              install.sh of a git checkout belongs to no release: it installs only with
#              --version (it lists any release).
# --hooks-dir  where Kea loads hooks from, an absolute path (default: the first existing of
#              /usr/lib/<multiarch>/kea/hooks, /usr/local/lib/kea/hooks, /usr/lib64/kea/hooks,
#              /usr/lib/kea/hooks)
# --key FILE   the release's public key from a file you already have (armored or binary)
#              instead of the release's kea-hook-runscript.asc; its fingerprint must be the
#              pinned one either way
# --list       print the builds the release offers and exit
# --dry-run    pick and verify the artifact, install nothing (with --uninstall: remove nothing)
# --allow-http accept a plain http:// URL (refused otherwise: anyone on the way could read
#              and change the download; the signature check still applies)
# --no-signature-check
#              skip the signature check when neither sqv nor gpgv can be had: then
#              SHA256SUMS, which comes from the same place as the files, is all that is checked
# --uninstall  remove the library install.sh installed in the hooks directory (--hooks-dir,
#              else the one of Kea's usual hooks directories holding a record), as its record
#              says: only while no package owns it and it still has the recorded sha256; and
#              release the Kea packages --hold held
# --hold       after installing, hold Kea's packages (apt-mark hold): apt then keeps Kea at the
#              release this build is for, which Kea needs (an upgraded Kea refuses the hook or
#              crashes with it at its next start). Without it, install.sh says how.
# --check      change nothing; say which build fits this Kea, whether the installed library is
#              exactly that build (install.sh's record, or its package) and Kea loads it, then,
#              for each Kea server whose configuration (/etc/kea/kea-dhcpN.conf, or
#              --kea-config FILE) loads the hook: kea-dhcpN -t on it as the user its systemd
#              unit runs it as (User=, drop-ins included; run --check as root or as that user),
#              which checks the hook's parameters and every script's trust, and whether the unit
#              gives CAP_NET_ADMIN to scripts that change routes or firewall rules (ip route,
#              nft, iptables). Exit 0 when all is well, 6 when it found a problem.
#
# Before anything is installed it checks that SHA256SUMS.asc is a good signature of SHA256SUMS
# by the release key pinned below (with sqv or gpgv, whichever apt uses here), that SHA256SUMS
# is the release asked for (its kea-hook-runscript-<version>-src.tar.gz), then the tarball
# against SHA256SUMS. Downloads go through curl over https only, redirects included
# (--proto =https --proto-redir =https). It detects Kea's version (kea-dhcp4 -V), the
# distribution (/etc/os-release) and Kea's architecture (the ELF header of Kea's binary, else
# dpkg --print-architecture, else uname -m), forms the cell id <cell> =
# kea<X.Y.Z>-<distro><release>-<arch> and installs only kea-hook-runscript-<version>-<cell>.tar.gz.
# Nothing matching: it lists the builds there are and exits 3.
#
# Once the library is in place, Kea itself must load it: kea-dhcp4 -t (kea-dhcp6 -t without
# kea-dhcp4) on a temporary configuration loading it with /bin/true as the script, no
# interfaces and leases in memory only (Kea's own configuration and lease files are left
# alone). When Kea refuses it, the library that was there before is put back (or the new one
# removed) and it exits 5 with Kea's output. Then it records what it installed in
# <hooks dir>/kea-hook-runscript.installed (the library's path and sha256, the release version
# and the cell id). --uninstall removes that library and then the record.
#
# Needs sh, sed, grep, awk, od, tar, gzip, base64, sha256sum, sqv or gpgv, and curl for a URL.
#
# Exit status: 0 installed, listed, uninstalled or checked, 2 usage, 3 no build for this
# machine, 4 download, signature, checksum or release version failure, 5 installation failure
# (Kea refused the library included) or --uninstall refused, 6 --check found a problem.

# The whole script is functions; the last line calls main. A download cut short defines
# some functions or fails to parse, and does nothing.

say() { printf '%s\n' "$*"; }
err() { printf 'install.sh: %s\n' "$*" >&2; }
die() { code=$1; shift; err "$*"; exit "$code"; }

usage_help() { sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; }

# valid_version V: X.Y.Z with an optional -pre, +build or ~pre part, as releases are named
valid_version() {
    case $1 in
        ''|*[!0-9A-Za-z.+~-]*) return 1 ;;   # a newline, a quote, a space...
    esac
    printf '%s\n' "$1" | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+([-+~][0-9A-Za-z.]+)?$'
}

parse_args() {
    from=${KEA_RUNSCRIPT_RELEASE:-}
    version=$RELEASE_VERSION
    hooks_dir=
    key_file=
    list_only=0
    dry_run=0
    allow_http=0
    check_signature=1
    uninstall=0
    check_only=0
    hold=0
    kea_config=
    while [ $# -gt 0 ]; do
        case $1 in
            --from) [ $# -ge 2 ] || die 2 "--from needs a URL or directory"; from=$2; shift 2 ;;
            --from=*) from=${1#--from=}; shift ;;
            --version) [ $# -ge 2 ] || die 2 "--version needs a release version"; version=$2; shift 2
                valid_version "$version" || die 2 "--version '$version' is not a release version (X.Y.Z, X.Y.Z-rc1)" ;;
            --version=*) version=${1#--version=}; shift
                valid_version "$version" || die 2 "--version '$version' is not a release version (X.Y.Z, X.Y.Z-rc1)" ;;
            --hooks-dir) [ $# -ge 2 ] || die 2 "--hooks-dir needs a directory"; hooks_dir=$2; shift 2 ;;
            --hooks-dir=*) hooks_dir=${1#--hooks-dir=}; shift ;;
            --key) [ $# -ge 2 ] || die 2 "--key needs a file"; key_file=$2; shift 2 ;;
            --key=*) key_file=${1#--key=}; shift ;;
            --list) list_only=1; shift ;;
            --dry-run) dry_run=1; shift ;;
            --allow-http) allow_http=1; shift ;;
            --no-signature-check) check_signature=0; shift ;;
            --uninstall) uninstall=1; shift ;;
            --check) check_only=1; shift ;;
            --hold) hold=1; shift ;;
            --kea-config) [ $# -ge 2 ] || die 2 "--kea-config needs a file"; kea_config=$2; shift 2 ;;
            --kea-config=*) kea_config=${1#--kea-config=}; shift ;;
            -h|--help) usage_help; exit 0 ;;
            *) die 2 "unknown argument '$1' (see --help)" ;;
        esac
    done
    # Kea's configuration takes absolute paths, and the check writes the path into JSON.
    case $hooks_dir in
        '') ;;
        *[\"\\]*) die 2 "--hooks-dir must not contain a quote or a backslash" ;;
        /*) hooks_dir=${hooks_dir%/} ;;
        *) die 2 "--hooks-dir needs an absolute path, not '$hooks_dir'" ;;
    esac
}

# check_source: $from and the protocols curl may use for it
check_source() {
    here=$(cd "$(dirname "$0")" 2>/dev/null && pwd || echo .)
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
}

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
        # SIG DATA as operands: sqv 1.1 (Debian 12) and 1.2 (Ubuntu 24.04) have no
        # --signature-file, and every sqv takes this form.
        signers=$(sqv --keyring "$tmp/key" "$tmp/SHA256SUMS.asc" "$tmp/SHA256SUMS" 2>"$tmp/verify.log") \
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

# sums_names: the file names SHA256SUMS lists
sums_names() {
    awk '{ n = $2; sub(/^\*/, "", n); print n }' "$tmp/SHA256SUMS"
}

# check_release_version: $release_version, the release SHA256SUMS is for, read from the name
# of the source tarball every release has; it must be $version (when known).
check_release_version() {
    release_version=$(sums_names | sed -n "s/^$PACKAGE-\(.*\)-src\.tar\.gz\$/\1/p")
    valid_version "$release_version" \
        || die 4 "SHA256SUMS names no $PACKAGE-<version>-src.tar.gz (or several): cannot tell which release $from holds; not installed"
    [ -z "$version" ] || [ "$release_version" = "$version" ] && return 0
    if [ "$version" = "$RELEASE_VERSION" ]; then
        asked="the release this install.sh comes from"
    else
        asked="asked for with --version"
    fi
    die 4 "$from holds $PACKAGE $release_version, not $version ($asked). A signed older release lacks later fixes, so it is not installed by mistake: to install $release_version knowingly, pass --version $release_version"
}

# available: cell ids of the binary tarballs listed in SHA256SUMS
available() {
    sums_names \
        | sed -n "s/^$PACKAGE-.*-\(kea[0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*-[a-z][a-z0-9.]*-[a-z0-9_]*\)\.tar\.gz\$/\1/p" \
        | sort
}

os_field() {
    sed -n "s/^$1=//p" /etc/os-release | head -n 1 | sed 's/^"\(.*\)"$/\1/; s/^'"'"'\(.*\)'"'"'$/\1/'
}

# detect_kea: $kea_bin (the server install.sh checks with), its $kea_path and $kea_version
detect_kea() {
    kea_bin=
    for b in kea-dhcp4 kea-dhcp6; do
        if command -v "$b" >/dev/null 2>&1; then kea_bin=$b; break; fi
    done
    [ -n "$kea_bin" ] || die 3 "no Kea found (kea-dhcp4 / kea-dhcp6 not in PATH): install Kea first"
    kea_version=$("$kea_bin" -V 2>/dev/null | sed -n 's/^[^0-9]*\([0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' | head -n 1)
    [ -n "$kea_version" ] || die 3 "cannot read Kea's version from '$kea_bin -V'"
    kea_path=$(command -v "$kea_bin")
    kea_path=$(readlink -f "$kea_path" 2>/dev/null || printf '%s' "$kea_path")
}

# detect_distro: $distro and $release from /etc/os-release
detect_distro() {
    [ -r /etc/os-release ] || die 3 "no /etc/os-release: cannot tell the distribution"
    distro=$(os_field ID)
    release=$(os_field VERSION_ID)
    if [ -z "$release" ] && [ "$distro" = debian ]; then
        release=sid   # testing and unstable have no VERSION_ID
    fi
    [ -n "$distro" ] && [ -n "$release" ] || die 3 "cannot tell the distribution from /etc/os-release (ID='$distro' VERSION_ID='$release')"
}

# detect_arch: Kea's $arch and its multiarch $triplet. The hook is loaded by Kea, so it must be
# of Kea's architecture, which on a multiarch machine (an arm64 Kea on an amd64 system, or an
# armhf Kea on an arm64 one) is not the system's default: read it from the ELF header of Kea's
# binary (e_machine, 2 bytes at offset 18; for 32-bit ARM the float ABI of e_flags, 4 bytes at
# offset 36: 0x400 hard float, armhf, 0x200 soft float, armel), else ask dpkg / uname.
detect_arch() {
    case $(od -An -tx1 -j18 -N2 "$kea_path" 2>/dev/null | tr -d ' \n') in
        3e00) arch=amd64 ;;
        b700) arch=arm64 ;;
        0300) arch=i386 ;;
        1500) arch=ppc64el ;;
        0016) arch=s390x ;;
        f300) arch=riscv64 ;;
        2800)
            case $(od -An -tx1 -j37 -N1 "$kea_path" 2>/dev/null | tr -d ' \n') in
                04) arch=armhf ;;
                02) arch=armel ;;
                *) arch= ;;
            esac ;;
        *) arch= ;;   # the rest: ask the system
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
        armel) triplet=arm-linux-gnueabi ;;
        i386) triplet=i386-linux-gnu ;;
        ppc64el) triplet=powerpc64le-linux-gnu ;;
        s390x) triplet=s390x-linux-gnu ;;
        *) triplet=$arch-linux-gnu ;;
    esac
}

# pick_artifact: $name and $sum of this machine's build in SHA256SUMS, or exit 3
pick_artifact() {
    name=$PACKAGE-$release_version-$cell.tar.gz
    sum=$(awk -v want="$name" '{ n = $2; sub(/^\*/, "", n); if (n == want) print $1 }' "$tmp/SHA256SUMS")
    count=$(printf '%s' "$sum" | grep -c . || true)
    if [ "$count" -eq 0 ]; then
        err "no prebuilt $PACKAGE for this machine: Kea $kea_version on $distro $release $arch ($cell)."
        err "A hook built for another Kea release can crash Kea, so nothing was installed."
        err "Builds available in $from:"
        available | sed 's/^/  /' >&2
        err "Build from source instead: the release's $PACKAGE-<version>-src.tar.gz (make, no Python)."
        exit 3
    fi
    [ "$count" -eq 1 ] || die 3 "SHA256SUMS lists $name several times; refusing to guess"
}

# unpack_artifact: download $name, check it against SHA256SUMS, unpack it: $top holds it
unpack_artifact() {
    fetch "$name" "$tmp/$name" || die 4 "cannot download $from/$name"
    ( cd "$tmp" && printf '%s  %s\n' "$sum" "$name" | sha256sum -c - >/dev/null 2>&1 ) \
        || die 4 "checksum mismatch for $name (expected $sum from SHA256SUMS); not installed"
    say "verified $name (sha256 $sum)"
    mkdir "$tmp/x"
    tar -xzf "$tmp/$name" -C "$tmp/x" || die 4 "cannot unpack $name"
    top=$tmp/x/${name%.tar.gz}
    [ -f "$top/$LIBRARY" ] && [ -f "$top/build-info.json" ] || die 4 "$name does not hold $LIBRARY and build-info.json"
    grep -q "\"id\": \"$cell\"" "$top/build-info.json" || die 4 "$name's build-info.json is not for $cell; not installed"
}

# note_package_revision: the exact Debian package revision the hook was compiled against (a
# different revision of the same Kea release keeps its ABI; say so rather than refuse)
note_package_revision() {
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
}

find_hooks_dir() {
    [ -z "$hooks_dir" ] || return 0
    for d in "/usr/lib/$triplet/kea/hooks" /usr/local/lib/kea/hooks /usr/lib64/kea/hooks /usr/lib/kea/hooks; do
        if [ -d "$d" ]; then hooks_dir=$d; return 0; fi
    done
    die 5 "cannot find Kea's hooks directory; pass --hooks-dir DIR"
}

# package_owner FILE: the package dpkg says FILE belongs to, or nothing
package_owner() {
    if command -v dpkg >/dev/null 2>&1; then
        dpkg -S "$1" 2>/dev/null | head -n 1 | cut -d: -f1
    fi
}

# replace_target FILE: $target becomes a copy of FILE (mode included), by a rename: a running
# Kea keeps the file it has open, a starting one sees the old or the new file, never half.
replace_target() {
    cp -p "$1" "$target.new.$$" && mv -f "$target.new.$$" "$target" && return 0
    rm -f "$target.new.$$"
    return 1
}

# kea_loads: whether Kea's own check (-t) accepts a configuration loading $target, and nothing
# of the real server's: no interfaces, leases in memory only, no logger lock file, all in $tmp.
# The hook refuses a script that others could change, and $tmp lies under the world-writable
# /tmp: the no-op script is the system's true.
kea_loads() {
    case $kea_bin in *6) family=6 ;; *) family=4 ;; esac
    cat >"$tmp/check.json" <<EOF
{ "Dhcp$family": {
    "interfaces-config": { "interfaces": [] },
    "lease-database": { "type": "memfile", "persist": false },
    "hooks-libraries": [ { "library": "$target", "parameters": { "script": "$noop" } } ],
    "loggers": [ { "name": "kea-dhcp$family", "severity": "WARN",
                   "output_options": [ { "output": "stdout" } ] } ]
} }
EOF
    KEA_LOCKFILE_DIR=none "$kea_bin" -t "$tmp/check.json" >"$tmp/check.log" 2>&1
}

# install_library: $top's library at $target, loaded by Kea, recorded; when Kea refuses it,
# the file that was there before comes back (or none), and exit 5
install_library() {
    noop=
    for t in /bin/true /usr/bin/true; do
        if [ -x "$t" ]; then noop=$t; break; fi
    done
    [ -n "$noop" ] || die 5 "no /bin/true for Kea's load check"
    mkdir -p "$hooks_dir" || die 5 "cannot create $hooks_dir"
    previous=
    if [ -e "$target" ]; then
        cp -p "$target" "$tmp/previous" || die 5 "cannot read $target"
        previous=$tmp/previous
    fi
    chmod 0644 "$top/$LIBRARY" && replace_target "$top/$LIBRARY" || die 5 "cannot write $target (run as root?)"
    if ! kea_loads; then
        if [ -z "$previous" ]; then
            rm -f "$target" && undone="removed it again" || undone="could not remove it"
        elif replace_target "$previous"; then
            undone="put back the library that was there before"
        else
            undone="could NOT put back the library that was there before"
        fi
        die 5 "Kea cannot load $target ($kea_bin -t rejected it); $undone. Kea's output:
$(cat "$tmp/check.log")"
    fi
    say "installed $target; $kea_bin -t loads it"
    write_record
}

# write_record: what --uninstall may remove, in the hooks directory beside the library (one
# record per hooks directory, wherever --hooks-dir put it)
write_record() {
    record=$hooks_dir/$RECORD_NAME
    {
        say "# $PACKAGE's install.sh installed this; install.sh --uninstall removes path if it has this sha256"
        say "path=$target"
        say "sha256=$(sha256sum <"$target" | cut -d' ' -f1)"
        say "version=$release_version"
        say "cell=$cell"
    } >"$record.new.$$" && mv -f "$record.new.$$" "$record" \
        || { rm -f "$record.new.$$"; die 5 "installed $target, but cannot write $record"; }
    say "recorded in $record (install.sh --uninstall removes the library)"
}

# find_record: $record and its $record_dir: of --hooks-dir, else the one record among Kea's
# usual hooks directories
find_record() {
    if [ -n "$hooks_dir" ]; then
        record_dir=$hooks_dir
        record=$record_dir/$RECORD_NAME
        [ -f "$record" ] || die 5 "no $record: install.sh installed nothing in $record_dir; nothing removed"
        return 0
    fi
    n=0
    for d in /usr/lib/*/kea/hooks /usr/local/lib/kea/hooks /usr/lib64/kea/hooks /usr/lib/kea/hooks; do
        if [ -f "$d/$RECORD_NAME" ]; then n=$((n + 1)); record_dir=$d; fi
    done
    [ "$n" -gt 0 ] || die 5 "no $RECORD_NAME in Kea's hooks directories: install.sh installed nothing there (pass --hooks-dir DIR if it did elsewhere); nothing removed"
    [ "$n" -eq 1 ] || die 5 "install.sh records in $n hooks directories: pass --hooks-dir DIR to say which; nothing removed"
    record=$record_dir/$RECORD_NAME
}

record_field() { sed -n "s/^$1=//p" "$record" | head -n 1; }

# uninstall: remove the library install.sh installed, if it is still the file it put there
uninstall() {
    find_record
    path=$(record_field path)
    sum=$(record_field sha256)
    what="$PACKAGE $(record_field version) ($(record_field cell))"
    [ "$path" = "$record_dir/$LIBRARY" ] && [ -n "$sum" ] \
        || die 5 "$record does not name $record_dir/$LIBRARY and its sha256; nothing removed"
    owner=$(package_owner "$path")
    [ -z "$owner" ] || die 5 "$path belongs to the package $owner now: remove it with dpkg or apt (dpkg -r $owner); nothing removed"
    if [ ! -e "$path" ]; then
        [ "$dry_run" = 1 ] || rm -f "$record" || die 5 "cannot remove $record (run as root?)"
        say "$path is gone already; removed $record"
        return 0
    fi
    now=$(sha256sum <"$path" | cut -d' ' -f1)
    [ "$now" = "$sum" ] || die 5 "$path has changed since install.sh installed it (sha256 $now, recorded $sum): it is not the file install.sh put there; nothing removed"
    if [ "$dry_run" = 1 ]; then
        say "dry run: would remove $path ($what) and $record"
        return 0
    fi
    held=$(record_field held)
    rm -f "$path" && rm -f "$record" || die 5 "cannot remove $path and $record (run as root?)"
    say "removed $path ($what) and $record"
    if [ -n "$held" ]; then
        # shellcheck disable=SC2086  # one word per package
        apt-mark unhold $held >/dev/null && say "released $held (apt-mark unhold)" \
            || err "could not release $held: sudo apt-mark unhold $held"
    fi
    if grep -rqsF "$path" /etc/kea 2>/dev/null; then
        err "note: Kea's configuration in /etc/kea still loads $path: remove it from hooks-libraries, or Kea will not start"
    fi
}

# Kea's packages installed here (what --hold holds)
kea_packages() {
    command -v dpkg-query >/dev/null 2>&1 || return 0
    for p in kea-common kea-dhcp4-server kea-dhcp6-server; do
        case $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) in
            *' installed') printf '%s\n' "$p" ;;
        esac
    done
}

# hold_kea: --hold holds Kea's packages at this release (recorded for --uninstall); without
# it, say why and how
hold_kea() {
    pkgs=$(kea_packages | tr '\n' ' ')
    pkgs=${pkgs% }
    [ -n "$pkgs" ] && command -v apt-mark >/dev/null 2>&1 || return 0
    if [ "$hold" = 1 ]; then
        # shellcheck disable=SC2086  # one word per package
        apt-mark hold $pkgs >/dev/null || die 5 "installed $target, but apt-mark hold $pkgs failed"
        say "held=$pkgs" >>"$record"
        say "held $pkgs (apt-mark): apt keeps Kea at $kea_version; --uninstall releases them"
    else
        say "note: this build fits Kea $kea_version only; an apt upgrade to another Kea release makes"
        say "  Kea refuse the hook (or crash with it) at its next start. Hold Kea: sudo apt-mark hold $pkgs"
        say "  (or install.sh --hold); before upgrading Kea, install the hook built for the new one."
    fi
}

# --check ------------------------------------------------------------------------------------

ok() { say "ok: $*"; }
problem() { say "problem: $*"; problems=$((problems + 1)); }

# unit_files SERVICE: the unit file systemd uses for SERVICE, then its drop-ins by name
unit_files() {
    for d in /etc/systemd/system /run/systemd/system /usr/lib/systemd/system /lib/systemd/system; do
        if [ -f "$d/$1" ]; then printf '%s\n' "$d/$1"; break; fi
    done
    for d in /usr/lib/systemd/system /lib/systemd/system /run/systemd/system /etc/systemd/system; do
        for f in "$d/$1.d"/*.conf; do
            if [ -f "$f" ]; then printf '%s %s\n' "${f##*/}" "$f"; fi
        done
    done | sort -k1,1 | cut -d' ' -f2-
}

# unit_setting SERVICE KEY: KEY of [Service] as the unit and its drop-ins leave it (the last
# assignment wins; AmbientCapabilities= adds up, and an empty one resets it)
unit_setting() {
    unit_files "$1" | while IFS= read -r f; do cat "$f"; echo; done | awk -v key="$2" '
        { sub(/^[ \t]+/, "") }
        /^\[/ { section = $0; next }
        section == "[Service]" && index($0, key "=") == 1 {
            v = substr($0, length(key) + 2)
            if (key != "AmbientCapabilities" || v == "") all = v; else all = all " " v
        }
        END { print all }'
}

# check_library: the build this Kea needs, whether the installed library is exactly it, and
# whether Kea loads it
check_library() {
    detect_kea
    detect_distro
    detect_arch
    cell="kea$kea_version-$distro$release-$arch"
    say "this machine: Kea $kea_version ($kea_path, $arch), $distro $release -> build $cell"
    find_hooks_dir
    target=$hooks_dir/$LIBRARY
    if [ ! -f "$target" ]; then
        problem "no $target: the hook is not installed there (install.sh installs build $cell)"
        return 0
    fi
    record=$hooks_dir/$RECORD_NAME
    owner=$(package_owner "$target")
    if [ -n "$owner" ]; then
        if [ -z "$(dpkg --verify "$owner" 2>&1)" ]; then
            ok "$target is the package $owner $(dpkg-query -W -f='${Version}' "$owner"), as shipped (dpkg --verify); it depends on the Kea it was built for"
        else
            problem "$target belongs to the package $owner, but dpkg --verify finds changed files: reinstall it (apt install --reinstall $owner)"
        fi
    elif [ -f "$record" ]; then
        recorded=$(record_field cell)
        now=$(sha256sum <"$target" | cut -d' ' -f1)
        if [ "$now" != "$(record_field sha256)" ]; then
            problem "$target has changed since install.sh installed build $recorded (sha256 $now): install it again"
        elif [ "$recorded" != "$cell" ]; then
            problem "$target is build $recorded, but this Kea needs build $cell (Kea was upgraded?): install the hook again"
        else
            ok "$target is build $cell of release $(record_field version), as install.sh installed it (sha256 matches)"
        fi
    else
        problem "$target was installed by neither install.sh nor a package: which build it is cannot be told; install it with install.sh"
    fi
    noop=/bin/true
    [ -x "$noop" ] || noop=/usr/bin/true
    if kea_loads; then
        ok "$kea_bin -t loads $target"
    else
        problem "$kea_bin -t cannot load $target: $(cat "$tmp/check.log")"
    fi
}

# needs_net_admin SCRIPT: whether a script changes routes or firewall rules
needs_net_admin() {
    grep -Eq '(^|[^[:alnum:]_-])(ip( +-[46])? +(route|rule)|nft|iptables|ip6tables)([^[:alnum:]_-]|$)' "$1" 2>/dev/null
}

# check_server N: kea-dhcpN's configuration, checked by Kea as the service's user
check_server() {
    bin=kea-dhcp$1
    service=kea-dhcp$1-server.service
    command -v "$bin" >/dev/null 2>&1 || return 0
    conf=${kea_config:-/etc/kea/kea-dhcp$1.conf}
    if [ -n "$kea_config" ] && ! grep -q "\"Dhcp$1\"" "$conf" 2>/dev/null; then
        return 0   # the other server's file
    fi
    if ! grep -qF "$LIBRARY" "$conf" 2>/dev/null; then
        say "$bin: $conf does not load $LIBRARY"
        return 0
    fi
    user=$(unit_setting "$service" User)
    user=${user:-root}
    caps=$(unit_setting "$service" AmbientCapabilities)
    if [ "$(id -un)" = "$user" ]; then
        run=; how="as $user, the user of $service"
    elif [ "$(id -u)" = 0 ] && command -v runuser >/dev/null 2>&1; then
        run="runuser -u $user --"; how="as $user, the user of $service"
    else
        run=; how="as $(id -un), NOT as $user, the user of $service (run --check as root or as $user)"
    fi
    # shellcheck disable=SC2086  # $run: words or nothing
    if out=$($run env KEA_LOCKFILE_DIR=none "$bin" -t "$conf" 2>&1); then
        ok "$bin -t $conf $how: the hook's parameters and scripts pass"
    else
        problem "$bin -t $conf $how fails:"
        printf '%s\n' "$out" | tail -n 20 | sed 's/^/  /'
    fi
    printf '%s\n' "$out" | grep -E '^RUNSCRIPT_(STATUS_WARNING|LOAD_ERROR)' | sed 's/^/  /' || true
    printf '%s\n' "$out" | sed -n 's/^RUNSCRIPT_CONFIG_TEST script: //p' | while IFS= read -r s; do
        needs_net_admin "$s" || continue
        case " $caps " in
            *CAP_NET_ADMIN*) say "ok: $s changes routes or firewall rules, and $service gives CAP_NET_ADMIN" ;;
            *) say "problem: $s changes routes or firewall rules (ip route, nft, iptables), but $service gives Kea no CAP_NET_ADMIN: install the drop-in of the examples (docs/operating.md, Capabilities)" ;;
        esac
    done >"$tmp/caps"
    cat "$tmp/caps"
    problems=$((problems + $(grep -c '^problem:' "$tmp/caps" || true)))
}

check() {
    problems=0
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/kea-hook-runscript.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT HUP INT TERM
    check_library
    check_server 4
    check_server 6
    if [ "$problems" -gt 0 ]; then
        say "$problems problem(s) found"
        exit 6
    fi
    say "no problem found"
}

main() {
    set -eu
    # The release key (keys/kea-hook-runscript.asc in the repository, kea-hook-runscript.asc
    # in every release). A release fills in its version (here, in a git checkout, there is
    # none); a test release also rewrites the key's and the TEST_RELEASE line.
    RELEASE_KEY_FINGERPRINT=8EFBA2B12AEC1CC39CF75922787000EE861B89BE
    RELEASE_VERSION=
    TEST_RELEASE=

    PACKAGE=kea-hook-runscript
    LIBRARY=kea-hook-runscript.so
    RECORD_NAME=kea-hook-runscript.installed
    KEY_NAME=kea-hook-runscript.asc
    PATH="$PATH:/usr/sbin:/sbin:/usr/local/sbin"

    parse_args "$@"
    if [ "$check_only" = 1 ]; then
        check
        exit 0
    fi
    if [ "$uninstall" = 1 ]; then
        uninstall
        exit 0
    fi
    check_source
    # Without a version, an older validly signed release could pass for the current one.
    [ -n "$version" ] || [ "$list_only" = 1 ] \
        || die 2 "this install.sh comes from no release (RELEASE_VERSION is empty: a copy from the repository?), so it cannot tell an old release from the current one: pass --version V, the release to install"
    if [ -n "$TEST_RELEASE" ]; then
        err "WARNING: $TEST_RELEASE"
    fi

    tmp=$(mktemp -d "${TMPDIR:-/tmp}/kea-hook-runscript.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT HUP INT TERM

    fetch SHA256SUMS "$tmp/SHA256SUMS" || die 4 "cannot read $from/SHA256SUMS (is --from a $PACKAGE release?)"
    verify_signature
    check_release_version
    if [ "$list_only" = 1 ]; then
        say "builds in $from ($PACKAGE $release_version):"
        available | sed 's/^/  /'
        exit 0
    fi

    detect_kea
    detect_distro
    detect_arch
    cell="kea$kea_version-$distro$release-$arch"
    say "this machine: Kea $kea_version ($kea_path, $arch), $distro $release -> build $cell"
    pick_artifact
    unpack_artifact
    note_package_revision

    find_hooks_dir
    target=$hooks_dir/$LIBRARY
    owner=$(package_owner "$target")
    [ -z "$owner" ] || die 5 "$target belongs to a package ($owner); use dpkg/apt to change it"
    if [ "$dry_run" = 1 ]; then
        say "dry run: would install $LIBRARY from $name as $target"
        exit 0
    fi
    install_library
    hold_kea
    say "load it from Kea's config:"
    say "  \"hooks-libraries\": [{ \"library\": \"$target\", \"parameters\": { \"script\": \"/path/to/script\" } }]"
}

main "$@"
