#!/usr/bin/env bash
# Build PV32 test guests into target/guests/: every tests/guests/*.c, or the C files given
# as arguments (a guest is one C file plus tests/guests/start.S, linked by guest.ld).
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/guests
mkdir -p "$out"
if [ "$#" -eq 0 ]; then
    set -- tests/guests/*.c
fi
for src in "$@"; do
    name=$(basename "$src" .c)
    gcc -m32 -ffreestanding -nostdlib -static -fno-pic -fno-stack-protector \
        -fcf-protection=none -O2 -Wall -Iguest-pv-headers \
        -Wl,-T,tests/guests/guest.ld -Wl,--build-id=none -Wl,--no-warn-rwx-segments \
        -Wa,--noexecstack -o "$out/$name" tests/guests/start.S "$src"
done
ls "$out"
