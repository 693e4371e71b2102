//! xdbt core: an IA-32 dynamic binary translator and the Xen PV32 ABI behind it.
//!
//! The data path of one guest instruction runs through the modules in this order:
//! `frontend` (fetch + decode, the only user of `iced_x86::Decoder`) -> `backend::x64`
//! (host code templates, the only place `dynasm!` expands) -> `cache` (blocks, chaining,
//! indirect-branch table, invalidation) -> `engine` (run loop, exits) -> `pv` (the PV32 ABI)
//! -> the host (Xen, or the hosted runner in `hosted`).
//!
//! The crate is `no_std` + `alloc`; the `std` feature adds the hosted runner.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

pub mod backend;
pub mod cache;
pub mod cpu;
pub mod engine;
pub mod exit;
pub mod frontend;
pub mod interp;
pub mod mmu;
pub mod pv;

#[cfg(feature = "std")]
pub mod hosted;

pub use cpu::GuestCpu;
pub use exit::{Exit, Fault, Vector};
pub use mmu::{GuestAddr, GuestMemory, Prot};
