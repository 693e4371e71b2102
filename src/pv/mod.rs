//! The PV32 ABI layer (docs: /work/shared/design/pv32-abi.md): so far the start-of-day domain builder.

pub mod builder;
