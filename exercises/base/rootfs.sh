#!/usr/bin/env bash
# Build a minimal Debian rootfs tarball with python3 from Debian's archive.
# Usage: rootfs.sh OUTPUT.tar [SUITE] [MIRROR] [SOURCE_DATE_EPOCH]
# With mmdebstrap (installed by script/bootstrap) the tarball is bit-reproducible: the same
# bytes on any machine for the same package versions, with every time clamped to
# SOURCE_DATE_EPOCH (given here by the recipe, never the clock). Where only debootstrap is
# found it is used instead: the same packages, but not the same bytes twice.
# Writes OUTPUT.tar atomically: a failed or interrupted run leaves no tarball behind.
set -euo pipefail
out=$1
suite=${2:-bookworm}
mirror=${3:-http://deb.debian.org/debian}
export SOURCE_DATE_EPOCH=${4:-0}
work=$(mktemp -d "${TMPDIR:-/tmp}/ac295-rootfs.XXXXXX")
trap 'rm -rf "$work" "$out.part"' EXIT
trap 'exit 130' INT TERM
mkdir -p "$(dirname "$out")"
# What a container does not need: package documentation and manuals.
excludes=('/usr/share/doc/*' '/usr/share/man/*' '/usr/share/info/*')

if command -v mmdebstrap >/dev/null; then
    echo "mmdebstrap $suite (minbase + python3) from $mirror, SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH ..."
    options=()
    for path in "${excludes[@]}"; do options+=("--dpkgopt=path-exclude=$path"); done
    # merged /usr as debootstrap makes it (usr-is-merged, not the usrmerge converter and
    # the perl it pulls in); the host's resolv.conf and hostname, which mmdebstrap copies
    # in, are left out (the engine provides both at run time): the bytes must not depend
    # on the machine that ran the recipe.
    if ! mmdebstrap --variant=minbase --include=python3 --format=tar \
            --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr "${options[@]}" \
            --customize-hook='rm -f "$1/etc/resolv.conf" "$1/etc/hostname"' \
            "$suite" "$out.part" "$mirror" 2>&1 | tee "$work/mmdebstrap.log" \
            | { grep --line-buffered -E '^I: (downloading|extracting|installing|cleaning|creating)' || true; }; then
        tail -n 20 "$work/mmdebstrap.log" >&2
        echo "mmdebstrap failed; see the lines above" >&2
        exit 1
    fi
else
    echo "debootstrap $suite (minbase + python3) from $mirror (mmdebstrap is missing: this tarball is not bit-reproducible) ..."
    # Progress: debootstrap's milestones only; the whole log is shown if it fails.
    if ! debootstrap --variant=minbase --include=python3 "$suite" "$work/root" "$mirror" 2>&1 \
            | tee "$work/debootstrap.log" \
            | grep --line-buffered -E '^I: (Retrieving Release|Retrieving Packages|Resolving|Retrieving|Extracting|Installing|Configuring|Base system)' \
            | awk '{ if ($2 != last) print; last = $2; fflush() }'; then
        tail -n 20 "$work/debootstrap.log" >&2
        echo "debootstrap failed; see the lines above" >&2
        exit 1
    fi
    # Drop what a container does not need: package caches and lists, logs, docs.
    rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"* \
           "$work/root/var/log/"*
    for path in "${excludes[@]}"; do rm -rf "$work/root"$path; done
    tar --numeric-owner -C "$work/root" -cf "$out.part" .
fi
mv -f "$out.part" "$out"
echo "rootfs written: $out ($(du -h "$out" | cut -f1), sha256 $(sha256sum "$out" | cut -c1-12))"
