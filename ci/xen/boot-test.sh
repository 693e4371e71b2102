#!/usr/bin/env bash
# Boot the custom Xen (ci/xen/build.sh) with a Debian dom0 under QEMU (software emulation)
# and check, from dom0, that xdbt is linked in and that stock xl manages a native 64-bit PV
# guest and a translated 32-bit PV guest. See docs/XEN.md.
#
# dom0 prints one line per check on the serial console ("XDBT-CHECK <name> PASS|FAIL");
# this script collects them from the serial log and exits non-zero if any expected check
# is missing or failed.
#
# Environment: XDBT_BUILD_CACHE (default build-cache/), XDBT_SKIP_BUILD=1 (use the image
# already in build-cache/out/), XDBT_BOOT_TIMEOUT (seconds, default 600).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

t0=$(date +%s)
if [ "${XDBT_SKIP_BUILD:-0}" != 1 ]; then
    bash "$xen_root/ci/xen/build.sh"
fi
t_build=$(($(date +%s) - t0))
xen_img=$out_dir/xen
[ -f "$xen_img" ] || die "no Xen image in $out_dir: run ci/xen/build.sh"
xen_public=$xen_dir/xen-$XEN_UPSTREAM_VERSION/xen/include/public
[ -d "$xen_public" ] || die "no Xen source tree in $xen_dir: run ci/xen/build.sh"

t_prep=$(date +%s)
boot=$cache/boot
mkdir -p "$boot"

# --- QEMU >= 8 (bookworm-backports) ------------------------------------------------------
qemu_major() {
    qemu-system-x86_64 --version 2>/dev/null | sed -nE '1s/.*version ([0-9]+).*/\1/p'
}
if [ "$(qemu_major || true)" = "" ] || [ "$(qemu_major)" -lt "$QEMU_MIN_MAJOR" ]; then
    xapt_update
    log "apt: installing qemu-system-x86 from bookworm-backports"
    DEBIAN_FRONTEND=noninteractive xapt install -y -qq --no-install-recommends \
        -t bookworm-backports qemu-system-x86 >/dev/null || die "cannot install QEMU"
    [ "$(qemu_major)" -ge "$QEMU_MIN_MAJOR" ] || die "QEMU $(qemu_major) is too old"
fi
need_host_pkgs cpio gzip gcc binutils

# --- dom0 packages -----------------------------------------------------------------------
xen_pkgs=(xen-utils-4.17 xenstore-utils libxenmisc4.17 libxenstore4 libxencall1 libxenevtchn1
    libxenforeignmemory1 libxengnttab1 libxentoollog1 libxentoolcore1 libxendevicemodel1
    libxenhypfs1)
specs=()
for p in "${xen_pkgs[@]}"; do specs+=("$p=$XEN_DEB_VERSION"); done
specs+=("libyajl2=$YAJL_VERSION" "busybox-static=$BUSYBOX_VERSION"
    "linux-image-$DOM0_KERNEL_ABI=$DOM0_KERNEL_VERSION")
fetch_debs "${specs[@]}"

# The toolstack packages, unpacked once per version set.
stage=$boot/stage
stage_id="${specs[*]}"
if [ "$(cat "$stage/.id" 2>/dev/null)" != "$stage_id" ]; then
    log "dom0: unpacking the toolstack packages"
    rm -rf "$stage"
    mkdir -p "$stage"
    for p in "${xen_pkgs[@]}"; do dpkg-deb -x "$(deb_file "$p" "$XEN_DEB_VERSION")" "$stage"; done
    dpkg-deb -x "$(deb_file libyajl2 "$YAJL_VERSION")" "$stage"
    dpkg-deb -x "$(deb_file busybox-static "$BUSYBOX_VERSION")" "$stage"
    echo "$stage_id" >"$stage/.id"
fi

# The dom0 kernel and the modules the toolstack needs, in load order.
modules=(xen-evtchn xen-privcmd xen-gntdev xen-gntalloc xenfs/xenfs)
kernel=$boot/kernel-$DOM0_KERNEL_ABI
if [ ! -f "$kernel/.done" ]; then
    log "dom0: unpacking linux-image-$DOM0_KERNEL_ABI"
    rm -rf "$kernel"
    mkdir -p "$kernel"
    members=("./boot/vmlinuz-$DOM0_KERNEL_ABI")
    for m in "${modules[@]}"; do
        members+=("./lib/modules/$DOM0_KERNEL_ABI/kernel/drivers/xen/$m.ko")
    done
    dpkg-deb --fsys-tarfile "$(deb_file "linux-image-$DOM0_KERNEL_ABI" "$DOM0_KERNEL_VERSION")" |
        tar -x -C "$kernel" "${members[@]}"
    touch "$kernel/.done"
