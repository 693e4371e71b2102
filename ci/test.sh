#!/usr/bin/env bash
# The whole test suite: the command the README gives and .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

bash ci/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --all-targets -- -D warnings

echo "== cargo test (release: the differential run executes ${XDBT_DIFF_COUNT:=100000} random sequences)"
export XDBT_DIFF_COUNT
mkdir -p target
set +e
cargo test --release --workspace 2>&1 | tee target/test.log
rc=${PIPESTATUS[0]}
set -e
echo "== fuzz: translate arbitrary bytes (${XDBT_FUZZ_SECONDS:=60} s)"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked >/dev/null 2>&1
# cargo-fuzz needs -Z flags; RUSTC_BOOTSTRAP lets the stable toolchain take them.
set +e
(cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run translate -- -max_total_time="$XDBT_FUZZ_SECONDS" 2>&1 | tail -n 3)
frc=${PIPESTATUS[0]}
set -e
extra_failed=0
if [ "$frc" -ne 0 ]; then echo "fuzz: FAILED (see fuzz/artifacts/)"; rc=1; extra_failed=$((extra_failed + 1)); fi

echo "== Xen: build the patched Xen with the core linked in, boot it with dom0 under QEMU"
set +e
bash ci/xen/boot-test.sh 2>&1 | tee target/xen-boot.log | grep -E "XDBT-CHECK|XDBT-INFO|xen-boot:|error|FAIL" 
xrc=${PIPESTATUS[0]}
set -e
if [ "$xrc" -ne 0 ]; then echo "xen boot test: FAILED (target/xen-boot.log)"; rc=1; fi
xen_failed=$(grep -Eo "^xen-boot: [0-9]+ passed, [0-9]+ failed" target/xen-boot.log | awk '{print $4}')
if [ "$xrc" -ne 0 ] && [ "${xen_failed:-0}" -eq 0 ]; then xen_failed=1; fi
extra_failed=$((extra_failed + ${xen_failed:-0}))

echo "== Xen with CONFIG_PV32=y booted with pv32-translate: the same checks, translated anyway"
set +e
XDBT_XEN_CONFIG=pv32 bash ci/xen/boot-test.sh 2>&1 | tee target/xen-boot-pv32.log |
    grep -E "XDBT-CHECK .* FAIL|xen-boot:|error"
xrc=${PIPESTATUS[0]}
set -e
if [ "$xrc" -ne 0 ]; then echo "xen boot test (CONFIG_PV32=y): FAILED (target/xen-boot-pv32.log)"; rc=1; fi
xen_failed=$(grep -Eo "^xen-boot: [0-9]+ passed, [0-9]+ failed" target/xen-boot-pv32.log | awk '{print $4}')
if [ "$xrc" -ne 0 ] && [ "${xen_failed:-0}" -eq 0 ]; then xen_failed=1; fi
extra_failed=$((extra_failed + ${xen_failed:-0}))

passed=$(grep -Eo "^test result: ok\. [0-9]+ passed" target/test.log | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo "[0-9]+ failed" target/test.log | awk '{s+=$1} END {print s+0}')
xen_passed=$(cat target/xen-boot.log target/xen-boot-pv32.log |
    grep -Eo "^xen-boot: [0-9]+ passed" | awk '{s+=$2} END {print s+0}')
passed=$((passed + ${xen_passed:-0}))
failed=$((failed + extra_failed))

echo "== done in $(( $(date +%s) - start )) s"
echo "${passed} passed, ${failed} failed"
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]
