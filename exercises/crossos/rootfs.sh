#!/usr/bin/env bash
# Another Debian release's root file system with its own python3: debootstrap (minbase +
# python3, and python3-distutils, which pip needs on Python 3.9 and which Debian splits out of
# python3 before 3.12) from Debian's archive, as a tarball for `docker import`.
# Usage: rootfs.sh OUTPUT.tar SUITE [MIRROR]
# Writes OUTPUT.tar atomically: a failed or interrupted run leaves no tarball behind.
set -euo pipefail
out=$1
suite=$2
mirror=${3:-http://deb.debian.org/debian}
work=$(mktemp -d "${TMPDIR:-/tmp}/ac295-rootfs.XXXXXX")
trap 'rm -rf "$work" "$out.part"' EXIT
trap 'exit 130' INT TERM
echo "debootstrap $suite (minbase + python3, python3-distutils) from $mirror ..."
if ! debootstrap --variant=minbase --include=python3,python3-distutils "$suite" "$work/root" "$mirror" \
        > "$work/debootstrap.log" 2>&1; then
    tail -n 20 "$work/debootstrap.log" >&2
    echo "debootstrap $suite failed; see the lines above" >&2
    exit 1
fi
rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"* \
       "$work/root/usr/share/doc/"* "$work/root/usr/share/man/"* "$work/root/var/log/"*
mkdir -p "$(dirname "$out")"
tar --numeric-owner -C "$work/root" -cf "$out.part" .
mv -f "$out.part" "$out"
echo "rootfs written: $out ($(du -h "$out" | cut -f1))"
