#!/usr/bin/env bash
# Build the custom Xen image: Debian's Xen 4.17.5 source + xen-patches/ + the xdbt core as a
# Rust staticlib (src/xen/) linked into xen-syms. See docs/XEN.md.
#
# Outputs in build-cache/out/: xen (the multiboot image QEMU boots), xen.gz, xen-syms,
# xen.config, libxdbt_xen.a.
# Incremental: the patched tree and its objects are kept in build-cache/xen/ and reused
# while xen-patches/ is unchanged; cargo and make redo only what changed.
#
# Environment: XDBT_BUILD_CACHE (default build-cache/), XDBT_JOBS (default: nproc),
# XDBT_XEN_CONFIG=pv32 (a second Xen with CONFIG_PV32=y, in build-cache/xen-pv32/ and
# build-cache/out-pv32/; ci/xen/lib.sh).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

t0=$(date +%s)
jobs=${XDBT_JOBS:-$(nproc)}
out=$out_dir
mkdir -p "$out"

# --- host tools --------------------------------------------------------------------------
need_host_pkgs flex bison cpio make gcc binutils python3
rustup target list --installed 2>/dev/null | grep -x x86_64-unknown-none >/dev/null ||
    rustup target add x86_64-unknown-none
rustup component list --installed 2>/dev/null | grep "^rust-src" >/dev/null ||
    rustup component add rust-src

# --- Xen source --------------------------------------------------------------------------
srcdir=$cache/src
orig=$srcdir/xen_${XEN_UPSTREAM_VERSION}.orig.tar.xz
if [ ! -f "$orig" ]; then
    xapt_update
    mkdir -p "$srcdir"
    chmod 755 "$srcdir"
    log "xen: fetching Debian source xen=$XEN_DEB_VERSION"
    (cd "$srcdir" && xapt -qq source --download-only "xen=$XEN_DEB_VERSION") ||
        die "cannot fetch the Xen source package xen=$XEN_DEB_VERSION"
fi

# The upstream tarball, patched with xen-patches/ in series order. A change to the patches
# (or to this recipe) re-creates the tree, and with it the object tree.
patches=$xen_root/xen-patches
series=$(grep -v '^\s*\(#\|$\)' "$patches/series")
stamp_want=$( (echo "recipe 1 $XEN_DEB_VERSION ${XDBT_XEN_CONFIG:-defconfig}" && for p in $series; do sha256sum "$patches/$p"; done) | sha256sum | cut -d' ' -f1)
tree=$xen_dir/xen-$XEN_UPSTREAM_VERSION
if [ "$(cat "$xen_dir/patched" 2>/dev/null)" != "$stamp_want" ]; then
    log "xen: unpacking and patching a fresh tree"
    rm -rf "$xen_dir"
    mkdir -p "$xen_dir"
    tar -C "$xen_dir" -xf "$orig"
    for p in $series; do
        log "xen: applying $p"
        patch -d "$tree" -p1 --no-backup-if-mismatch -s <"$patches/$p" || die "patch $p does not apply"
    done
    echo "$stamp_want" >"$xen_dir/patched"
fi

# --- the xdbt staticlib ------------------------------------------------------------------
# Why each flag: docs/XEN.md ("How the core is linked into Xen").
t_rust=$(date +%s)
log "rust: building src/xen for x86_64-unknown-none"
rust_target=$cache/rust-target
(
    cd "$xen_root/src/xen"
    export RUSTC_BOOTSTRAP=1
    export CARGO_TARGET_DIR=$rust_target
    export RUSTFLAGS="-Z direct-access-external-data=yes -Z plt=yes -Z relax-elf-relocations=yes \
-Z cf-protection=branch -Z retpoline-external-thunk -Z function-return=thunk-extern \
-C jump-tables=no"
    nice -n 10 cargo build --release --target x86_64-unknown-none -Z build-std=core,alloc
) || die "the xdbt staticlib does not build (is the core building for x86_64-unknown-none?)"
lib=$rust_target/x86_64-unknown-none/release/libxdbt_xen.a
# Copy only when changed, so that make relinks only when the library did.
xdbt_lib=$xen_dir/libxdbt_xen.a
cmp -s "$lib" "$xdbt_lib" 2>/dev/null || cp "$lib" "$xdbt_lib"
t_rust=$(($(date +%s) - t_rust))

# --- Xen ---------------------------------------------------------------------------------
t_xen=$(date +%s)
xmake() {
    nice -n 10 make -C "$tree/xen" XEN_TARGET_ARCH=x86_64 XDBT_LIB="$xdbt_lib" "$@"
}
if [ ! -f "$tree/xen/.config" ]; then
    log "xen: defconfig"
    xmake defconfig >/dev/null
fi
grep -qx 'CONFIG_XDBT=y' "$tree/xen/.config" || die "defconfig did not enable CONFIG_XDBT"
if [ "${XDBT_XEN_CONFIG:-defconfig}" = pv32 ]; then
    if ! grep -qx 'CONFIG_PV32=y' "$tree/xen/.config"; then
        sed -i 's/^# CONFIG_PV32 is not set$/CONFIG_PV32=y/' "$tree/xen/.config"
        xmake olddefconfig >/dev/null
    fi
    grep -qx 'CONFIG_PV32=y' "$tree/xen/.config" || die "cannot turn CONFIG_PV32 on"
else
    grep -qx 'CONFIG_PV32=y' "$tree/xen/.config" && die "CONFIG_PV32 is on; xdbt is meant to run without it"
fi
log "xen: make -j$jobs"
xmake -j"$jobs" >"$xen_dir/build.log" 2>&1 || {
    tail -n 40 "$xen_dir/build.log" >&2
    die "the Xen build failed (full log: $xen_dir/build.log)"
}
t_xen=$(($(date +%s) - t_xen))

# (grep without -q: with pipefail, an early exit would fail the pipe on SIGPIPE.)
nm "$tree/xen/xen-syms" | grep ' T xdbt_xen_init$' >/dev/null || die "xdbt_xen_init is not in xen-syms"
for f in xen xen.gz xen-syms; do
    cp "$tree/xen/$f" "$out/$f"
done
cp "$tree/xen/.config" "$out/xen.config"
cp "$xdbt_lib" "$out/libxdbt_xen.a"

log "build: done in $(($(date +%s) - t0)) s (staticlib ${t_rust} s, Xen ${t_xen} s); outputs in $out"
