//! The PV32 ABI layer (docs: /work/shared/design/pv32-abi.md).

pub mod builder;
pub mod event;
pub mod far;
pub mod grant;
pub mod hypercall;
pub mod mm;
pub mod privop;
pub mod traps;
pub mod xenstore;