fi
vmlinuz=$kernel/boot/vmlinuz-$DOM0_KERNEL_ABI

# --- the native PV64 test guest ----------------------------------------------------------
gsrc=$xen_root/ci/xen/guests/pv64-hello
gout=$boot/guests
mkdir -p "$gout"
log "guest: building pv64-hello"
gcflags=(-O2 -Wall -Wextra -Werror -ffreestanding -fno-pic -fno-pie -mno-red-zone
    -fno-stack-protector -fno-asynchronous-unwind-tables -fcf-protection=none
    -mgeneral-regs-only -D__XEN_INTERFACE_VERSION__=__XEN_LATEST_INTERFACE_VERSION__
    -I"$xen_public")
gcc "${gcflags[@]}" -c "$gsrc/head.S" -o "$gout/head.o"
gcc "${gcflags[@]}" -c "$gsrc/main.c" -o "$gout/main.o"
ld -nostdlib -static -no-pie --no-warn-rwx-segments --build-id=none -T "$gsrc/link.ld" \
    "$gout/head.o" "$gout/main.o" -o "$gout/pv64-hello"
# Our PV32 test guest (tests/guests/, ci/build-guests.sh), and a malformed copy of it: the
# ELF header's program header offset points past the end of the file.
bash "$xen_root/ci/build-guests.sh" >/dev/null
# The PV32 test guests run as translated domains (tests/guests/NAME.c), the same binaries
# `xdbt run` runs in tests/pv_guests.rs; their verdicts are compared below.
# hello and shutdown have checks of their own in dom0-init.sh; the others are run one after
# the other for their verdicts (/guests/verdict-guests).
verdict_guests=(${XDBT_XEN_GUESTS:-traps console xenstore evtchn evtchn_virq callback_op callbacks
    xenver multicall sched_op bigmem time block smc smc_remap usermode int82_user user_faults})
pv32_guests=(hello shutdown "${verdict_guests[@]}")
for g in "${pv32_guests[@]}"; do
    cp "$xen_root/target/guests/$g" "$gout/$g"
done
# A PV32 guest that crashes on purpose (an unhandled page fault), built like tests/guests/.
gcc -m32 -ffreestanding -nostdlib -static -fno-pic -fno-stack-protector \
    -fcf-protection=none -O2 -Wall -I"$xen_root/guest-pv-headers" \
    -Wl,-T,"$xen_root/tests/guests/guest.ld" -Wl,--build-id=none -Wl,--no-warn-rwx-segments \
    -Wa,--noexecstack -o "$gout/pv32-crash" "$xen_root/tests/guests/start.S" \
    "$xen_root/ci/xen/guests/pv32-crash/pv32-crash.c"
# Debian's GRUB for i386-xen: our image of GRUB's functional tests (ci/build-grub-images.sh,
# the same image tests/grub.rs runs under `xdbt run`), and the summary of its output.
bash "$xen_root/ci/build-grub-images.sh" >/dev/null
cp "$xen_root/build-cache/grub/out/grub-functest.bin" "$gout/grub-functest"
cp "$xen_root/ci/xen/grub-summary.awk" "$gout/"
cp "$gout/hello" "$gout/hello-bad"
printf '\xff\xff\xff\x7f' | dd of="$gout/hello-bad" bs=1 seek=28 conv=notrunc status=none

# --- initramfs ---------------------------------------------------------------------------
log "dom0: assembling the initramfs"
root=$boot/initramfs
rm -rf "$root"
mkdir -p "$root"/{bin,dev,proc,sys,run,tmp,var/lib,var/log,etc/xen,guests,lib/modules,lib64}
# xl warns when its (optional) global configuration file is missing.
: >"$root/etc/xen/xl.conf"
mkdir -p "$root/usr/lib/x86_64-linux-gnu" "$root/usr/lib/xen-4.17/bin"
cp "$stage/bin/busybox" "$root/bin/busybox"
libdir=$stage/usr/lib/x86_64-linux-gnu
# A binary and the shared libraries it needs (from the unpacked packages, else the host's).
add_binary() {
    local bin=$1 line lib
    cp "$bin" "$root/usr/lib/xen-4.17/bin/"
    while read -r line; do
        case "$line" in
        *"not found"*) die "$(basename "$bin"): $line" ;;
        *"=> /"*) lib=${line#*=> } ;;
        /*) lib=$line ;;
        *) continue ;;
        esac
        lib=${lib%% (*}
        case "$lib" in
        */ld-linux-x86-64.so.2) cp -L "$lib" "$root/lib64/ld-linux-x86-64.so.2" ;;
        *) cp -L "$lib" "$root/usr/lib/x86_64-linux-gnu/$(basename "$lib")" ;;
        esac
    done < <(LD_LIBRARY_PATH=$libdir ldd "$bin")
}
for b in xl xenstored xenconsoled xen-init-dom0 xenconsole; do
    add_binary "$stage/usr/lib/xen-4.17/bin/$b"
