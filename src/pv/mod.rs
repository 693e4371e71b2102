//! The PV32 ABI layer (docs: /work/shared/design/pv32-abi.md).

pub mod builder;
pub mod hypercall;
pub mod traps;
pub mod xenstore;
