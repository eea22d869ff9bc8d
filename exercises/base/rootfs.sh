#!/bin/sh
# Build a minimal Debian rootfs tarball with python3 from Debian's archive.
# Usage: rootfs.sh OUTPUT.tar [SUITE] [MIRROR]
# Writes OUTPUT.tar atomically: a failed or interrupted run leaves no tarball behind.
set -eu
out=$1
suite=${2:-bookworm}
mirror=${3:-http://deb.debian.org/debian}
work=$(mktemp -d "${TMPDIR:-/tmp}/ac295-rootfs.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
echo "debootstrap $suite (minbase + python3) from $mirror ..."
debootstrap --variant=minbase --include=python3 "$suite" "$work/root" "$mirror" > "$work/debootstrap.log" 2>&1 || {
    tail -n 20 "$work/debootstrap.log" >&2
    echo "debootstrap failed; see the lines above" >&2
    exit 1
}
# Drop what a container does not need: package caches and lists, logs, docs.
rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"* \
       "$work/root/usr/share/doc/"* "$work/root/usr/share/man/"* "$work/root/var/log/"*
mkdir -p "$(dirname "$out")"
tar --numeric-owner -C "$work/root" -cf "$out.part" .
mv -f "$out.part" "$out"
echo "rootfs written: $out ($(du -h "$out" | cut -f1))"
