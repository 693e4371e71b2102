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
passed=$(grep -Eo "^test result: ok\. [0-9]+ passed" target/test.log | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo "[0-9]+ failed" target/test.log | awk '{s+=$1} END {print s+0}')

echo "== done in $(( $(date +%s) - start )) s"
echo "${passed} passed, ${failed} failed"
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]