done
# xenstore-utils' client (one multi-call binary), for diagnostics.
add_binary "$stage/usr/bin/xenstore"
for c in ls read write list rm; do
    ln -s xenstore "$root/usr/lib/xen-4.17/bin/xenstore-$c"
done
# dlopen()ed by glibc's pthread_cancel; without it `xl create` aborts.
libgcc=$(ldconfig -p | awk '!found && /libgcc_s.so.1 .*x86-64/ { print $NF; found = 1 }')
[ -n "$libgcc" ] || die "libgcc_s.so.1 not found on the host"
cp -L "$libgcc" "$root/usr/lib/x86_64-linux-gnu/libgcc_s.so.1"
mod_names=()
for m in "${modules[@]}"; do
    cp "$kernel/lib/modules/$DOM0_KERNEL_ABI/kernel/drivers/xen/$m.ko" "$root/lib/modules/"
    mod_names+=("$(basename "$m")")
done
sed "s|@MODULES@|${mod_names[*]}|" "$xen_root/ci/xen/dom0-init.sh" >"$root/init"
chmod 755 "$root/init"
for g in pv64-hello hello-bad pv32-crash grub-functest grub-summary.awk "${pv32_guests[@]}"; do
    cp "$gout/$g" "$root/guests/"
done
echo "${verdict_guests[@]}" >"$root/guests/verdict-guests"
cat >"$root/guests/pv64-hello.cfg" <<'EOF'
name = "pv64-hello"
type = "pv"
kernel = "/guests/pv64-hello"
extra = "poweroff"
memory = 32
vcpus = 1
on_poweroff = "destroy"
on_reboot = "destroy"
on_crash = "destroy"
EOF
# on_crash = "preserve": the crashed translated domain stays in `xl list` for the checks.
# A guest's tests/guests/NAME.args may ask for more memory (--memory MiB), as for `xdbt run`.
for g in hello-bad pv32-crash grub-functest "${pv32_guests[@]}"; do
    mem=$(awk 'p { print; exit } $0 == "--memory" { p = 1 }' "$xen_root/tests/guests/$g.args" 2>/dev/null || true)
    cat >"$root/guests/$g.cfg" <<EOF
name = "$g"
type = "pv"
kernel = "/guests/$g"
memory = ${mem:-32}
vcpus = 1
on_crash = "preserve"
EOF
done
initrd=$boot/initramfs.cpio.gz
(cd "$root" && find . | cpio -o -H newc --quiet) | gzip -1 >"$initrd"
t_prep=$(($(date +%s) - t_prep))

# --- boot --------------------------------------------------------------------------------
serial=$boot/serial.log
timeout_s=${XDBT_BOOT_TIMEOUT:-600}
log "qemu: booting Xen + dom0 (TCG, -cpu qemu64, timeout ${timeout_s} s); serial log: $serial"
t_boot=$(date +%s)
: >"$serial"
timeout "$timeout_s" qemu-system-x86_64 -accel tcg -cpu qemu64 -smp 1 -m 2048 \
    -nographic -no-reboot \
    -kernel "$xen_img" \
    -append "console=com1 com1=115200,8n1 dom0_mem=512M loglvl=all guest_loglvl=all pv32-translate" \
    -initrd "$vmlinuz console=hvc0 quiet,$initrd" \
    </dev/null >"$serial" 2>&1 &
qemu_pid=$!
# Never leave QEMU behind (timeout passes the signal on to it).
trap 'kill "$qemu_pid" 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM
# dom0 reboots when done and QEMU exits (-no-reboot); stop it if it lingers.
done_at=
while kill -0 "$qemu_pid" 2>/dev/null; do
    if [ -z "$done_at" ] && grep -q "XDBT-BOOT-DONE" "$serial"; then
        done_at=$(date +%s)
    fi
    if [ -n "$done_at" ] && [ $(($(date +%s) - done_at)) -gt 30 ]; then
        log "qemu: still running 30 s after dom0 finished; stopping it"
        kill "$qemu_pid" 2>/dev/null || true
    fi
    sleep 1
done
qemu_rc=0
wait "$qemu_pid" || qemu_rc=$?
trap - EXIT INT TERM
t_boot=$(($(date +%s) - t_boot))
[ "$qemu_rc" -eq 124 ] && log "qemu: timed out after ${timeout_s} s"

