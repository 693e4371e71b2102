#!/usr/bin/env bash
# Install what a fresh Debian machine with only Rust and gcc lacks for xdbt's build and tests.
# Idempotent; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

need_pkgs=()
dpkg -s gcc-multilib >/dev/null 2>&1 || need_pkgs+=(gcc-multilib)
command -v qemu-i386 >/dev/null 2>&1 || need_pkgs+=(qemu-user)
dpkg -s libxen-dev >/dev/null 2>&1 || need_pkgs+=(libxen-dev)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    # Third-party apt sources may fail to refresh; Debian's own suffice.
    $SUDO apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

# Debian's i386 busybox, the real-world program the runner is tested with.
bash ci/fetch-busybox.sh

rustup component add rustfmt clippy >/dev/null 2>&1 || true
