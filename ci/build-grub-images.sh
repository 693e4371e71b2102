#!/usr/bin/env bash
# Build GRUB i386-xen test images for `xdbt run` with Debian's own grub-mkimage and modules
# (fetched and unpacked by ci/fetch-grub.sh; nothing is compiled here).
#
# Output, in build-cache/grub/out/:
#   grub-smoke.bin       embedded config: `echo XDBT-GRUB-OK; halt`               (quick check)
#   grub-prompt.bin      small image that stops at the `grub>` prompt (normal, echo, ls, help, ...)
#   grub-functest.bin    GRUB's own functional tests that need no video and no 10 s sleep,
#                        each run on its own, then all together; prints XDBT-FUNCTEST-END; halt
#   grub-sleeptest.bin   functional test sleep_test: grub_millisleep(10000) checked against
#                        shared_info wall clock (needs >= 12 s of guest time)
#   grub-videotest.bin   all_functional_test as GRUB's own tests/grub_func_test runs it (video
#                        checksum tests with unicode.pf2 in a memdisk; heavy, and upstream itself
#                        ignores its failures: see docs/GRUB-XEN.md)
#   grub-i386-xen.bin    symlink to Debian's pvgrub2 (grub-xen-host), the real target
#
# Each image halts with SCHEDOP_shutdown(SHUTDOWN_poweroff) via GRUB's `halt`.
# Idempotent: an image is rebuilt only when this script or the inputs are newer.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/build-cache/grub"
unpacked="$cache/root"
out="$cache/out"
moddir="$unpacked/usr/lib/grub/i386-xen"
mkimage="$unpacked/usr/bin/grub-mkimage"
pvgrub="$unpacked/usr/lib/grub-xen/grub-i386-xen.bin"
font="$unpacked/usr/share/grub/unicode.pf2"

if [ ! -x "$mkimage" ] || [ ! -e "$moddir/kernel.img" ]; then
    bash "$root/ci/fetch-grub.sh" >/dev/null
fi
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# build NAME CONFIG-TEXT [MEMDISK-FILE|-] MODULES...
build() {
    local name=$1 cfgtext=$2 memdisk=$3
    shift 3
    local img="$out/$name.bin" cfg="$out/$name.cfg"
    local args=(-O i386-xen -d "$moddir" -p /boot/grub -c "$cfg" -o "$img.tmp")
    if [ "$memdisk" != - ]; then
        args+=(-m "$memdisk" -p "(memdisk)/boot/grub")
    fi
    # Write the config only when it changed, so its mtime says when it last changed.
    if [ ! -e "$cfg" ] || [ "$(cat "$cfg")" != "$cfgtext" ]; then
        printf '%s\n' "$cfgtext" >"$cfg"
    fi
    if [ -e "$img" ] && [ "$img" -nt "$0" ] && [ "$img" -nt "$cfg" ] && [ "$img" -nt "$mkimage" ] \
        && { [ "$memdisk" = - ] || [ "$img" -nt "$memdisk" ]; }; then
        echo "build-grub-images: $img up to date"
        return
    fi
    "$mkimage" "${args[@]}" "$@"
    mv "$img.tmp" "$img"
    echo "build-grub-images: built $img"
}

# 1. Smoke: prints one line, powers off.
build grub-smoke "echo XDBT-GRUB-OK
halt" - echo halt

# 2. Prompt: nothing in the config but a marker; falls through to normal mode's `grub>` prompt.
build grub-prompt "echo XDBT-GRUB-PROMPT" - \
    normal echo ls help halt reboot minicmd cat lsxen memdisk tar test true sleep date

# 3. GRUB's own functional tests that need neither video nor fonts nor a long sleep.
#    functional_test NAME runs one registered test and ends with "ALL TESTS PASSED" or
#    "TEST FAILURE" (grub-core/tests/lib/functional_test.c); each test also prints
#    "NAME: PASS" / "NAME: FAIL" (grub-core/tests/lib/test.c:grub_test_run).
#    Running them one by one keeps one failure from hiding the rest: functional_test without
#    arguments stops running tests after the first failure (`ok = ok && !grub_test_run`).
tests=(exfctest setjmp_test div_test mul_test shift_test cmp_test ctz_test bswap_test
       strtoull_test xnu_uuid_test pbkdf2_test legacy_password_test signature_test)
cfg="echo XDBT-FUNCTEST-BEGIN"
for t in "${tests[@]}"; do
    cfg+=$'\n'"echo XDBT-TEST $t"$'\n'"functional_test $t"
done
cfg+=$'\n'"echo XDBT-TEST all"$'\n'"functional_test"$'\n'"echo XDBT-FUNCTEST-END"$'\n'"halt"
build grub-functest "$cfg" - functional_test echo halt xnu_uuid pgp procfs gcry_rsa gcry_dsa gcry_sha256 gcry_sha1 "${tests[@]}"

# 4. sleep_test alone: 10 s of grub_millisleep (TSC) against grub_get_datetime (shared_info).
build grub-sleeptest "echo XDBT-FUNCTEST-BEGIN
echo XDBT-TEST sleep_test
functional_test sleep_test
echo XDBT-FUNCTEST-END
halt" - functional_test echo halt sleep_test datetime

# 5. The full upstream run (tests/grub_func_test.in): all_functional_test with unicode.pf2 at
#    (memdisk)/boot/grub/fonts/unicode.pf2.
mdroot="$work/memdisk"
mkdir -p "$mdroot/boot/grub/fonts"
cp "$font" "$mdroot/boot/grub/fonts/unicode.pf2"
memdisk="$out/grub-videotest-memdisk.tar"
if [ ! -e "$memdisk" ] || [ "$font" -nt "$memdisk" ]; then
    tar -cf "$memdisk" -C "$mdroot" --owner=0 --group=0 --mtime=@0 boot
fi
build grub-videotest "echo XDBT-FUNCTEST-BEGIN
all_functional_test
echo XDBT-FUNCTEST-END
halt" "$memdisk" functional_test echo halt memdisk tar font \
    legacy_password_test exfctest videotest_checksum gfxterm_menu setjmp_test cmdline_cat_test \
    div_test xnu_uuid_test pbkdf2_test signature_test sleep_test bswap_test ctz_test cmp_test \
    mul_test shift_test

ln -sf "$pvgrub" "$out/grub-i386-xen.bin"
echo "build-grub-images: pvgrub2 $out/grub-i386-xen.bin -> $pvgrub"
