#!/usr/bin/env bash
# Build our PV32 test guests (tests/guests/*.c) into target/guests/.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/guests
mkdir -p "$out"
for src in tests/guests/*.c; do
    name=$(basename "$src" .c)
    gcc -m32 -ffreestanding -nostdlib -static -fno-pic -fno-stack-protector \
        -fcf-protection=none -O2 -Wall -Iguest-pv-headers \
        -Wl,-T,tests/guests/guest.ld -Wl,--build-id=none -Wl,--no-warn-rwx-segments \
        -Wa,--noexecstack -o "$out/$name" tests/guests/start.S "$src"
done
ls "$out"
