#!/usr/bin/env bash
# Fetch Debian's GRUB for i386-xen (pvgrub2 + modules + grub-mkimage) into build-cache/grub/.
#
#   build-cache/grub/debs/   the downloaded .deb files
#   build-cache/grub/root/   all of them unpacked with dpkg-deb -x (nothing is installed system-wide)
#
# Idempotent: a package whose .deb is already in debs/ is not downloaded again, and a .deb is
# unpacked only once (a stamp file per .deb).  The only network use is Debian's apt.
# Prints the paths that ci/build-grub-images.sh and the tests use.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/build-cache/grub"
debs="$cache/debs"
unpacked="$cache/root"
mkdir -p "$debs" "$unpacked"

# grub-xen-bin: /usr/lib/grub/i386-xen/ (modules, kernel.img) and x86_64-xen.
# grub-xen-host: /usr/lib/grub-xen/grub-i386-xen.bin (pvgrub2, a ready PV kernel image).
# grub-common: grub-mkimage (ships in grub-common on Debian 12).
pkgs=(grub-xen-bin grub-xen-host grub-common)

have_deb() { compgen -G "$debs/${1}_*.deb" >/dev/null; }

missing=()
for p in "${pkgs[@]}"; do
    have_deb "$p" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null || { echo "fetch-grub: apt-get is needed" >&2; exit 1; }
    # Third-party sources may make `apt-get update` fail; Debian's lists are what matter.
    apt-get update >/dev/null 2>&1 || true
    work=$(mktemp -d)
    chmod 755 "$work" # apt-get download runs as _apt where it can
    trap 'rm -rf "$work"' EXIT
    (cd "$work" && apt-get download "${missing[@]}")
    mv "$work"/*.deb "$debs"/
fi

for deb in "$debs"/*.deb; do
    stamp="$unpacked/.unpacked-$(basename "$deb")"
    [ -e "$stamp" ] && continue
    dpkg-deb -x "$deb" "$unpacked"
    touch "$stamp"
done

pvgrub="$unpacked/usr/lib/grub-xen/grub-i386-xen.bin"
moddir="$unpacked/usr/lib/grub/i386-xen"
mkimage="$unpacked/usr/bin/grub-mkimage"
for f in "$pvgrub" "$moddir/kernel.img" "$mkimage"; do
    [ -e "$f" ] || { echo "fetch-grub: expected $f after unpacking" >&2; exit 1; }
done

echo "fetch-grub: pvgrub2      $pvgrub"
echo "fetch-grub: modules      $moddir"
echo "fetch-grub: grub-mkimage $mkimage"
