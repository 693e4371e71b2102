#!/usr/bin/env bash
# The main job: install what is missing, build xdbt and our PV32 test guests, and boot the
# hello guest under `xdbt run` (no Xen involved).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
cargo build --release --bin xdbt
bash ci/build-guests.sh >/dev/null
exec target/release/xdbt run target/guests/hello "$@"