# --- verdict -----------------------------------------------------------------------------
expected=(xen-booted toolstack xdbt-linked xl-info native-pv64-guest xl-list xl-unpause
    xl-pause xl-unpause-again xl-destroy pv32-create pv32-xl-list pv32-translated
    pv32-hello-verdict pv32-poweroff pv32-grub-functest xl-console pv32-xl-list-running pv32-xl-pause pv32-xl-unpause pv32-xl-shutdown
    pv32-xl-destroy-running native-pv64-beside-pv32 pv32-crashed
    xdbt-debug-key pv32-destroy pv32-malformed native-pv64-after-pv32 same-verdicts)
for g in "${verdict_guests[@]}"; do
    expected+=("pv32-$g-verdict")
done
# xen-patches/0009 adds the pv32-translate option.
grep -q 'pv32-translate' "$xen_root/xen-patches/series" "$xen_root"/xen-patches/*.patch &&
    expected+=(pv32-translate-option)
# xen-patches/0002 makes Xen advertise the PV32 capability.
for p in $(grep -v '^\s*\(#\|$\)' "$xen_root/xen-patches/series"); do
    if grep -q 'x86_32p' "$xen_root/xen-patches/$p"; then
        expected+=(xen-caps-x86_32p)
        break
    fi
done
markers=$(tr -d '\r' <"$serial" | grep -o 'XDBT-CHECK .*' || true)

# The same guests under `xdbt run` (with the extra arguments tests/pv_guests.rs gives them):
# each one's verdict line must be the one it printed in Xen.
log "xdbt run: the same PV32 guests, for their verdicts"
(cd "$xen_root" && cargo build --release -q --bin xdbt) || die "cannot build xdbt"
same=PASS
detail=
for g in "${pv32_guests[@]}"; do
    args=()
    [ -f "$xen_root/tests/guests/$g.args" ] && mapfile -t args <"$xen_root/tests/guests/$g.args"
    here=$("$xen_root/target/release/xdbt" run --timeout 20 "${args[@]}" "$gout/$g" </dev/null 2>/dev/null |
        grep -m1 "^XDBT-GUEST $g:" || true)
    there=$(tr -d '\r' <"$serial" | grep -m1 "^XDBT-VERDICT $g " | sed "s/^XDBT-VERDICT $g //" || true)
    if [ -n "$here" ] && [ "$here" = "$there" ]; then
        detail+="${detail:+, }$g '${here#XDBT-GUEST }'"
    else
        same=FAIL
        detail+="${detail:+, }$g: xdbt run '${here:-none}' vs Xen '${there:-none}'"
    fi
done
# GRUB's functional tests: the summary of its console output (ci/xen/grub-summary.awk).
here=$("$xen_root/target/release/xdbt" run --timeout 120 "$gout/grub-functest" </dev/null 2>/dev/null |
    awk -f "$xen_root/ci/xen/grub-summary.awk")
there=$(tr -d '\r' <"$serial" | grep -m1 "^XDBT-VERDICT grub-functest " | sed "s/^XDBT-VERDICT grub-functest //" || true)
if [ "$here" = "$there" ]; then
    detail+=", grub-functest '$here'"
else
    same=FAIL
    detail+=", grub-functest: xdbt run '$here' vs Xen '${there:-none}'"
fi
markers+=$'\n'"XDBT-CHECK same-verdicts $same $((${#pv32_guests[@]} + 1)) guests, xdbt run = Xen: $detail"
echo "== markers from the serial log"
echo "$markers"
tr -d '\r' <"$serial" | grep -o 'XDBT-INFO .*' || true
# (Here-strings rather than pipes into grep -q: with pipefail, grep's early exit can fail
# the pipe.)
failed=0
for c in "${expected[@]}"; do
    line=$(grep -m1 "^XDBT-CHECK $c " <<<"$markers" || true)
    case "$line" in
    "XDBT-CHECK $c PASS"*) ;;
    "") echo "missing: XDBT-CHECK $c" && failed=1 ;;
    *) failed=1 ;;
    esac
done
if grep -q '^XDBT-CHECK [^ ]* FAIL' <<<"$markers"; then failed=1; fi
grep -q "XDBT-BOOT-DONE" "$serial" || {
    echo "dom0 did not finish; the end of the serial log:"
    tr -d '\r' <"$serial" | tail -n 30
    failed=1
}

total=$(($(date +%s) - t0))
echo "== times: build ${t_build} s, dom0 initramfs + guest ${t_prep} s, boot + checks ${t_boot} s, total ${total} s"
passed=$(grep -c '^XDBT-CHECK [^ ]* PASS' <<<"$markers" || true)
nfailed=$(( ${#expected[@]} - passed ))
[ "$nfailed" -lt 0 ] && nfailed=0
[ "$failed" -eq 1 ] && [ "$nfailed" -eq 0 ] && nfailed=1
echo "xen-boot: ${passed} passed, ${nfailed} failed"
[ "$failed" -eq 0 ]
