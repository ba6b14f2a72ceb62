#!/bin/bash
# Set up a Debian machine to build and test kea-hook-runscript. Run as root from the checkout:
#   sudo ./bootstrap.sh                      set up only
#   sudo ./bootstrap.sh nox -s build         set up, then run the command (the README's way)
#   ./bootstrap.sh --dry-run [COMMAND...]    only say what it would install and start (no root needed)
# Installs docker.io, debootstrap, gnupg, apt-utils, golang-go, gcc and (for the cells of other
# architectures and the launcher tests of each) qemu-user-static, the cross compilers
# g++-{aarch64,i686,arm,riscv64,powerpc64le}-linux-gnu*, qemu-system-{arm,misc,ppc} and cpio if missing, starts dockerd if it is not running, registers qemu-user with binfmt_misc, and
# installs the toolkit (editable) with its test extras and nox into the current python3.
# Safe to run again: every step checks first.
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n== %s\n' "$*"; }

dry_run=false
if [ "${1:-}" = --dry-run ]; then
    dry_run=true
    shift
fi

if ! $dry_run && [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap.sh: run as root (sudo ./bootstrap.sh): it installs packages and starts dockerd" >&2
    exit 2
fi

# The engine the toolkit talks to: the Python SDK reads $DOCKER_HOST (else the local socket),
# not the CLI's contexts, so a `docker info` that answers through a remote context proves nothing.
engine=${DOCKER_HOST:-unix:///var/run/docker.sock}
engine_up() { docker -H "$engine" info >/dev/null 2>&1; }

missing=()
why=()
need() { missing+=("$1"); why+=("$1: $2"); }
# The engine, not just a client: a machine may have a Docker CLI (client-only install, podman's
# shim, a remote context) and no dockerd.
if ! command -v dockerd >/dev/null; then
    if command -v docker >/dev/null; then
        need docker.io "no dockerd on PATH (found only the Docker CLI $(command -v docker))"
    else
        need docker.io "no dockerd on PATH"
    fi
fi
command -v debootstrap >/dev/null || need debootstrap "no debootstrap (base images without a registry)"
# gpg (with its agent) signs releases and the tests' throwaway keys.
command -v gpg-agent >/dev/null || need gnupg "no gpg-agent (release signing)"
# apt-ftparchive indexes the release's apt repository.
command -v apt-ftparchive >/dev/null || need apt-utils "no apt-ftparchive (the release's apt repository)"
python3 -m pip --version >/dev/null 2>&1 || need python3-pip "no pip for python3"
# The unit tests build and run the example handlers (examples/handlers/): the Go one and the C one.
command -v go >/dev/null || need golang-go "no go (the tests build examples/handlers/handler.go)"
command -v cc >/dev/null || need gcc "no C compiler (the tests build examples/handlers/handler.c)"
# The launcher's and handlers' drivers and the rendered Makefiles (tests/unit/test_recipes.py).
command -v g++ >/dev/null || need g++ "no C++ compiler (the unit tests build the hook's drivers)"
command -v make >/dev/null || need make "no make (the unit tests run the rendered Makefiles)"
# A program with a file capability (the launcher's EPERM test).
command -v setcap >/dev/null || [ -x /usr/sbin/setcap ] || need libcap2-bin "no setcap (a file-capability test)"
# The parameter parser's fuzz target is replayed by the unit tests against Kea's libkea-cc
# (Kea's JSON elements), whose headers need Boost's.
[ -e /usr/include/kea/cc/data.h ] || need kea-dev "no Kea headers (the parameter parser's fuzz replay)"
[ -e /usr/include/boost/shared_ptr.hpp ] || need libboost-dev "no Boost headers (Kea's headers include them)"
# The cells of other architectures: their Kea runs under qemu-user (binfmt_misc), but for
# i386 on amd64. One entry name per emulated architecture (engine/emulation.py's ENTRIES).
host_arch=$(dpkg --print-architecture)
case $host_arch in
    amd64) emulated="qemu-aarch64 qemu-arm qemu-ppc64le qemu-s390x qemu-riscv64" ;;
    arm64) emulated="qemu-x86_64 qemu-arm qemu-ppc64le qemu-s390x qemu-riscv64" ;;
    *) emulated="" ;;
esac
for entry in $emulated; do
    [ -e "/usr/lib/binfmt.d/$entry.conf" ] || need qemu-user-static "no $entry binfmt entry (cells of other architectures on $host_arch)"
done
# The launcher's tests on other architectures (kea_runscript/builder/launcher_driver.py CROSS):
# cross-compiled drivers, arm64's under qemu-user, i386's natively, and every one on a real
# kernel of its architecture (armhf's on arm64's) in qemu-system with an initramfs made by cpio.
if [ "$host_arch" != arm64 ]; then
    command -v aarch64-linux-gnu-g++ >/dev/null || need g++-aarch64-linux-gnu "the arm64 launcher tests cross-compile"
