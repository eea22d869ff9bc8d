#!/usr/bin/env bash
# Build a minimal Debian rootfs tarball with python3 from Debian's archive.
# Usage: rootfs.sh OUTPUT.tar [SUITE] [MIRROR]
# Writes OUTPUT.tar atomically: a failed or interrupted run leaves no tarball behind.
set -euo pipefail
out=$1
suite=${2:-bookworm}
mirror=${3:-http://deb.debian.org/debian}
work=$(mktemp -d "${TMPDIR:-/tmp}/ac295-rootfs.XXXXXX")
trap 'rm -rf "$work" "$out.part"' EXIT
trap 'exit 130' INT TERM
echo "debootstrap $suite (minbase + python3) from $mirror ..."
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
       "$work/root/usr/share/doc/"* "$work/root/usr/share/man/"* "$work/root/var/log/"*
mkdir -p "$(dirname "$out")"
tar --numeric-owner -C "$work/root" -cf "$out.part" .
mv -f "$out.part" "$out"
echo "rootfs written: $out ($(du -h "$out" | cut -f1))"
