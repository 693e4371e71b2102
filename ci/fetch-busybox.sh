#!/bin/sh
# Fetch Debian's i386 busybox-static into target/i386-busybox/ for tests/busybox.rs.
# Idempotent: does nothing if the binary is already there.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/target/i386-busybox"
bin="$dest/bin/busybox"

if [ -x "$bin" ]; then
    echo "fetch-busybox: $bin already present"
    exit 0
fi

if ! dpkg --print-foreign-architectures | grep -qx i386; then
    dpkg --add-architecture i386
fi
apt-get update || true

work=$(mktemp -d)
chmod 755 "$work" # apt-get download runs as _apt where it can
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download busybox-static:i386)
deb=$(ls "$work"/busybox-static_*_i386.deb)
mkdir -p "$dest"
dpkg-deb -x "$deb" "$dest"
test -x "$bin"
echo "fetch-busybox: installed $bin"