fi
if [ "$host_arch" = amd64 ]; then
    command -v i686-linux-gnu-g++ >/dev/null || need g++-i686-linux-gnu "the i386 launcher tests cross-compile"
fi
command -v arm-linux-gnueabihf-g++ >/dev/null || need g++-arm-linux-gnueabihf "the armhf launcher tests cross-compile"
command -v riscv64-linux-gnu-g++ >/dev/null || need g++-riscv64-linux-gnu "the riscv64 launcher tests cross-compile"
command -v powerpc64le-linux-gnu-g++ >/dev/null || need g++-powerpc64le-linux-gnu "the ppc64el launcher tests cross-compile"
command -v qemu-system-aarch64 >/dev/null || need qemu-system-arm "the launcher tests on a real arm64 kernel"
command -v qemu-system-riscv64 >/dev/null || need qemu-system-misc "the launcher tests on a real riscv64 kernel"
command -v qemu-system-ppc64 >/dev/null || need qemu-system-ppc "the launcher tests on a real ppc64el kernel"
command -v cpio >/dev/null || need cpio "the test VMs' initramfs"

start_dockerd=false
if [ "$engine" != unix:///var/run/docker.sock ] && ! engine_up; then
    echo "bootstrap.sh: DOCKER_HOST=$engine does not answer (docker -H $engine info); start that engine" \
         "or unset DOCKER_HOST to use a local dockerd" >&2
    exit 1
fi
engine_up || start_dockerd=true

if $dry_run; then
    if [ ${#missing[@]} -gt 0 ]; then
        printf 'plan: install %s\n' "${why[@]}"
        echo "plan: apt-get update && apt-get install ${missing[*]}"
    fi
    if $start_dockerd; then
        echo "plan: start dockerd (the engine at $engine does not answer)"
    else
        echo "plan: docker engine answers at $engine: left as it is"
    fi
    echo "plan: then binfmt_misc entries ${emulated:-none}, pip install -e '.[test]' nox"
    [ $# -eq 0 ] || echo "plan: then would run: $*"
    exit 0
fi

if [ ${#missing[@]} -gt 0 ]; then
    step "apt-get install ${missing[*]}"
    printf '   because %s\n' "${why[@]}"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

if $start_dockerd && ! engine_up; then
    # Installing docker.io may have started it (a machine with systemd); otherwise start it here.
    step "starting dockerd: no engine answers at $engine (log: /var/log/dockerd.log)"
    nohup dockerd >/var/log/dockerd.log 2>&1 &
    for _ in $(seq 60); do
        engine_up && break
        sleep 1
    done
    if ! engine_up; then
        echo "bootstrap.sh: dockerd did not come up in 60 s; see /var/log/dockerd.log" >&2
        tail -n 20 /var/log/dockerd.log >&2 || true
        exit 1
    fi
fi
echo "docker engine: $(docker -H "$engine" version --format '{{.Server.Version}}') at $engine"

# The emulated cells' Kea (matrix.yaml: arm64, armhf/armel, ppc64el, s390x, riscv64 on an
# amd64 machine; i386 runs natively): register each qemu-user entry with the F flag (the kernel
# opens the interpreter now, so it also works inside containers, which have no qemu of their
# own). Debian's package ships the entries; systemd would register them at boot, a container
# or chroot has no systemd.
binfmt=/proc/sys/fs/binfmt_misc
if [ ! -e "$binfmt/status" ]; then
    step "mounting binfmt_misc at $binfmt"
    mount -t binfmt_misc binfmt_misc "$binfmt"
fi
for entry in $emulated; do
    if [ ! -e "$binfmt/$entry" ]; then
        step "registering $entry with binfmt_misc"
        cat "/usr/lib/binfmt.d/$entry.conf" > "$binfmt/register"
    fi
    grep -qx enabled "$binfmt/$entry" || echo 1 > "$binfmt/$entry"
    if ! grep -q '^flags:.*F' "$binfmt/$entry"; then
        echo "bootstrap.sh: $binfmt/$entry is registered without the F flag, so containers cannot run its" \
             "binaries; remove it (echo -1 > $binfmt/$entry) and run this again" >&2
        exit 1
    fi
    echo "emulation: $entry: $(sed -n 's/^interpreter //p' "$binfmt/$entry") ($(sed -n 's/^flags: //p' "$binfmt/$entry"))"
done

step "pip install -e '.[test]' nox"
# Debian's python3 is "externally managed" (PEP 668); this machine is a build box, so install anyway.
PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet -e '.[test]' nox
# pyenv-managed Pythons only expose new console scripts (nox) after a rehash.
command -v pyenv >/dev/null 2>&1 && pyenv rehash || true

if [ $# -gt 0 ]; then
    step "$*"
    if [ "$1" = nox ] && ! command -v nox >/dev/null 2>&1; then
        shift
        exec python3 -m nox "$@"
    fi
    exec "$@"
fi
echo "ready: nox -l lists the sessions"
