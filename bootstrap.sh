#!/bin/bash
# Set up a Debian machine to build and test kea-hook-runscript. Run as root from the checkout:
#   sudo ./bootstrap.sh                      set up only
#   sudo ./bootstrap.sh nox -s build         set up, then run the command (the README's way)
# Installs docker.io, debootstrap, gnupg, apt-utils and (on amd64, for the arm64 cells) qemu-user-static
# if missing, starts dockerd if it is not running, registers qemu-aarch64 with binfmt_misc, and
# installs the toolkit (editable) with its test extras and nox into the current python3.
# Safe to run again: every step checks first.
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n== %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap.sh: run as root (sudo ./bootstrap.sh): it installs packages and starts dockerd" >&2
    exit 2
fi

missing=()
# The engine, not just a client: a machine may have a Docker CLI and no dockerd.
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
# gpg (with its agent) signs releases and the tests' throwaway keys.
command -v gpg-agent >/dev/null || missing+=(gnupg)
# apt-ftparchive indexes the release's apt repository.
command -v apt-ftparchive >/dev/null || missing+=(apt-utils)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
# The arm64 cells: on an amd64 machine their Kea runs under qemu-user (binfmt_misc).
host_arch=$(dpkg --print-architecture)
[ "$host_arch" = arm64 ] || [ -e /usr/lib/binfmt.d/qemu-aarch64.conf ] || missing+=(qemu-user-static)
# The launcher's arm64 tests: a cross-compiled driver under qemu-user, and on a real arm64
# kernel in qemu-system-aarch64 with an initramfs made by cpio.
if [ "$host_arch" != arm64 ]; then
    command -v aarch64-linux-gnu-g++ >/dev/null || missing+=(g++-aarch64-linux-gnu)
    command -v qemu-system-aarch64 >/dev/null || missing+=(qemu-system-arm)
    command -v cpio >/dev/null || missing+=(cpio)
fi
if [ ${#missing[@]} -gt 0 ]; then
    step "apt-get install ${missing[*]}"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

if ! docker info >/dev/null 2>&1; then
    step "starting dockerd (log: /var/log/dockerd.log)"
    nohup dockerd >/var/log/dockerd.log 2>&1 &
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    if ! docker info >/dev/null 2>&1; then
        echo "bootstrap.sh: dockerd did not come up in 60 s; see /var/log/dockerd.log" >&2
        tail -n 20 /var/log/dockerd.log >&2 || true
        exit 1
    fi
fi
echo "docker engine: $(docker version --format '{{.Server.Version}}')"

if [ "$host_arch" != arm64 ]; then
    # Register qemu-aarch64 with the F flag (the kernel opens the interpreter now, so it also
    # works inside containers, which have no qemu of their own). Debian's package ships the
    # entry; systemd would register it at boot, a container or chroot has no systemd.
    binfmt=/proc/sys/fs/binfmt_misc
    if [ ! -e "$binfmt/status" ]; then
        step "mounting binfmt_misc at $binfmt"
        mount -t binfmt_misc binfmt_misc "$binfmt"
    fi
    if [ ! -e "$binfmt/qemu-aarch64" ]; then
        step "registering qemu-aarch64 with binfmt_misc"
        cat /usr/lib/binfmt.d/qemu-aarch64.conf > "$binfmt/register"
    fi
    grep -qx enabled "$binfmt/qemu-aarch64" || echo 1 > "$binfmt/qemu-aarch64"
    if ! grep -q '^flags:.*F' "$binfmt/qemu-aarch64"; then
        echo "bootstrap.sh: $binfmt/qemu-aarch64 is registered without the F flag, so containers cannot run arm64" \
             "binaries; remove it (echo -1 > $binfmt/qemu-aarch64) and run this again" >&2
        exit 1
    fi
    echo "arm64 emulation: $(sed -n 's/^interpreter //p' "$binfmt/qemu-aarch64") ($(sed -n 's/^flags: //p' "$binfmt/qemu-aarch64"))"
fi

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
